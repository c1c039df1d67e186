// Alpaca's per-account request budget: a fixed window per key, reported in X-RateLimit-* headers.

export interface RateLimitOptions {
  /** Requests allowed per window per key (Alpaca: 200). */
  limit?: number;
  /** Window length in ms (Alpaca: one minute). */
  windowMs?: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  headers: Record<string, string>;
}

export interface RateLimiter {
  take(key: string, nowMs: number): RateLimitDecision;
  reset(): void;
}

export function createRateLimiter(options: RateLimitOptions = {}): RateLimiter {
  const limit = options.limit ?? 200;
  const windowMs = options.windowMs ?? 60_000;
  const windows = new Map<string, { start: number; count: number }>();
  return {
    take(key, nowMs) {
      let w = windows.get(key);
      if (!w || nowMs >= w.start + windowMs) {
        w = { start: nowMs, count: 0 };
        windows.set(key, w);
      }
      w.count += 1;
      const allowed = w.count <= limit;
      return {
        allowed,
        headers: {
          'X-RateLimit-Limit': String(limit),
          'X-RateLimit-Remaining': String(Math.max(0, limit - w.count)),
          'X-RateLimit-Reset': String(Math.ceil((w.start + windowMs) / 1000)),
        },
      };
    },
    reset() {
      windows.clear();
    },
  };
}
