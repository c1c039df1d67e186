// The synthetic market and replay: universe, plausible prices, bars/halts/LULD, determinism, history, replay pacing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createMarket, createReplayMarket, createSyntheticMarket, formatRfc3339Nanos, parseReplayLine, parseRfc3339Nanos,
  type SimMessage,
} from '../../../src/sim/market/index.js';
import type { MarketClock } from '../../../src/sim/clock/types.js';
import { encodeMsgpack, msgpackArray } from '../../../src/sim/stream/codec.js';

const T0 = Date.parse('2026-03-02T14:30:00Z');

function manualClock(start = T0): MarketClock & { set(ms: number): void } {
  let now = start;
  return {
    set: (ms) => { now = ms; },
    now: () => new Date(now),
    isOpen: () => true,
    session: () => undefined,
    calendar: () => [],
    nextOpen: () => new Date(now),
    nextClose: () => new Date(now + 86_400_000),
  };
}

/** Steps a fresh market through the same instants and returns every batch's msgpack bytes. */
function run(seed: number, steps: number, stepMs = 10, opts: Record<string, unknown> = {}): { bytes: Buffer; messages: SimMessage[] } {
  const clock = manualClock();
  const market = createSyntheticMarket(clock, { seed, ratePerSecond: 5000, ...opts });
  const chunks: Buffer[] = [];
  const messages: SimMessage[] = [];
  market.subscribe((batch) => {
    chunks.push(msgpackArray(batch.map((m) => encodeMsgpack(m))));
    messages.push(...batch);
  });
  for (let i = 1; i <= steps; i++) {
    clock.set(T0 + i * stepMs);
    market.step(clock.now());
  }
  return { bytes: Buffer.concat(chunks), messages };
}

