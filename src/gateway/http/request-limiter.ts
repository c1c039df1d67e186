// The per-user HTTP request budget every gateway surface asks before serving (one limiter shared across replicas).
import type { Tier } from '../../domain/index.js';

export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the next request would be allowed (for `Retry-After`); 0 when allowed. */
  retryAfterSeconds: number;
}

export interface RequestLimiter {
  /** Counts one request of `userId` against the budget of `tier` (Free 60/min, Pro 600/min, Pro+ 3,000/min). */
  check(userId: string, tier: Tier): Promise<LimitDecision>;
}

/** For tests and tools that must not be limited. */
export const unlimited: RequestLimiter = {
  check: async () => ({ allowed: true, limit: Number.MAX_SAFE_INTEGER, remaining: Number.MAX_SAFE_INTEGER, retryAfterSeconds: 0 }),
};
