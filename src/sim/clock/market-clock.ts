// The simulator's market clock: NYSE sessions from the exchange's rules, or always open for demos; honours the shared offset.
import type { MarketClock, TradingSession } from './types.js';
import { exchangeDay, nextDate, type IsoDate } from './nyse-calendar.js';
import { newYorkDate, newYorkTime } from './new-york-time.js';

export interface MarketClockOptions {
  mode: 'nyse' | 'always-open';
  /** Shared clock offset in ms (CLOCK_OFFSET_MS): every role and the simulator agree on "now". */
  offsetMs: number;
  /** System time source; tests inject one. */
  systemNow?: () => number;
}

const SEARCH_DAYS = 15; // the longest NYSE closure stretch is far shorter

export function createMarketClock(opts: MarketClockOptions): MarketClock {
  const systemNow = opts.systemNow ?? Date.now;
  const now = () => new Date(systemNow() + opts.offsetMs);

  const session = (date: IsoDate): TradingSession | undefined => {
    if (opts.mode === 'always-open') {
      const open = newYorkTime(date, '00:00');
      const close = newYorkTime(nextDate(date), '00:00');
      return { date, open, close, sessionOpen: open, sessionClose: close };
    }
    const day = exchangeDay(date);
    if (!day) return undefined;
    return {
      date,
      open: newYorkTime(date, '09:30'),
      close: newYorkTime(date, day.kind === 'early' ? '13:00' : '16:00'),
      sessionOpen: newYorkTime(date, '04:00'),
      sessionClose: newYorkTime(date, '20:00'),
    };
  };

  /** First session (from the New York date of `at`) for which `pick` holds. */
  const findSession = (at: Date, pick: (s: TradingSession) => boolean): TradingSession => {
    let date = newYorkDate(at);
    for (let i = 0; i < SEARCH_DAYS; i++, date = nextDate(date)) {
      const s = session(date);
      if (s && pick(s)) return s;
    }
    throw new Error(`no trading session within ${SEARCH_DAYS} days of ${at.toISOString()}`);
  };

  return {
    now,
    isOpen(at = now()) {
      if (opts.mode === 'always-open') return true;
      const s = session(newYorkDate(at));
      return s !== undefined && at >= s.open && at < s.close;
    },
    session,
    calendar(start, end) {
      const out: TradingSession[] = [];
      for (let date = start; date <= end; date = nextDate(date)) {
        const s = session(date);
        if (s) out.push(s);
      }
      return out;
    },
    nextOpen(at = now()) {
      return findSession(at, (s) => s.open > at).open;
    },
    nextClose(at = now()) {
      return findSession(at, (s) => s.close > at).close;
    },
  };
}
