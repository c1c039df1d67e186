// MBT rows 3–10: next-quote rule, taker vs resting prices, touch vs cross, size cap, stops, invalid quotes, halts.
import { describe, expect, it } from 'vitest';
import { fillsOf, play, quote, session, status, submit, type Result } from './log.js';
import type { MbtInput } from '../../../src/domain/mbt/index.js';

interface Case {
  name: string;
  log: MbtInput[];
  /** `qty@price#quoteSeq/rule` per fill, in order. */
  fills: string[];
  /** Last status of order o1 (when given). */
  status?: string;
  config?: Parameters<typeof play>[2];
}

const q = quote;
const cases: Case[] = [
  // Row 3: market orders take the first valid quote after acceptance, never the one before.
  { name: 'market buy fills at the ask of the next quote', log: [...session(), q(1, 10, 10.02), submit(), q(2, 10.01, 10.03)], fills: ['100@10.03#2/market_next_quote'], status: 'filled' },
  { name: 'market sell fills at the bid of the next quote', log: [...session(), q(1, 10, 10.02), submit({ id: 'b', qty: '100' }), q(2, 10, 10.02), submit({ side: 'sell' }), q(3, 10.01, 10.03)], fills: ['100@10.02#2/market_next_quote', '100@10.01#3/market_next_quote'], status: 'filled' },
  { name: 'no fill on the quote known at submit', log: [...session(), q(1, 10, 10.02), submit()], fills: [], status: 'new' },
  // Row 4: limit marketability, taker vs resting, touch vs cross.
  { name: 'marketable buy limit on first look takes the ask', log: [...session(), submit({ type: 'limit', limit: '10.05' }), q(1, 10, 10.02)], fills: ['100@10.02#1/limit_taker'] },
  { name: 'resting buy limit fills at its limit when the ask reaches it', log: [...session(), submit({ type: 'limit', limit: '10.00' }), q(1, 10.01, 10.02), q(2, 9.97, 9.98)], fills: ['100@10#2/limit_resting'] },
  { name: 'resting buy limit: ask exactly at the limit (cross) fills', log: [...session(), submit({ type: 'limit', limit: '10.00' }), q(1, 10.01, 10.02), q(2, 9.99, 10)], fills: ['100@10#2/limit_resting'] },
  { name: 'resting buy limit: bid at the limit (same-side touch) never fills', log: [...session(), submit({ type: 'limit', limit: '10.00' }), q(1, 9.99, 10.02), q(2, 10, 10.01)], fills: [], status: 'new' },
  { name: 'resting sell limit: ask at the limit (same-side touch) never fills', log: [...session(), submit({ id: 'b' }), q(1, 10, 10.01), submit({ side: 'sell', type: 'limit', limit: '10.05' }), q(2, 10.01, 10.05)], fills: ['100@10.01#1/market_next_quote'], status: 'new' },
  { name: 'resting sell limit fills at its limit when the bid reaches it', log: [...session(), submit({ id: 'b' }), q(1, 10, 10.01), submit({ side: 'sell', type: 'limit', limit: '10.05' }), q(2, 10.03, 10.06), q(3, 10.07, 10.08)], fills: ['100@10.01#1/market_next_quote', '100@10.05#3/limit_resting'], status: 'filled' },
  // Row 5: displayed size per quote (lots × 100), consumed in acceptance order, remainder waits (no tick walk).
  { name: 'fill capped at the displayed size, remainder on the next quote', log: [...session(), submit({ qty: '250' }), q(1, 10, 10.02, { as: 2 }), q(2, 10, 10.03, { as: 1 })], fills: ['200@10.02#1/market_next_quote', '50@10.03#2/market_next_quote'], status: 'filled' },
  {
    name: 'size exhausted across two orders in acceptance order',
    log: [...session(), submit({ id: 'o1', qty: '60' }), submit({ id: 'o2', qty: '60' }), q(1, 10, 10.02, { as: 1 }), q(2, 10, 10.04, { as: 1 })],
    fills: ['60@10.02#1/market_next_quote', '40@10.02#1/market_next_quote', '20@10.04#2/market_next_quote'],
  },
  { name: 'depth off: the whole order fills on one quote', log: [...session(), submit({ qty: '1000' }), q(1, 10, 10.02, { as: 1 })], fills: ['1000@10.02#1/market_next_quote'], config: { depth: false } },
  // Row 6: quote-triggered stops with the buy-stop collar.
  { name: 'buy stop not triggered below the stop', log: [...session(), submit({ type: 'stop', stop: '10.50' }), q(1, 10.48, 10.49)], fills: [], status: 'new' },
  { name: 'buy stop triggers at ask = stop and fills on the same quote', log: [...session(), submit({ type: 'stop', stop: '10.50' }), q(1, 10.48, 10.49), q(2, 10.49, 10.5)], fills: ['100@10.5#2/stop_market'] },
  { name: 'buy stop gapping past the collar (10.40) rests at the collar', log: [...session(), submit({ type: 'stop', stop: '10.00' }), q(1, 10.49, 10.5), q(2, 10.2, 10.3)], fills: ['100@10.4#2/limit_resting'] },
  { name: 'buy stop collar is +2.5% from $50 (100 → 102.50)', log: [...session(), submit({ type: 'stop', stop: '100', qty: '10' }), q(1, 102.4, 102.6), q(2, 102.4, 102.5)], fills: ['10@102.5#2/limit_resting'] },
  { name: 'sell stop triggers at bid ≤ stop and sells at the bid', log: [...session(), submit({ id: 'b' }), q(1, 10, 10.01), submit({ side: 'sell', type: 'stop', stop: '9.50' }), q(2, 9.6, 9.61), q(3, 9.5, 9.52)], fills: ['100@10.01#1/market_next_quote', '100@9.5#3/stop_market'], status: 'filled' },
  // Row 7: stop-limit.
  { name: 'stop-limit triggered and marketable takes the quote', log: [...session(), submit({ type: 'stop_limit', stop: '10.50', limit: '10.60' }), q(1, 10.5, 10.55)], fills: ['100@10.55#1/stop_limit_taker'] },
  { name: 'stop-limit triggered past its limit rests, then fills at the limit', log: [...session(), submit({ type: 'stop_limit', stop: '10.50', limit: '10.60' }), q(1, 10.6, 10.7), q(2, 10.5, 10.55)], fills: ['100@10.6#2/limit_resting'] },
  // Row 8: invalid quotes are ignored for fills and triggers.
  { name: 'crossed, locked and one-sided quotes never fill', log: [...session(), submit(), q(1, 10.05, 10), q(2, 10, 10), q(3, 0, 10.02), q(4, 10, 10.02, { bs: 0 }), q(5, 10, 10.03)], fills: ['100@10.03#5/market_next_quote'] },
  { name: 'a crossed quote does not trigger a stop', log: [...session(), submit({ type: 'stop', stop: '10.50' }), q(1, 10.6, 10.55)], fills: [], status: 'new' },
  // Row 9: a redelivered quote (seq not higher) is ignored.
  { name: 'duplicate quote seq is ignored', log: [...session(), q(5, 10, 10.02), submit(), q(5, 10, 10.01), q(4, 10, 10.01)], fills: [], status: 'new' },
  // Row 10: halts hold orders; the first valid quote after resumption is an auction.
  { name: 'halted symbol: no fills until resumption', log: [...session(), submit(), status('H'), q(1, 10, 10.02), status('Q'), q(2, 10, 10.02)], fills: [], status: 'new' },
  {
    name: 'resume (T): resting limit takes the auction quote at the ask',
    log: [...session(), submit({ type: 'limit', limit: '10.00' }), q(1, 10.01, 10.02), status('H'), q(2, 9.9, 9.91), status('T'), q(3, 9.8, 9.9), q(4, 9.7, 9.8)],
    fills: ['100@9.9#3/auction_taker'],
  },
  { name: 'CTA codes: 2 halts, 3 resumes', log: [...session(), submit(), status('2'), q(1, 10, 10.02), status('3'), q(2, 10, 10.03)], fills: ['100@10.03#2/auction_taker'] },
  { name: 'P (volatility pause) halts; stops are not triggered while halted', log: [...session(), submit({ type: 'stop', stop: '10.50' }), status('P'), q(1, 10.6, 10.7)], fills: [], status: 'new' },
  { name: 'after the auction quote, resting orders are back to the limit price', log: [...session(), submit({ type: 'limit', limit: '10.00' }), q(1, 10.01, 10.02), status('H'), status('T'), q(2, 10.01, 10.02), q(3, 9.8, 9.9)], fills: ['100@10#3/limit_resting'] },
];

