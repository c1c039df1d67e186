// The readiness checks most roles share: Redis answers PING, PostgreSQL answers a query.
import type { ReadinessCheck } from '../../infra/http/index.js';
import type { DbHandle } from '../../infra/db/index.js';
import type { Redis } from '../../infra/redis/index.js';

export function storageChecks(redis: Redis, db: DbHandle): Record<'redis' | 'postgres', ReadinessCheck> {
  return {
    redis: async () => {
      if ((await redis.ping()) !== 'PONG') throw new Error('unexpected PING reply');
    },
    postgres: async () => {
      await db.sql`select 1`;
    },
  };
}
