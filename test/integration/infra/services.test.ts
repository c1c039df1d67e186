// The test services are real: Redis answers PING and PostgreSQL is version 15.
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { testRedisUrl } from '../../support/redis.js';

describe('test services', () => {
  it('Redis is a real server', async () => {
    const redis = new Redis(testRedisUrl('services'));
    try {
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.info('server')).toMatch(/redis_version:7\./);
    } finally {
      redis.disconnect();
    }
  });

  it('PostgreSQL is a real 15.x server', async () => {
    const sql = postgres(process.env.RAXX_TEST_PG_ADMIN_URL!, { max: 1 });
    try {
      const [row] = await sql<{ server_version_num: string }[]>`show server_version_num`;
      expect(Number(row!.server_version_num)).toBeGreaterThanOrEqual(150000);
      expect(Number(row!.server_version_num)).toBeLessThan(160000);
    } finally {
      await sql.end();
    }
  });
});
