// Loads a Lua script once per connection (EVALSHA, falling back to EVAL on NOSCRIPT) without touching the client.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type LuaArg = string | number | Buffer;

/**
 * One Lua script. `run` sends EVALSHA; on NOSCRIPT (first use, Redis restart, failover, SCRIPT FLUSH) it sends
 * SCRIPT LOAD + EVALSHA again. Nothing is registered on the Redis client, so two modules can share a connection.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly LuaArg[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      await redis.script('LOAD', this.source);
      return redis.evalsha(this.sha, keys.length, ...keys, ...args);
    }
  }
}
