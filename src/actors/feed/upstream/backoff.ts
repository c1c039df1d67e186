// Reconnect delays: exponential from `initialMs`, capped at `maxMs`, each scaled by a random factor in 1 ± jitter.

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  /** 0.2 = ±20 %. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 500, maxMs: 30_000, jitter: 0.2 };

/** `ms` scaled by a uniform factor in [1 − jitter, 1 + jitter]. */
export function jittered(ms: number, jitter: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(ms * (1 - jitter + random() * 2 * jitter)));
}

/** Delay before reconnect attempt `attempt` (0-based): initial · 2^attempt, capped, then jittered. */
export function backoffDelay(attempt: number, s: BackoffSettings, random: () => number = Math.random): number {
  const base = Math.min(s.initialMs * 2 ** Math.min(attempt, 30), s.maxMs);
  return jittered(base, s.jitter, random);
}
