// The exchange calendar as the upstream serves it (`GET /v2/calendar`): sessions with their open and close instants.
// Roles never compute market hours themselves; this only turns the upstream's New York wall times into UTC instants.
import { z } from 'zod';

const NEW_YORK = 'America/New_York';

const calendarEntrySchema = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  open: z.string().regex(/^\d{2}:\d{2}$/),
  close: z.string().regex(/^\d{2}:\d{2}$/),
});

export interface MarketSession {
  /** Exchange trading day (America/New_York date). */
  date: string;
  openAt: Date;
  closeAt: Date;
}

export type MarketCalendarErrorCode = 'calendar_unavailable' | 'calendar_invalid';

export class MarketCalendarError extends Error {
  override readonly name = 'MarketCalendarError';
  constructor(
    readonly code: MarketCalendarErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface MarketCalendarOptions {
  tradingUrl: string;
  /** Read on every request (the key files rotate without a redeploy). */
  credentials(): { keyId: string; secret: string };
  timeoutMs?: number;
}

export interface MarketCalendar {
  /** Sessions whose date lies in [start, end] (inclusive, YYYY-MM-DD), in date order. */
  sessions(start: string, end: string): Promise<MarketSession[]>;
}

export function createMarketCalendar(opts: MarketCalendarOptions): MarketCalendar {
  const base = opts.tradingUrl.replace(/\/+$/, '');
  return {
    async sessions(start, end) {
      const { keyId, secret } = opts.credentials();
      const url = `${base}/v2/calendar?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`;
      let res: Response;
      try {
        res = await fetch(url, {
          headers: { 'APCA-API-KEY-ID': keyId, 'APCA-API-SECRET-KEY': secret, accept: 'application/json' },
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        });
      } catch (err) {
        throw new MarketCalendarError('calendar_unavailable', `the calendar could not be fetched: ${(err as Error).name}`, { cause: err });
      }
      if (!res.ok) throw new MarketCalendarError('calendar_unavailable', `the calendar answered HTTP ${res.status}`);
      const parsed = z.array(calendarEntrySchema).safeParse(await res.json().catch(() => undefined));
      if (!parsed.success) throw new MarketCalendarError('calendar_invalid', 'the calendar answer is not a list of sessions');
      return parsed.data
        .filter((s) => s.date >= start && s.date <= end)
        .map((s) => {
          const openAt = newYorkWallTime(s.date, s.open);
          let closeAt = newYorkWallTime(s.date, s.close);
          // A close at or before the open ends the session on the next calendar day (e.g. "00:00" of a 24-hour session).
          if (closeAt.getTime() <= openAt.getTime()) closeAt = newYorkWallTime(nextDay(s.date), s.close);
          return { date: s.date, openAt, closeAt };
        })
        .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    },
  };
}

const parts = new Intl.DateTimeFormat('en-US', {
  timeZone: NEW_YORK,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** New York's UTC offset at instant `t` (local minus UTC, ms). */
function newYorkOffsetMs(t: number): number {
  const p = Object.fromEntries(parts.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const local = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return local - Math.floor(t / 1000) * 1000;
}

/** `compute` remembered per key (at most 10,000 kept, then forgotten all at once): for Intl formatting, which is slow. */
function memoised<K, V>(compute: (key: K) => V): (key: K) => V {
  const known = new Map<K, V>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) {
      if (known.size >= 10_000) known.clear();
      value = compute(key);
      known.set(key, value);
    }
    return value;
  };
}

// The engines ask for the same few sessions' boundaries on every catch-up.
const wallTimes = memoised((key: string) => {
  const [date, hhmm] = key.split(' ') as [string, string];
  return computeWallTime(date, hhmm);
});

/** The instant at which New York's wall clock shows `date` `hhmm` (exchange hours never fall in a DST gap). */
export function newYorkWallTime(date: string, hhmm: string): Date {
  return new Date(wallTimes(`${date} ${hhmm}`));
}

function computeWallTime(date: string, hhmm: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi] = hhmm.split(':').map(Number) as [number, number];
  const asUtc = Date.UTC(y, m - 1, d, h, mi);
  let t = asUtc - newYorkOffsetMs(asUtc);
  const second = newYorkOffsetMs(t);
  if (asUtc - second !== t) t = asUtc - second;
  return t;
}

// Per UTC hour: New York's offset is a whole number of hours and changes only on the hour, so its date is the same
// for every instant of one UTC hour. The engines ask on every quote.
const dateOfHour = memoised((hour: number) => {
  const p = Object.fromEntries(parts.formatToParts(new Date(hour * 3_600_000)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
});

/** The America/New_York calendar date of instant `t` (YYYY-MM-DD). */
export function newYorkDate(t: number): string {
  return dateOfHour(Math.floor(t / 3_600_000));
}

function nextDay(date: string): string {
  return addDays(date, 1);
}

/** `date` plus `days` calendar days (YYYY-MM-DD arithmetic in UTC, no time zone involved). */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}