describe('MBT matching (rows 3–10)', () => {
  it.each(cases)('$name', ({ log, fills, status: expected, config }) => {
    const r: Result = play(log, {}, config);
    expect(fillsOf(r)).toEqual(fills);
    if (expected) expect(r.orders.o1?.status).toBe(expected);
  });

  it('invalid quotes are logged with their reason when the account has orders on the symbol', () => {
    const r = play([...session(), submit(), quote(1, 10.05, 10), quote(2, 10, 10), quote(3, 10, 10.02, { as: 0 }), quote(3, 10, 10.02)]);
    expect(r.outputs.filter((o) => o.type === 'quote_ignored')).toEqual([
      { type: 'quote_ignored', S: 'AAPL', seq: 1, reason: 'crossed' },
      { type: 'quote_ignored', S: 'AAPL', seq: 2, reason: 'locked' },
      { type: 'quote_ignored', S: 'AAPL', seq: 3, reason: 'one_sided' },
      { type: 'quote_ignored', S: 'AAPL', seq: 3, reason: 'duplicate_seq' },
    ]);
  });

  it('every fill records the feed that priced it', () => {
    const r = play([...session(), submit(), quote(1, 10, 10.02, { feed: 'iex' })]);
    expect(r.fills.map((f) => [f.feed, f.execution_id, f.position_qty])).toEqual([['iex', 'o1-1', '100']]);
  });

  describe('IOC and FOK resolve on their first look', () => {
    it('IOC fills what the quote shows and cancels the remainder', () => {
      const r = play([...session(), submit({ qty: '150', tif: 'ioc' }), quote(1, 10, 10.02, { as: 1 }), quote(2, 10, 10.02, { as: 5 })]);
      expect(fillsOf(r)).toEqual(['100@10.02#1/market_next_quote']);
      expect(r.events).toEqual(['new:o1', 'partial_fill:o1', 'canceled:o1']);
      expect(r.orders.o1).toMatchObject({ status: 'canceled', filled_qty: '100' });
    });
    it('IOC limit not marketable is canceled without a fill', () => {
      const r = play([...session(), submit({ type: 'limit', limit: '9.00', tif: 'ioc' }), quote(1, 10, 10.02)]);
      expect(r.events).toEqual(['new:o1', 'canceled:o1']);
    });
    it('FOK with not enough displayed size is canceled with no fill', () => {
      const r = play([...session(), submit({ qty: '150', tif: 'fok' }), quote(1, 10, 10.02, { as: 1 }), quote(2, 10, 10.02, { as: 5 })]);
      expect(r.fills).toEqual([]);
      expect(r.events).toEqual(['new:o1', 'canceled:o1']);
    });
    it('FOK with enough size fills completely', () => {
      const r = play([...session(), submit({ qty: '150', tif: 'fok' }), quote(1, 10, 10.02, { as: 2 })]);
      expect(fillsOf(r)).toEqual(['150@10.02#1/market_next_quote']);
    });
    it('FOK limit not marketable is canceled', () => {
      const r = play([...session(), submit({ type: 'limit', limit: '10', tif: 'fok' }), quote(1, 10, 10.02, { as: 5 })]);
      expect(r.events).toEqual(['new:o1', 'canceled:o1']);
    });
  });

  describe('seeded random partials (off by default)', () => {
    const log = [...session(), submit({ qty: '100' }), quote(1, 10, 10.02, { as: 10 }), quote(2, 10, 10.02, { as: 10 }), quote(3, 10, 10.02, { as: 10 })];
    it('with probability 1 the first fill is a strict part of the order, and the same seed repeats it exactly', () => {
      const a = play(log, {}, { randomPartials: { seed: 7, probability: 1 } });
      const b = play(log, {}, { randomPartials: { seed: 7, probability: 1 } });
      const first = Number(a.fills[0]?.qty);
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThan(100);
      expect(fillsOf(a)).toEqual(fillsOf(b));
    });
    it('off: one full fill', () => {
      expect(fillsOf(play(log))).toEqual(['100@10.02#1/market_next_quote']);
    });
  });
});
