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
}

export class RateLimitInputError extends Error {
  override readonly name = 'RateLimitInputError';
  readonly code = 'RATE_LIMIT_INPUT_INVALID' as const;
}

const PART = /^[^\s{}]{1,200}$/;

/** Redis key of a (scope, subject) log; the hash tag keeps it in one Redis Cluster slot. */
export function rateLimitKey(scope: string, subject: string): string {
  return `rl:{${scope}:${subject}}`;
}

export function createRedisRateLimiter(redis: Redis): RateLimiter {
  const instance = randomUUID().slice(0, 12);
  let counter = 0;
  return {
    async limit(scope, subject, limit, windowMs) {
      if (!PART.test(scope) || !PART.test(subject)) {
        throw new RateLimitInputError('scope and subject must be 1-200 characters without spaces or braces');
      }
      if (!Number.isInteger(limit) || limit < 0) throw new RateLimitInputError('limit must be an integer >= 0');
      if (!Number.isInteger(windowMs) || windowMs <= 0) throw new RateLimitInputError('windowMs must be a positive integer');
      counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
      const reply = (await script.run(redis, [rateLimitKey(scope, subject)], [limit, windowMs, `${instance}:${counter}`])) as number[];
      const [allowed, remaining, retryAfterMs] = reply.map(Number) as [number, number, number];
      return {
        allowed: allowed === 1,
        limit,
        remaining,
        retryAfterMs,
        retryAfterSeconds: allowed === 1 ? 0 : Math.ceil(retryAfterMs / 1000),
      };
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
  check(userId: string, tier: Tier): Promise<{ allowed: boolean; limit: number; remaining: number; retryAfterSeconds: number }>;
}

/** The per-user HTTP budget every gateway replica asks (the `RequestLimiter` port). */
export function createRedisRequestLimiter(redis: Redis, opts: RedisRequestLimiterOptions): TierRequestLimiter {
  const limiter = createRedisRateLimiter(redis);
  const scope = opts.scope ?? 'http';
  const windowMs = opts.windowMs ?? 60_000;
  return {
    async check(userId, tier) {
      const d = await limiter.limit(scope, userId, opts.perMinute[tier], windowMs);
      return { allowed: d.allowed, limit: d.limit, remaining: d.remaining, retryAfterSeconds: d.retryAfterSeconds };
    },
  };
}
