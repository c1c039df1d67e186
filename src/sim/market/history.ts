// Random-access synthetic history: a symbol's price at any instant is a pure function of (seed, symbol, time),
// so any past range of bars is reproducible without replaying the market (REST bars with paging build on it).
import type { Nanos, SimBar } from './types.js';
import type { MarketClock } from '../clock/types.js';
import { hashInts, hashString, unit } from './prng.js';
import { NS_PER_MS } from './time.js';

const MINUTE_MS = 60_000;
// Value-noise octaves: [period in minutes, amplitude of log-price]. Long periods give trends, short ones jitter.
const OCTAVES: ReadonlyArray<readonly [number, number]> = [
  [43_200, 0.22], [7_200, 0.07], [1_440, 0.03], [120, 0.012], [15, 0.004], [3, 0.0015],
];

export function symbolSeed(seed: number, symbol: string): number {
  return hashInts(seed, hashString(symbol));
}

function noise(x: number, sSeed: number, octave: number): number {
  const i = Math.floor(x);
  const f = x - i;
  const a = unit(hashInts(sSeed, octave, i)) * 2 - 1;
  const b = unit(hashInts(sSeed, octave, i + 1)) * 2 - 1;
  const s = f * f * (3 - 2 * f);
  return a + (b - a) * s;
}

/** The synthetic price of a symbol at `ms` (epoch ms), rounded to the cent (or 1/100 cent below $1). */
export function historicalPrice(sSeed: number, basePrice: number, ms: number): number {
  const m = ms / MINUTE_MS;
  let logP = Math.log(basePrice);
  for (let k = 0; k < OCTAVES.length; k++) {
    const [period, amp] = OCTAVES[k] as readonly [number, number];
    logP += amp * noise(m / period, sSeed, k);
  }
  return roundPrice(Math.exp(logP));
}

export function roundPrice(p: number): number {
  return p >= 1 ? Math.round(p * 100) / 100 : Math.round(p * 10_000) / 10_000;
}

/** Typical shares traded per minute for a price level (cheap names trade more shares). */
function minuteVolume(basePrice: number): number {
  return Math.max(500, Math.round(2_000_000 / Math.sqrt(basePrice)) / 10);
}

/** One bar over [startMs, startMs + durMs), a pure function of its inputs. */
export function syntheticBar(sSeed: number, symbol: string, basePrice: number, startMs: number, durMs: number, T: SimBar['T'] = 'b'): SimBar {
  const o = historicalPrice(sSeed, basePrice, startMs);
  const c = historicalPrice(sSeed, basePrice, startMs + durMs - 1000);
  let h = Math.max(o, c);
  let l = Math.min(o, c);
  const samples = Math.min(30, Math.max(1, Math.round(durMs / MINUTE_MS)));
  for (let i = 1; i < samples; i++) {
    const p = historicalPrice(sSeed, basePrice, startMs + (durMs * i) / samples);
    if (p > h) h = p;
    if (p < l) l = p;
  }
  const r = unit(hashInts(sSeed, 99, Math.floor(startMs / MINUTE_MS), durMs));
  const wiggle = roundPrice(h * 0.0004 * r);
  h = roundPrice(h + wiggle);
  l = roundPrice(Math.max(0.0001, l - wiggle));
  const minutes = durMs / MINUTE_MS;
  const v = Math.max(1, Math.round(minuteVolume(basePrice) * minutes * (0.4 + 1.2 * r)));
  const n = Math.max(1, Math.round(v / (80 + 60 * r)));
  const vw = Math.round(((o + h + l + c) / 4) * 10_000) / 10_000;
  return { T, S: symbol, o, h, l, c, v, n, vw, t: BigInt(startMs) * NS_PER_MS };
}

export interface Timeframe {
  kind: 'minute' | 'day';
  /** Bar length in ms (for day bars: 1 day). */
  ms: number;
}

