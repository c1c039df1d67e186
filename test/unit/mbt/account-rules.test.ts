// MBT rows 13–16 and 18: buying-power reservation, cash vs margin, shorting, fractional/notional, wash-trade guard.
import { describe, expect, it } from 'vitest';
import { cancel, fillsOf, play, quote, regularClose, session, submit, type Result } from './log.js';
import type { AccountOutput } from '../../../src/domain/mbt/index.js';

const lastAccount = (r: Result) => r.outputs.filter((o): o is AccountOutput => o.type === 'account').at(-1);
const error = (r: Result, i = 0) => {
  const reply = r.replies[i];
  return reply && !reply.ok ? { status: reply.status, code: reply.code, message: reply.message } : reply;
};
const ETB = { shortable: true, easy_to_borrow: true };

describe('buying-power reservation (row 13)', () => {
  it.each([
    ['limit buy holds qty × limit', { type: 'limit', limit: '10.50' }, '1050'],
    ['stop-limit buy holds qty × limit', { type: 'stop_limit', stop: '10', limit: '10.25' }, '1025'],
    ['market buy holds qty × ask × 1.04 below $50', { type: 'market' }, '1042'],
    ['stop buy holds qty × stop collar', { type: 'stop', stop: '10.00' }, '1040'],
    ['market buy from $50 holds qty × ask × 1.025', { type: 'market', symbol: 'BIG' }, '10250'],
  ])('%s', (_, o, reserved) => {
    const r = play([...session(), quote(1, 9.99, 10.02), quote(1, 99.9, 100, { S: 'BIG' }), submit(o)]);
    expect(r.orders.o1?.reserved_cash).toBe(reserved);
    expect(lastAccount(r)?.reserved_cash).toBe(reserved);
  });

  it('an order costing more than buying power is refused 403 and creates nothing', () => {
    const r = play([...session(), submit({ type: 'limit', limit: '10', qty: '1001' })], { cash: '10000' });
    expect(error(r)).toEqual({ status: 403, code: 40310000, message: 'insufficient buying power' });
    expect(r.state.orders).toEqual({});
    expect(r.updates).toEqual([]);
  });

  it('exactly the buying power is accepted', () => {
    const r = play([...session(), submit({ type: 'limit', limit: '10', qty: '1000' })], { cash: '10000' });
    expect(r.replies[0]?.ok).toBe(true);
  });

  it('open buys reduce buying power for the next order', () => {
    const r = play([...session(), submit({ id: 'a', type: 'limit', limit: '10', qty: '600' }), submit({ id: 'b', type: 'limit', limit: '10', qty: '500' })], { cash: '10000' });
    expect(error(r, 1)).toMatchObject({ status: 403, message: 'insufficient buying power' });
  });

  it('cancel releases the reservation', () => {
    const r = play([...session(), submit({ type: 'limit', limit: '10' }), cancel('o1')]);
    expect(lastAccount(r)).toMatchObject({ reserved_cash: '0', buying_power: '100000.00' });
    expect(r.events).toEqual(['new:o1', 'canceled:o1']);
  });

  it('expiry releases the reservation', () => {
    const r = play([...session(), submit({ type: 'limit', limit: '10' }), regularClose()]);
    expect(lastAccount(r)).toMatchObject({ reserved_cash: '0' });
  });

  it('a fill replaces the reservation by the actual cost', () => {
    const r = play([...session(), submit({ type: 'limit', limit: '10.50' }), quote(1, 10, 10.02)]);
    expect(lastAccount(r)).toMatchObject({ cash: '98998', reserved_cash: '0' });
  });

  it('a market buy with no known quote is reserved at the first valid quote, and rejected there if short', () => {
    const ok = play([...session(), submit({ qty: '90' }), quote(1, 10, 10.02)], { cash: '1000' });
    expect(fillsOf(ok)).toEqual(['90@10.02#1/market_next_quote']);
    const short = play([...session(), submit({ qty: '100' }), quote(1, 10, 10.02)], { cash: '1000' });
    expect(short.events).toEqual(['new:o1', 'rejected:o1']);
    expect(short.updates[1]?.reason).toEqual({ status: 403, code: 40310000, message: 'insufficient buying power' });
    expect(short.fills).toEqual([]);
  });

  it('a market fill priced past its reservation with no buying power left is canceled, never overdrawn', () => {
    // 95 × collar(10.02)=10.42 → 989.90 held of 1000; the next ask 11 would cost 1045.
    const r = play([...session(), quote(1, 10, 10.02), submit({ qty: '95' }), quote(2, 10.9, 11)], { cash: '1000' });
    expect(r.events).toEqual(['new:o1', 'canceled:o1']);
    expect(r.updates[1]?.reason?.message).toBe('insufficient buying power');
    expect(r.state.account.cash).toBe('1000');
  });
});

