// Wire formatting for the simulated trading API: Alpaca sends money and quantities as decimal strings.
import { createHash } from 'node:crypto';

/** A number as Alpaca's decimal string: no exponent, no trailing zeros ("150.1", "100000", "0.5"). */
export function dec(n: number, dp = 9): string {
  if (!Number.isFinite(n)) return '0';
  let s = n.toFixed(dp);
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

export function decOrNull(n: number | undefined, dp = 9): string | null {
  return n === undefined ? null : dec(n, dp);
}

export function round(n: number, dp: number): number {
  const f = 10 ** dp;
  return Math.round(n * f) / f;
}

/** A stable UUID-shaped id for a name (asset ids, account ids): the same symbol always gets the same id. */
export function stableUuid(namespace: string, name: string): string {
  const h = createHash('sha1').update(`${namespace}:${name}`).digest('hex');
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function iso(d: Date | undefined): string | null {
  return d === undefined ? null : d.toISOString();
}

const nyParts = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hour12: false,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
});

/** Exchange-local date (YYYY-MM-DD) and wall time (HH:MM) of an instant. */
export function newYork(d: Date): { date: string; hh: string; mm: string } {
  const parts: Record<string, string> = {};
  for (const p of nyParts.formatToParts(d)) parts[p.type] = p.value;
  const hh = parts.hour === '24' ? '00' : (parts.hour ?? '00');
  return { date: `${parts.year}-${parts.month}-${parts.day}`, hh, mm: parts.minute ?? '00' };
}

/** Parses an Alpaca amount sent as a string or a JSON number; undefined when absent, NaN when malformed. */
export function parseAmount(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)\s*$/.test(v)) return Number(v);
  return Number.NaN;
}

/** Alpaca's minimum price increment: two decimals at or above $1.00, four below. */
export function isSubPenny(price: number): boolean {
  const dp = price >= 1 ? 2 : 4;
  const f = 10 ** dp;
  return Math.abs(price * f - Math.round(price * f)) > 1e-6;
}