describe('synthetic market', () => {
  it('has a universe of at least 500 plausible symbols with real tickers first', () => {
    const m = createSyntheticMarket(manualClock(), { seed: 1 });
    const syms = m.symbols();
    expect(syms.length).toBeGreaterThanOrEqual(500);
    expect(new Set(syms.map((s) => s.symbol)).size).toBe(syms.length);
    expect(syms.slice(0, 3).map((s) => s.symbol)).toEqual(['AAPL', 'MSFT', 'SPY']);
    for (const s of syms) {
      expect(s.basePrice).toBeGreaterThanOrEqual(2);
      expect(s.basePrice).toBeLessThanOrEqual(900);
      expect(['NYSE', 'NASDAQ', 'ARCA', 'AMEX', 'BATS']).toContain(s.exchange);
      expect(s.symbol).toMatch(/^[A-Z.]{1,5}$/);
    }
    expect(m.hasSymbol('AAPL')).toBe(true);
    expect(m.latestQuote('AAPL')?.T).toBe('q');
  });

  it('is byte-identical for the same seed and instants, different for another seed', () => {
    const a = run(11, 300);
    const b = run(11, 300);
    const c = run(12, 300);
    expect(a.bytes.length).toBeGreaterThan(10_000);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.bytes.equals(c.bytes)).toBe(false);
  });

  it('produces quotes with round-lot sizes and cent spreads, trades inside the spread with conditions and tape', () => {
    const { messages } = run(3, 200);
    const lastQuote = new Map<string, SimMessage & { T: 'q' }>();
    let trades = 0;
    let times = 0n;
    for (const m of messages) {
      expect(m.t).toBeGreaterThanOrEqual(times); // live messages in time order (late prints are stamped earlier, see below)
      if (m.T === 'q') {
        times = m.t;
        expect(m.bs % 100).toBe(0);
        expect(m.as % 100).toBe(0);
        expect(m.ap).toBeGreaterThan(m.bp);
        expect(m.ap - m.bp).toBeLessThan(0.5);
        expect(['A', 'B', 'C']).toContain(m.z);
        lastQuote.set(m.S, m);
      } else if (m.T === 't') {
        times = m.t;
        trades++;
        const q = lastQuote.get(m.S);
        if (q) {
          expect(m.p).toBeGreaterThanOrEqual(q.bp);
          expect(m.p).toBeLessThanOrEqual(q.ap);
        }
        expect(m.c[0]).toBe('@');
        if (m.s < 100) expect(m.c).toContain('I');
        expect(['A', 'B', 'C']).toContain(m.z);
      }
    }
    expect(trades).toBeGreaterThan(100);
    // nanosecond precision inside a batch
    expect(messages.some((m) => m.t % 1_000_000n !== 0n)).toBe(true);
  });

  it('emits minute bars at minute end, updated bars for late trades, daily bars, LULD bands', () => {
    const { messages } = run(5, 11, 30_000, { ratePerSecond: 2000, lateTradeProbability: 0.05 }); // 330 s, past 14:35
    const bars = messages.filter((m) => m.T === 'b');
    expect(bars.length).toBeGreaterThan(10);
    const firstBarIndex = messages.findIndex((m) => m.T === 'b');
    const before = messages.slice(0, firstBarIndex).filter((m) => m.T === 't');
    const barMinute = (bars[0] as SimMessage).t;
    expect(barMinute % 60_000_000_000n).toBe(0n);
    expect(before.every((m) => m.t < barMinute + 60_000_000_000n)).toBe(true);
    for (const b of bars) {
      if (b.T !== 'b') continue;
      expect(b.h).toBeGreaterThanOrEqual(Math.max(b.o, b.c));
      expect(b.l).toBeLessThanOrEqual(Math.min(b.o, b.c));
      expect(b.v).toBeGreaterThan(0);
    }
    const updated = messages.filter((m) => m.T === 'u');
    expect(updated.length).toBeGreaterThan(0);
    const late = messages.filter((m) => m.T === 't' && m.c.includes('Z'));
    expect(late.length).toBeGreaterThan(0);
    expect(messages.some((m) => m.T === 'd')).toBe(true);
    expect(messages.some((m) => m.T === 'l')).toBe(true); // bands are republished every 5 minutes
  });

  it('halts and resumes with Alpaca status codes (random and on demand)', () => {
    const { messages } = run(9, 8, 60_000, { ratePerSecond: 50, haltProbability: 0.05, haltMinutes: 2 });
    const statuses = messages.filter((m) => m.T === 's');
    expect(statuses.some((s) => s.T === 's' && (s.sc === 'H' || s.sc === 'P'))).toBe(true);
    expect(statuses.some((s) => s.T === 's' && s.sc === 'T')).toBe(true);

    const clock = manualClock();
    const m = createSyntheticMarket(clock, { seed: 2, haltProbability: 0 });
    const seen: SimMessage[] = [];
    m.subscribe((b) => seen.push(...b));
    expect(m.halt('AAPL')).toBe(true);
    expect(m.halt('AAPL')).toBe(false);
    expect(m.isHalted('AAPL')).toBe(true);
    clock.set(T0 + 5_000);
    m.step(clock.now());
    expect(seen.filter((x) => x.S === 'AAPL' && (x.T === 'q' || x.T === 't'))).toHaveLength(0);
    expect(m.resume('AAPL')).toBe(true);
    expect(seen[0]).toMatchObject({ T: 's', S: 'AAPL', sc: 'H', sm: 'Trading Halt', rc: 'T1' });
    expect(seen.find((x) => x.T === 's' && x.sc === 'T')).toMatchObject({ S: 'AAPL', sm: 'Trading Resumption' });
    expect(seen.some((x) => x.T === 'l' && x.S === 'AAPL')).toBe(true);
  });

  it('serves reproducible history for any range, pageable', () => {
    const a = createSyntheticMarket(manualClock(), { seed: 4 });
    const b = createSyntheticMarket(manualClock(T0 + 86_400_000), { seed: 4 });
    const start = BigInt(Date.parse('2025-01-06T14:30:00Z')) * 1_000_000n;
    const end = BigInt(Date.parse('2025-01-06T20:59:00Z')) * 1_000_000n;
    const all = a.historicalBars('MSFT', '1Min', start, end, 10_000);
    expect(all).toHaveLength(390);
    expect(b.historicalBars('MSFT', '1Min', start, end, 10_000)).toEqual(all);
    // paging: the next page starts after the last bar of the previous one
    const page1 = a.historicalBars('MSFT', '1Min', start, end, 100);
    const page2 = a.historicalBars('MSFT', '1Min', (page1.at(-1)?.t ?? 0n) + 1n, end, 100);
    expect([...page1, ...page2]).toEqual(all.slice(0, 200));
    for (const bar of all) {
      expect(bar.h).toBeGreaterThanOrEqual(Math.max(bar.o, bar.c));
      expect(bar.l).toBeLessThanOrEqual(Math.min(bar.o, bar.c));
    }
    const days = a.historicalBars('MSFT', '1Day', start - 30n * 86_400_000_000_000n, end, 1000);
    expect(days.length).toBeGreaterThan(20);
    expect(formatRfc3339Nanos((days[0] as SimMessage).t)).toMatch(/T0[45]:00:00\.000000000Z$/); // midnight New York
    expect(a.historicalBars('MSFT', '5Min', start, end, 1000)).toHaveLength(78);
    expect(a.historicalBars('MSFT', '2Week', start, end, 10)).toEqual([]);
    expect(a.prevDailyBar('MSFT')?.T).toBe('b');
  });
});

