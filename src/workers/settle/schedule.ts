// Which session closes the scheduled settle check fans out: pure, so the catch-up rule is tested without I/O.

export interface SessionClose {
  /** Trading day, YYYY-MM-DD. */
  date: string;
  closeAt: Date;
}

/**
 * The sessions to fan out now, oldest first: every session after the watermark whose close has passed (catch-up
 * after missed closes, in order, so the watermark can advance one day at a time). Without a watermark (first run of
 * a deployment) only the latest passed close: settling history nobody scheduled would be a surprise, not a catch-up.
 */
export function sessionsToFanOut(sessions: readonly SessionClose[], watermark: string | null, nowMs: number): SessionClose[] {
  const due = sessions
    .filter((s) => s.closeAt.getTime() <= nowMs && (watermark === null || s.date > watermark))
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  return watermark === null ? due.slice(-1) : due;
}

/** How many calendar days the first-ever check looks back for the latest passed close (covers long weekends). */
export const FIRST_RUN_LOOKBACK_DAYS = 10;
