// The market bench:orders trades on: a few symbols with names unique to the run, quoted by the simulator from a
// recording it replays in a loop (restamped to "now"), and the shared clock offset that puts "now" in a regular NYSE
// session. Prices stay inside a known band, so the load generator can price marketable limits without reading quotes.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createMarketClock } from '../../src/sim/clock/index.js';
import { mulberry32 } from '../../src/sim/market/prng.js';

export interface BenchSymbol {
  symbol: string;
  /** Every bid and ask of the recording stays within ±BAND of this. */
  base: number;
}

/** Quotes stay within ±2 % of the base price; the generator's limits sit at ±5 %, so they are always marketable. */
export const BAND = 0.02;
export const LIMIT_MARGIN = 0.05;

/** How long the recording is before it loops (the simulator restamps each loop). */
const RECORDING_SECONDS = 60;

/** Symbols `O<run letters><A…>`: unique to the run, valid Alpaca symbols (upper-case letters, ≤ 10 chars). */
export function benchSymbols(n: number): BenchSymbol[] {
  const run = [...randomBytes(3)].map((b) => String.fromCharCode(65 + (b % 26))).join('');
  return Array.from({ length: n }, (_, i) => ({
    symbol: `O${run}${String.fromCharCode(65 + (i % 26))}${i >= 26 ? Math.floor(i / 26) : ''}`,
    base: 20 + ((i * 37) % 180), // $20 … $200
  }));
}

const cents = (x: number) => Math.round(x * 100) / 100;

/**
 * Writes a JSON Lines recording (docs/sim-market-data.md, replay format): `quotesPerSecond` quotes per symbol, evenly
 * spaced with a small per-symbol phase, mid prices on a bounded random walk, spreads of 1–3 cents, sizes 1–9 lots.
 * Every quote is valid (bid < ask, both sizes > 0), so each one can fill the orders waiting on its symbol.
 */
export function writeRecording(path: string, symbols: readonly BenchSymbol[], quotesPerSecond: number): number {
  const lines: string[] = [];
  const start = Date.UTC(2026, 2, 4, 15, 0); // any instant: the simulator restamps the first message to "now"
  const interval = 1000 / quotesPerSecond;
  const count = Math.round(RECORDING_SECONDS * quotesPerSecond);
  symbols.forEach(({ symbol, base }, k) => {
    const rng = mulberry32(k + 1); // the same recording for the same symbol count
    const rnd = () => rng.next();
    let mid = base;
    for (let i = 0; i < count; i++) {
      mid = Math.min(base * (1 + BAND * 0.9), Math.max(base * (1 - BAND * 0.9), mid * (1 + (rnd() - 0.5) * 0.002)));
      const spread = 0.01 * (1 + Math.floor(rnd() * 3));
      const bp = cents(mid - spread / 2);
      const ap = cents(bp + spread);
      const at = start + i * interval + (k * interval) / symbols.length;
      const t = new Date(Math.floor(at)).toISOString().replace('Z', `${String(Math.floor((at % 1) * 1e6)).padStart(6, '0')}Z`);
      lines.push(JSON.stringify({ T: 'q', S: symbol, bx: 'V', bp, bs: 1 + Math.floor(rnd() * 9), ax: 'Q', ap, as: 1 + Math.floor(rnd() * 9), c: ['R'], z: 'C', t }));
    }
  });
  writeFileSync(path, lines.join('\n') + '\n');
  return lines.length;
}

/**
 * CLOCK_OFFSET_MS for every process: "now" becomes 10:00 New York time of the next NYSE session, so market and DAY
 * orders meet a regular session for hours (6 h on a full day, 3 h on an early close).
 */
export function regularSessionOffsetMs(): number {
  const clock = createMarketClock({ mode: 'nyse', offsetMs: 0 });
  return clock.nextOpen().getTime() + 30 * 60_000 - Date.now();
}
