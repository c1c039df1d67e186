// Session clock events for the engine, from the upstream's market calendar (the engine never computes the calendar):
// the events an account's engine missed up to "now" are stepped before its next input.
import type { mbt } from '../../../domain/index.js';
import { addDays, newYorkDate, newYorkWallTime, type MarketCalendar, type MarketSession } from '../../../infra/alpaca/market-calendar.js';

/** Extended hours end four hours after the regular close (20:00 ET, 17:00 on an early-close day). */
const EXTENDED_AFTER_CLOSE_MS = 4 * 3600_000;

/** The four clock events of one session, in time order; pre_open and regular_open announce the day's closes. */
export function clockEventsOf(s: MarketSession): mbt.ClockInput[] {
  const regularCloseTs = s.closeAt.getTime();
  const extendedCloseTs = regularCloseTs + EXTENDED_AFTER_CLOSE_MS;
  const closes = { regularCloseTs, extendedCloseTs };
  return [
    { type: 'clock', event: 'pre_open', day: s.date, ts: newYorkWallTime(s.date, '04:00').getTime(), ...closes },
    { type: 'clock', event: 'regular_open', day: s.date, ts: s.openAt.getTime(), ...closes },
    { type: 'clock', event: 'regular_close', day: s.date, ts: regularCloseTs },
    { type: 'clock', event: 'extended_close', day: s.date, ts: extendedCloseTs },
  ];
}

/**
 * The clock inputs an engine whose last clock event was at `since` (0 = never) must see before an input at `now`:
 * every event in (since, now]. A fresh engine starts with the current (latest begun) session only.
 */
export function clockInputsBetween(sessions: readonly MarketSession[], since: number, now: number): mbt.ClockInput[] {
  const events = sessions.flatMap(clockEventsOf).filter((e) => e.ts <= now);
  if (since > 0) return events.filter((e) => e.ts > since);
  const last = events.at(-1);
  return last ? events.filter((e) => e.day === last.day) : [];
}

/** The sessions around now, cached: fetched again when the cached range no longer brackets today, or after ttlMs. */
export interface SessionCache {
  /** Sessions from about ten days back to a few days ahead; null while the calendar cannot be read. */
  around(now: number): Promise<readonly MarketSession[] | null>;
}

const LOOKBACK_DAYS = 10;
const LOOKAHEAD_DAYS = 4;

export function createSessionCache(calendar: MarketCalendar, opts: { ttlMs?: number; onError?: (err: unknown) => void } = {}): SessionCache {
  const ttlMs = opts.ttlMs ?? 3600_000;
  let cached: { day: string; at: number; sessions: readonly MarketSession[] } | null = null;
  let inflight: Promise<readonly MarketSession[] | null> | null = null;
  return {
    async around(now) {
      const day = newYorkDate(now);
      if (cached && cached.day === day && now - cached.at < ttlMs) return cached.sessions;
      inflight ??= calendar
        .sessions(addDays(day, -LOOKBACK_DAYS), addDays(day, LOOKAHEAD_DAYS))
        .then((sessions) => {
          cached = { day, at: now, sessions };
          return sessions;
        })
        .catch((err: unknown) => {
          opts.onError?.(err);
          return cached?.sessions ?? null; // keep stepping on what we knew rather than stalling every turn
        })
        .finally(() => {
          inflight = null;
        });
      return inflight;
    },
  };
}
