// Converts between UTC instants and America/New_York wall time (DST handled by the platform's time-zone data).
import type { IsoDate } from './nyse-calendar.js';

const parts = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

function wallClock(at: Date): { y: number; m: number; d: number; h: number; min: number; s: number } {
  const p = Object.fromEntries(parts.formatToParts(at).map((x) => [x.type, x.value]));
  return { y: Number(p.year), m: Number(p.month), d: Number(p.day), h: Number(p.hour), min: Number(p.minute), s: Number(p.second) };
}

/** The New York calendar date of an instant. */
export function newYorkDate(at: Date): IsoDate {
  const w = wallClock(at);
  return `${w.y}-${String(w.m).padStart(2, '0')}-${String(w.d).padStart(2, '0')}`;
}

/** The UTC instant of a New York wall time on a date ("HH:MM"). */
export function newYorkTime(date: IsoDate, hhmm: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [h, min] = hhmm.split(':').map(Number) as [number, number];
  const asUtc = Date.UTC(y, m - 1, d, h, min);
  // New York is UTC-5 or UTC-4: try both offsets and keep the one whose wall clock matches.
  for (const offsetHours of [4, 5]) {
    const candidate = new Date(asUtc + offsetHours * 3_600_000);
    const w = wallClock(candidate);
    if (w.h === h && w.min === min && w.d === d) return candidate;
  }
  return new Date(asUtc + 5 * 3_600_000);
}
