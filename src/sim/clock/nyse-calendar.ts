// NYSE trading days computed from the exchange's rules: weekends, holidays with their observance, early closes.

/** A calendar date as YYYY-MM-DD. */
export type IsoDate = string;

export interface ExchangeDay {
  date: IsoDate;
  /** 'full' = 09:30–16:00 ET; 'early' = 09:30–13:00 ET. */
  kind: 'full' | 'early';
}

const pad = (n: number) => String(n).padStart(2, '0');
export const isoDate = (y: number, m: number, d: number): IsoDate => `${y}-${pad(m)}-${pad(d)}`;

/** Day of week for a calendar date, 0 = Sunday (computed in UTC, which has no DST to trip over). */
export function weekday(y: number, m: number, d: number): number {
  return new Date(Date.UTC(y, m - 1, d)).getUTCDay();
}

function addDays(y: number, m: number, d: number, days: number): [number, number, number] {
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
}

/** The n-th (1-based) given weekday of a month; n = -1 means the last one. */
function nthWeekday(y: number, m: number, wd: number, n: number): IsoDate {
  if (n > 0) {
    const first = weekday(y, m, 1);
    return isoDate(y, m, 1 + ((wd - first + 7) % 7) + (n - 1) * 7);
  }
  const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const last = weekday(y, m, lastDay);
  return isoDate(y, m, lastDay - ((last - wd + 7) % 7));
}

/** Gregorian Easter Sunday (anonymous Gregorian algorithm). */
export function easterSunday(y: number): [number, number, number] {
  const a = y % 19;
  const b = Math.floor(y / 100);
  const c = y % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return [y, month, day];
}

/** Saturday holidays move to Friday, Sunday holidays to Monday (NYSE Rule 7.2). */
function observed(y: number, m: number, d: number): IsoDate {
  const wd = weekday(y, m, d);
  if (wd === 6) return isoDate(...addDays(y, m, d, -1));
  if (wd === 0) return isoDate(...addDays(y, m, d, 1));
  return isoDate(y, m, d);
}

/** Full-day NYSE holidays observed in year `y`. */
export function holidays(y: number): Set<IsoDate> {
  const set = new Set<IsoDate>();
  // New Year's Day: a Saturday New Year is not moved to Friday Dec 31 (year-end accounting).
  if (weekday(y, 1, 1) === 0) set.add(isoDate(y, 1, 2));
  else if (weekday(y, 1, 1) !== 6) set.add(isoDate(y, 1, 1));
  set.add(nthWeekday(y, 1, 1, 3)); // Martin Luther King Jr. Day
  set.add(nthWeekday(y, 2, 1, 3)); // Washington's Birthday
  set.add(isoDate(...addDays(...easterSunday(y), -2))); // Good Friday
  set.add(nthWeekday(y, 5, 1, -1)); // Memorial Day
  if (y >= 2022) set.add(observed(y, 6, 19)); // Juneteenth
  set.add(observed(y, 7, 4)); // Independence Day
  set.add(nthWeekday(y, 9, 1, 1)); // Labor Day
  set.add(nthWeekday(y, 11, 4, 4)); // Thanksgiving
  set.add(observed(y, 12, 25)); // Christmas
  return set;
}

/** 13:00 ET closes: July 3, the day after Thanksgiving, Christmas Eve — when they are trading days. */
export function earlyCloses(y: number): Set<IsoDate> {
  const thanksgiving = nthWeekday(y, 11, 4, 4);
  const [ty, tm, td] = thanksgiving.split('-').map(Number) as [number, number, number];
  return new Set([isoDate(y, 7, 3), isoDate(...addDays(ty, tm, td, 1)), isoDate(y, 12, 24)]);
}

const holidayCache = new Map<number, Set<IsoDate>>();
const earlyCache = new Map<number, Set<IsoDate>>();

/** The exchange day for a date, or undefined on weekends and holidays. */
export function exchangeDay(date: IsoDate): ExchangeDay | undefined {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wd = weekday(y, m, d);
  if (wd === 0 || wd === 6) return undefined;
  if (!holidayCache.has(y)) holidayCache.set(y, holidays(y));
  if (holidayCache.get(y)!.has(date)) return undefined;
  if (!earlyCache.has(y)) earlyCache.set(y, earlyCloses(y));
  return { date, kind: earlyCache.get(y)!.has(date) ? 'early' : 'full' };
}

export function nextDate(date: IsoDate, days = 1): IsoDate {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return isoDate(...addDays(y, m, d, days));
}
