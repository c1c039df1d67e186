// The per-user HTTP request budget every gateway surface asks before serving (one limiter shared across replicas).
import type { Tier } from '../../domain/index.js';

export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the next request would be allowed (for `Retry-After`); 0 when allowed. */
  retryAfterSeconds: number;
  /** Which budget refused (`limit` and `retryAfterSeconds` are that one's): the request budget, or the extra one. */
  refusedBy?: 'request' | 'extra';
}

/** Another budget of the same user (e.g. the command budget), counted in the same call as the request budget. */
export interface ExtraBudget {
  scope: string;
  limit: number;
  windowMs: number;
}

export interface RequestLimiter {
  /**
   * Counts one request of `userId` against the budget of `tier` (Free 60/min, Pro 600/min, Pro+ 3,000/min). With
   * `extra`, the same request also counts against that budget — after the request budget and only when it allowed,
   * as two calls would, but in one round trip.
   */
  check(userId: string, tier: Tier, extra?: ExtraBudget): Promise<LimitDecision>;
}

/** For tests and tools that must not be limited (by any budget, the extra one too). */
export const unlimited: RequestLimiter = {
  check: async () => ({ allowed: true, limit: Number.MAX_SAFE_INTEGER, remaining: Number.MAX_SAFE_INTEGER, retryAfterSeconds: 0 }),
};