/** Parses Alpaca timeframes: `1Min`..`59Min` (also `T`), `1Hour`..`23Hour` (also `H`), `1Day` (also `D`). */
export function parseTimeframe(timeframe: string): Timeframe | undefined {
  const m = /^(\d+)(Min|T|Hour|H|Day|D)$/.exec(timeframe);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unitName = m[2];
  if (unitName === 'Min' || unitName === 'T') return n >= 1 && n <= 59 ? { kind: 'minute', ms: n * MINUTE_MS } : undefined;
  if (unitName === 'Hour' || unitName === 'H') return n >= 1 && n <= 23 ? { kind: 'minute', ms: n * 60 * MINUTE_MS } : undefined;
  return n === 1 ? { kind: 'day', ms: 1440 * MINUTE_MS } : undefined;
}

const nyParts = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York', hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
});

/** America/New_York calendar date (YYYY-MM-DD) of an instant. */
export function nyDate(ms: number): string {
  const p = Object.fromEntries(nyParts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

/** UTC instant of 00:00 America/New_York on `date` (Alpaca stamps daily bars with it). */
export function nyMidnightMs(date: string): number {
  const noonUtc = Date.parse(`${date}T12:00:00Z`);
  const p = Object.fromEntries(nyParts.formatToParts(new Date(noonUtc)).map((x) => [x.type, x.value]));
  const offsetMin = 12 * 60 - (Number(p.hour) * 60 + Number(p.minute)); // 240 (EDT) or 300 (EST)
  return Date.parse(`${date}T00:00:00Z`) + offsetMin * MINUTE_MS;
}

type ClockLike = Pick<MarketClock, 'isOpen' | 'session'>;

function isTradingDay(clock: ClockLike, date: string): boolean {
  return clock.session(date) !== undefined || clock.isOpen(new Date(`${date}T17:00:00Z`));
}

/**
 * Bars of `timeframe` whose start lies in [start, end], oldest first, at most `limit`. Intraday bars exist where the
 * clock says the market is open during the bar; daily bars exist for trading days and cover the regular session.
 */
export function historicalBarsFor(
  clock: ClockLike, seed: number, symbol: string, basePrice: number, timeframe: string, start: Nanos, end: Nanos, limit: number,
): SimBar[] {
  const tf = parseTimeframe(timeframe);
  if (!tf || limit <= 0 || end < start) return [];
  const sSeed = symbolSeed(seed, symbol);
  const startMs = Number((start + NS_PER_MS - 1n) / NS_PER_MS); // bars start at or after `start` (ns), so round up
  const endMs = Number(end / NS_PER_MS);
  const out: SimBar[] = [];
  let budget = 2_000_000; // bounds work for absurd ranges
  if (tf.kind === 'minute') {
    for (let t = Math.ceil(startMs / tf.ms) * tf.ms; t <= endMs && out.length < limit && budget-- > 0; t += tf.ms) {
      const last = t + tf.ms - MINUTE_MS;
      if (clock.isOpen(new Date(t)) || clock.isOpen(new Date(last)) || (tf.ms > MINUTE_MS && clock.isOpen(new Date(t + tf.ms / 2)))) {
        out.push(syntheticBar(sSeed, symbol, basePrice, t, tf.ms, 'b'));
      }
    }
    return out;
  }
  let date = nyDate(startMs);
  for (; out.length < limit && budget-- > 0; date = nextDate(date)) {
    const midnight = nyMidnightMs(date);
    if (midnight > endMs) break;
    if (midnight < startMs || !isTradingDay(clock, date)) continue;
    const session = clock.session(date);
    const open = session ? session.open.getTime() : midnight + 9.5 * 3_600_000;
    const close = session ? session.close.getTime() : midnight + 16 * 3_600_000;
    const bar = syntheticBar(sSeed, symbol, basePrice, open, close - open, 'd');
    out.push({ ...bar, T: 'b', t: BigInt(midnight) * NS_PER_MS });
  }
  return out;
}

function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}
