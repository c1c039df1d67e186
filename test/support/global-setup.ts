// Vitest global setup: use the Redis/PostgreSQL that .ci/run started, or start throw-away ones on free ports.
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_REDIS_DATABASES } from './redis.js';
import { freePort, startPostgres, startRedis, type LocalPostgres, type LocalRedis } from '../../src/devstack/index.js';

export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.RAXX_TEST_PG_ADMIN_URL && process.env.RAXX_TEST_REDIS_URL) return async () => {};

  const dir = mkdtempSync(join(tmpdir(), 'raxx-test-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as `postgres` and must enter it
  const log = (line: string) => process.stderr.write(`[test services] ${line}\n`);
  const [redisResult, pgResult] = await Promise.allSettled([
    startRedis({ port: await freePort(), dir: join(dir, 'redis'), persistent: false, databases: TEST_REDIS_DATABASES, log }),
    startPostgres({ port: await freePort(), dir: join(dir, 'postgres'), durable: false, log }),
  ]);
  const stopAll = async () => {
    await Promise.allSettled([
      redisResult.status === 'fulfilled' ? redisResult.value.stop() : undefined,
      pgResult.status === 'fulfilled' ? pgResult.value.stop() : undefined,
    ]);
    rmSync(dir, { recursive: true, force: true });
  };
  if (redisResult.status === 'rejected' || pgResult.status === 'rejected') {
    await stopAll();
    throw redisResult.status === 'rejected' ? redisResult.reason : (pgResult as PromiseRejectedResult).reason;
  }
  const redis: LocalRedis = redisResult.value;
  const pg: LocalPostgres = pgResult.value;
  process.env.RAXX_TEST_REDIS_URL = redis.url;
  process.env.RAXX_TEST_PG_ADMIN_URL = pg.adminUrl;
  return stopAll;
}