describe('cash vs margin, short selling (rows 14–15)', () => {
  it('cash account: selling more than the position → 403 insufficient qty available', () => {
    const r = play([...session(), submit({ id: 'b', qty: '50' }), quote(1, 10, 10.02), submit({ id: 's', side: 'sell', qty: '60' })]);
    expect(error(r, 1)).toEqual({ status: 403, code: 40310000, message: 'insufficient qty available for order (requested: 60, available: 50)' });
  });

  it('cash account: open sells hold shares (available = position − open sells)', () => {
    const r = play([
      ...session(),
      submit({ id: 'b', qty: '100' }),
      quote(1, 10, 10.02),
      submit({ id: 's1', side: 'sell', type: 'limit', limit: '20', qty: '70' }),
      submit({ id: 's2', side: 'sell', type: 'limit', limit: '20', qty: '40' }),
    ]);
    expect(error(r, 2)).toMatchObject({ status: 403, message: 'insufficient qty available for order (requested: 40, available: 30)' });
  });

  it('cash account: no shorting even for ETB assets', () => {
    const r = play([...session(), submit({ side: 'sell', asset: ETB })]);
    expect(error(r)).toMatchObject({ status: 403, message: 'insufficient qty available for order (requested: 100, available: 0)' });
  });

  it('margin account: ETB short accepted, holds max(limit, ask × 1.03), fills at the bid', () => {
    const r = play([...session(), quote(1, 10, 10.02), submit({ side: 'sell', asset: ETB }), quote(2, 10.01, 10.03)], { type: 'margin' });
    expect(r.replies[0]?.ok).toBe(true);
    expect(r.updates[0]?.order.reserved_cash).toBe('1032');
    expect(fillsOf(r)).toEqual(['100@10.01#2/market_next_quote']);
    expect(r.state.positions.AAPL).toEqual({ qty: '-100', avg_entry_price: '10.01' });
  });

  it.each([
    ['not shortable', { shortable: false, easy_to_borrow: false }],
    ['hard to borrow', { shortable: true, easy_to_borrow: false }],
  ])('margin account: %s → 403', (_, asset) => {
    const r = play([...session(), submit({ side: 'sell', asset })], { type: 'margin' });
    expect(error(r)).toMatchObject({ status: 403, message: 'asset AAPL cannot be sold short' });
  });

  it('margin account below $2,000 equity: 1× and no shorting', () => {
    const r = play([...session(), submit({ side: 'sell', asset: ETB })], { type: 'margin', cash: '1999.99' });
    expect(error(r)).toMatchObject({ status: 403, message: 'account is not allowed to short' });
    const bp = play([...session(), submit({ type: 'limit', limit: '10', qty: '200' })], { type: 'margin', cash: '1999.99' });
    expect(error(bp)).toMatchObject({ status: 403, message: 'insufficient buying power' });
  });

  it('margin account: 2× buying power from $2,000 equity', () => {
    const r = play([...session(), submit({ type: 'limit', limit: '10', qty: '400' })], { type: 'margin', cash: '2000' });
    expect(r.replies[0]?.ok).toBe(true);
    const over = play([...session(), submit({ type: 'limit', limit: '10', qty: '401' })], { type: 'margin', cash: '2000' });
    expect(error(over)).toMatchObject({ status: 403, message: 'insufficient buying power' });
  });

  it('margin account: a long position cannot be sold through zero in one order', () => {
    const r = play([...session(), submit({ id: 'b', qty: '10' }), quote(1, 10, 10.02), submit({ id: 's', side: 'sell', qty: '20', asset: ETB })], { type: 'margin' });
    expect(error(r, 1)).toMatchObject({ status: 403, message: 'insufficient qty available for order (requested: 20, available: 10)' });
  });
});

describe('fractional and notional (row 16)', () => {
  const FRAC = { fractionable: true };
  it('fractional qty market/day fills', () => {
    const r = play([...session(), submit({ qty: '1.5', asset: FRAC }), quote(1, 10, 10.02)]);
    expect(fillsOf(r)).toEqual(['1.5@10.02#1/market_next_quote']);
  });
  it('notional buy: qty = notional / ask, truncated to 9 decimals', () => {
    const r = play([...session(), submit({ notional: '100', asset: FRAC }), quote(1, 2.99, 3)]);
    expect(fillsOf(r)).toEqual(['33.333333333@3#1/market_next_quote']);
    expect(r.state.account.cash).toBe('99900.000000001');
  });
  it.each([
    ['fractional limit', { qty: '1.5', type: 'limit', limit: '10', asset: FRAC }, 'fractional orders must be DAY market orders'],
    ['fractional gtc', { qty: '1.5', tif: 'gtc', asset: FRAC }, 'fractional orders must be DAY market orders'],
    ['notional limit', { notional: '100', type: 'limit', limit: '10', asset: FRAC }, 'fractional orders must be DAY market orders'],
    ['not fractionable', { qty: '1.5' }, 'asset AAPL is not fractionable'],
  ])('%s → 422', (_, o, message) => {
    expect(error(play([...session(), submit(o)]))).toEqual({ status: 422, code: 42210000, message });
  });
  it('no fractional shorts on margin', () => {
    const r = play([...session(), submit({ side: 'sell', qty: '0.5', asset: { ...FRAC, ...ETB } })], { type: 'margin' });
    expect(error(r)).toMatchObject({ status: 403, message: 'fractional orders cannot be sold short' });
  });
});

describe('wash-trade guard (row 18)', () => {
  it('an order against an open opposite-side order on the symbol is refused', () => {
    const r = play([
      ...session(),
      submit({ id: 'b', qty: '100' }),
      quote(1, 10, 10.02),
      submit({ id: 's', side: 'sell', type: 'limit', limit: '11', qty: '50' }),
      submit({ id: 'b2', type: 'limit', limit: '9' }),
    ]);
    expect(error(r, 2)).toEqual({ status: 403, code: 40310000, message: 'potential wash trade detected. use complex orders' });
  });
  it('same side, or another symbol, is fine; the guard can be switched off', () => {
    const log = [...session(), submit({ id: 'b', type: 'limit', limit: '9' }), submit({ id: 'b2', type: 'limit', limit: '8' }), submit({ id: 'x', symbol: 'MSFT', type: 'limit', limit: '9' })];
    expect(play(log).replies.every((x) => x.ok)).toBe(true);
    const off = play([...session(), submit({ id: 'b', qty: '100' }), quote(1, 10, 10.02), submit({ id: 's', side: 'sell', type: 'limit', limit: '11' }), submit({ id: 'b2', type: 'limit', limit: '9' })], {}, { washTradeGuard: false });
    expect(off.replies.every((x) => x.ok)).toBe(true);
  });
});