describe('timestamps', () => {
  it('formats and parses RFC 3339 with nanoseconds', () => {
    const ns = 1_772_461_800_123_456_789n;
    expect(formatRfc3339Nanos(ns)).toBe('2026-03-02T14:30:00.123456789Z');
    expect(parseRfc3339Nanos('2026-03-02T14:30:00.123456789Z')).toBe(ns);
    expect(parseRfc3339Nanos('2026-03-02T09:30:00.5-05:00')).toBe(1_772_461_800_500_000_000n);
    expect(parseRfc3339Nanos('yesterday')).toBeUndefined();
  });
});

describe('replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-replay-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const lines = [
    '{"T":"q","S":"AAPL","bx":"V","bp":189.1,"bs":100,"ax":"V","ap":189.12,"as":200,"c":["R"],"z":"C","t":"2026-03-02T14:30:00.123456789Z"}',
    '{"S":"AAPL","T":"t","i":1,"x":"V","p":189.11,"s":100,"c":["@"],"z":"C","t":"2026-03-02T14:30:00.500000001Z"}',
    '{"T":"q","S":"MSFT","bx":"P","bp":410.5,"bs":300,"ax":"Q","ap":410.55,"as":100,"c":["R"],"z":"C","t":"2026-03-02T14:30:02.000000000Z"}',
  ];

  it('emits a recording at recorded pace, T first, nanoseconds kept', () => {
    const file = join(dir, 'a.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const clock = manualClock();
    const m = createMarket(clock, { replayFile: file, replayRestamp: false });
    const got: SimMessage[] = [];
    m.subscribe((b) => got.push(...b));
    m.step(T0 + 100); // the first message is due at once, the second 376.5 ms later
    expect(got).toHaveLength(1);
    expect(Object.keys(got[0] as object)[0]).toBe('T');
    expect(formatRfc3339Nanos((got[0] as SimMessage).t)).toBe('2026-03-02T14:30:00.123456789Z');
  });

  it('paces by offsets from the first message and restamps by default', () => {
    const file = join(dir, 'b.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const clock = manualClock();
    const m = createReplayMarket(clock, { replayFile: file });
    expect(m.step(T0 + 1).map((x) => x.T)).toEqual(['q']);
    const second = m.step(T0 + 500);
    expect(second).toHaveLength(1);
    expect(Object.keys(second[0] as object)[0]).toBe('T');
    expect(formatRfc3339Nanos((second[0] as SimMessage).t)).toBe('2026-03-02T14:30:00.376543212Z');
    expect(m.step(T0 + 1_876)).toHaveLength(0);
    expect(m.step(T0 + 1_800)).toHaveLength(0); // time never goes back
    expect(m.step(T0 + 1_877)).toHaveLength(1);
    expect(m.latestQuote('MSFT')?.bp).toBe(410.5);
    expect(m.symbols().map((s) => s.symbol)).toEqual(['AAPL', 'MSFT']);
  });

  it('applies a speed factor and keeps recorded times when asked', () => {
    const clock = manualClock();
    const m = createReplayMarket(clock, { messages: lines.map((l, i) => parseReplayLine(l, i + 1)), replaySpeed: 2, replayRestamp: false });
    expect(m.step(T0 + 1000).length).toBe(3); // 1.877 s recorded at 2x ⇒ due after 0.94 s
    expect(m.latestTrade('AAPL')?.t).toBe(parseRfc3339Nanos('2026-03-02T14:30:00.500000001Z'));
  });

  it('rejects malformed lines', () => {
    expect(() => parseReplayLine('{"T":"q"}', 3)).toThrow(/line 3/);
    expect(() => parseReplayLine('{"T":"q","S":"A","t":"2026-03-02"}', 4)).toThrow(/RFC 3339/);
    expect(() => parseReplayLine('nope', 5)).toThrow(/not JSON/);
  });
});
