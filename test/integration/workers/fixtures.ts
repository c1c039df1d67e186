// Shared setup of the workers tests: users with paper accounts (seeded as the superuser, backdated as needed), the
// settle envelopes found in the command partitions, and the simulator's calendar.
import { SignJWT } from 'jose';
import type postgres from 'postgres';
import type { Redis } from 'ioredis';
import { ENVELOPE_FIELD, envelopeSchema, runtimeKeys, type Envelope } from '../../../src/runtime/index.js';

/** Redis DB of the workers tests (shared with another suite: everything here uses unique user ids and queue prefixes). */
export const WORKERS_REDIS_DB = 'workers' as const;

export interface SeedUser {
  id: string;
  tier?: 'free' | 'pro' | 'pro_plus';
  role?: 'user' | 'operator';
  accountCreatedAt?: Date;
  accountStatus?: 'active' | 'suspended' | 'closed';
  /** No paper account at all. */
  noAccount?: boolean;
}

export async function seedUsers(su: postgres.Sql, list: SeedUser[]): Promise<Map<string, string>> {
  const accounts = new Map<string, string>();
  for (let i = 0; i < list.length; i += 500) {
    const chunk = list.slice(i, i + 500);
    await su`insert into users ${su(chunk.map((u) => ({ id: u.id, tier: u.tier ?? 'free', role: u.role ?? 'user' })))}`;
    const withAccount = chunk.filter((u) => !u.noAccount);
    if (withAccount.length === 0) continue;
    const rows = await su<{ id: string; user_id: string }[]>`
      insert into paper_accounts ${su(
        withAccount.map((u) => ({
          user_id: u.id,
          cash: '100000',
          status: u.accountStatus ?? 'active',
          created_at: u.accountCreatedAt ?? new Date(Date.now() - 60 * 86_400_000),
        })),
      )} returning id, user_id`;
    for (const r of rows) accounts.set(r.user_id, r.id);
  }
  return accounts;
}

/** Every `mbt.settle` envelope of the given users, with the partition stream it was found in. */
export function settleEnvelopes(redis: Redis, partitions: number, userIds: ReadonlySet<string>): Promise<Array<Envelope & { partition: number }>> {
  return commandEnvelopes(redis, partitions, 'mbt.settle', userIds);
}

/** Every envelope of `type` for the given users, in stream order per partition, with the partition it was found in. */
export async function commandEnvelopes(redis: Redis, partitions: number, type: string, userIds: ReadonlySet<string>): Promise<Array<Envelope & { partition: number }>> {
  const found: Array<Envelope & { partition: number }> = [];
  for (let p = 0; p < partitions; p++) {
    const entries = await redis.xrange(runtimeKeys.stream(p), '-', '+');
    for (const [, fields] of entries) {
      const i = fields.indexOf(ENVELOPE_FIELD);
      if (i < 0) continue;
      const parsed = envelopeSchema.safeParse(JSON.parse(fields[i + 1]!));
      if (parsed.success && parsed.data.type === type && userIds.has(parsed.data.userId)) found.push({ ...parsed.data, partition: p });
    }
  }
  return found;
}

export const SIM_KEY = { keyId: 'raxx-dev-key', secret: 'raxx-dev-secret' };

/** A session token of the dev issuer (HS256) for `sub` with `role`, as the workers' operator guard checks it. */
export function sessionToken(secret: string, sub: string, role: 'user' | 'operator'): Promise<string> {
  return new SignJWT({ role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer('raxx-dev-issuer')
    .setAudience('raxx-stream')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
}

/** The environment of a workers role process on the test services and the simulator's calendar. */
export function workersRoleEnv(o: { redisUrl: string; appUrl: string; batchUrl: string; simUrl: string; jwtSecret: string; partitions: number; prefix: string }): Record<string, string> {
  return {
    RAXX_ENV: 'test',
    REDIS_URL: o.redisUrl,
    DATABASE_URL: o.appUrl,
    DATABASE_BATCH_URL: o.batchUrl,
    ALPACA_TRADING_URL: o.simUrl,
    ALPACA_KEY_ID: SIM_KEY.keyId,
    ALPACA_SECRET_KEY: SIM_KEY.secret,
    SESSION_JWT_SECRET: o.jwtSecret,
    ACCOUNTS_PARTITIONS: String(o.partitions),
    WORKERS_QUEUE_PREFIX: o.prefix,
  };
}
