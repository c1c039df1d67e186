// A rate limiter shared across replicas: one Lua script on Redis keeps a sliding-window log per (scope, subject).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Tier } from '../../domain/index.js';
import { LuaScript } from '../market-data/lua.js';
import { slidingWindowLua } from './sliding-window.lua.js';

const script = new LuaScript('rate-limit-sliding-window', slidingWindowLua);

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Requests still allowed in the current window after this one. */
  remaining: number;
  /** Milliseconds until a refused request would be allowed; 0 when allowed. */
  retryAfterMs: number;
  /** `retryAfterMs` rounded up to whole seconds (for `Retry-After`); 0 when allowed. */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  /**
   * Counts one request of `subject` (a user id, an API key id, an IP) on `scope` (`http`, `paper-api`, …) against
   * `limit` requests per `windowMs`, across every process that shares the Redis. Throws when Redis fails.
   */
  limit(scope: string, subject: string, limit: number, windowMs: number): Promise<RateDecision>;
  /**
   * Several budgets of one subject in ONE atomic call (one round trip), checked in order as separate `limit` calls
   * would be: each that allows the request counts it, the first that refuses stops the rest. Returns that first
   * refusal's decision (with its index), or the last budget's when all allowed, plus every budget's own.
   */
  limitAll(subject: string, budgets: readonly Budget[]): Promise<MultiRateDecision>;
}

/** One budget of a subject: `limit` requests per `windowMs` on `scope`. */
export interface Budget {
  scope: string;
  limit: number;
  windowMs: number;
}

export interface MultiRateDecision extends RateDecision {
  /** Index in `budgets` of the budget that refused; null when every one allowed. */
  refusedBy: number | null;
  /** Per budget: allowed and remaining as it saw the request (one after a refusal: not asked, remaining -1). */
  budgets: RateDecision[];
}

export class RateLimitInputError extends Error {
  override readonly name = 'RateLimitInputError';
  readonly code = 'RATE_LIMIT_INPUT_INVALID' as const;
}

const PART = /^[^\s{}]{1,200}$/;

/** Redis key of a (scope, subject) log; the hash tag is the subject, so one subject's budgets share a Redis Cluster slot. */
export function rateLimitKey(scope: string, subject: string): string {
  return `rl:{${subject}}:${scope}`;
}

export function createRedisRateLimiter(redis: Redis): RateLimiter {
  const instance = randomUUID().slice(0, 12);
  let counter = 0;
  async function limitAll(subject: string, budgets: readonly Budget[]): Promise<MultiRateDecision> {
    if (budgets.length === 0) throw new RateLimitInputError('at least one budget');
    if (!PART.test(subject) || budgets.some((b) => !PART.test(b.scope))) {
      throw new RateLimitInputError('scope and subject must be 1-200 characters without spaces or braces');
    }
    for (const b of budgets) {
      if (!Number.isInteger(b.limit) || b.limit < 0) throw new RateLimitInputError('limit must be an integer >= 0');
      if (!Number.isInteger(b.windowMs) || b.windowMs <= 0) throw new RateLimitInputError('windowMs must be a positive integer');
    }
    counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
    const reply = (await script.run(
      redis,
      budgets.map((b) => rateLimitKey(b.scope, subject)),
      [`${instance}:${counter}`, ...budgets.flatMap((b) => [b.limit, b.windowMs])],
    )) as number[];
    const [allowed, refused, retryAfterMs, ...remaining] = reply.map(Number) as [number, number, number, ...number[]];
    const refusedBy = allowed === 1 ? null : refused - 1;
    const each = budgets.map((b, i): RateDecision => {
      const refusing = i === refusedBy;
      return { allowed: refusedBy === null || i < refusedBy, limit: b.limit, remaining: remaining[i] ?? -1, retryAfterMs: refusing ? retryAfterMs : 0, retryAfterSeconds: refusing ? Math.ceil(retryAfterMs / 1000) : 0 };
    });
    return { ...each[refusedBy ?? budgets.length - 1]!, allowed: refusedBy === null, refusedBy, budgets: each };
  }
  return {
    limitAll,
    async limit(scope, subject, limit, windowMs) {
      const { refusedBy: _r, budgets: _b, ...d } = await limitAll(subject, [{ scope, limit, windowMs }]);
      return d;
    },
  };
}

export interface RedisRequestLimiterOptions {
  /** Requests per minute by tier: pass `httpRequestsPerMinute` (Free 60, Pro 600, Pro+ 3,000). */
  perMinute: Readonly<Record<Tier, number>>;
  /** Scope of the budget (default `http`): surfaces with their own budget pass another. */
  scope?: string;
  /** Default 60,000. */
  windowMs?: number;
}

/** Structural twin of the gateway's `RequestLimiter` port (src/gateway/http/request-limiter.ts). */
export interface TierRequestLimiter {
  check(
    userId: string,
    tier: Tier,
    extra?: Budget,
  ): Promise<{ allowed: boolean; limit: number; remaining: number; retryAfterSeconds: number; refusedBy?: 'request' | 'extra' }>;
}

/** The per-user HTTP budget every gateway replica asks (the `RequestLimiter` port), with an extra budget in the same call. */
export function createRedisRequestLimiter(redis: Redis, opts: RedisRequestLimiterOptions): TierRequestLimiter {
  const limiter = createRedisRateLimiter(redis);
  const scope = opts.scope ?? 'http';
  const windowMs = opts.windowMs ?? 60_000;
  return {
    async check(userId, tier, extra) {
      const http = { scope, limit: opts.perMinute[tier], windowMs };
      const d = await limiter.limitAll(userId, extra ? [http, extra] : [http]);
      return {
        allowed: d.allowed,
        limit: d.limit,
        remaining: d.remaining,
        retryAfterSeconds: d.retryAfterSeconds,
        ...(d.refusedBy === null ? {} : { refusedBy: d.refusedBy === 0 ? ('request' as const) : ('extra' as const) }),
      };
    },
  };
}
