// Creates ioredis connections with the options every role needs (BullMQ requires maxRetriesPerRequest: null).
import { Redis } from 'ioredis';

export type { Redis } from 'ioredis';

export interface CreateRedisOptions {
  /** ioredis auto-pipelining: commands issued in the same tick go out in one write (fewer syscalls under load). */
  autoPipelining?: boolean;
}

export function createRedis(url: string, connectionName: string, opts: CreateRedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName,
    enableAutoPipelining: opts.autoPipelining ?? false,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    // Reconnect forever with a capped backoff: a Redis restart must not kill a role.
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
  });
}

/** Closes a connection without throwing if it is already closed. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
