// MBT rows 11–12: sessions driven by clock inputs, extended hours, DAY expiry at the close (boundaries included).
import { describe, expect, it } from 'vitest';
import {
  CLOSE,
  EXT_CLOSE,
  OPEN,
  PRE_OPEN,
  extendedClose,
  fillsOf,
  play,
  preOpen,
  quote,
  regularClose,
  regularOpen,
  session,
  submit,
} from './log.js';

const pre = (s: number) => PRE_OPEN + s * 1000;
const post = (s: number) => CLOSE + s * 1000;

describe('MBT sessions (row 11)', () => {
  it('a regular order received pre-market is accepted, becomes new at 09:30 and takes the open auction quote', () => {
    const r = play([
      preOpen(),
      submit({ type: 'limit', limit: '10.00', ts: pre(1) }),
      quote(1, 9.5, 9.6, { ts: pre(2) }),
      regularOpen(),
      quote(2, 9.7, 9.8, { ts: OPEN + 1 }),
    ]);
    expect(r.events).toEqual(['accepted:o1', 'new:o1', 'fill:o1']);
    expect(fillsOf(r)).toEqual(['100@9.8#2/auction_taker']);
  });

  it('a quote stamped before the open but delivered after it does not fill', () => {
    const r = play([preOpen(), submit({ ts: pre(1) }), regularOpen(), quote(1, 9.5, 9.6, { ts: OPEN - 1 })]);
    expect(r.fills).toEqual([]);
  });

  it('an extended-hours DAY limit works pre-market', () => {
    const r = play([preOpen(), submit({ type: 'limit', limit: '10.00', ext: true, ts: pre(1) }), quote(1, 9.5, 9.6, { ts: pre(2) })]);
    expect(r.events).toEqual(['new:o1', 'fill:o1']);
    expect(fillsOf(r)).toEqual(['100@9.6#1/limit_taker']);
  });

  it('nothing works while closed (before pre_open); extended orders start at 04:00', () => {
    const r = play([
      submit({ id: 'o1', type: 'limit', limit: '10.00', ext: true, ts: PRE_OPEN - 1000 }),
      quote(1, 9.5, 9.6, { ts: PRE_OPEN - 500 }),
      preOpen(),
      quote(2, 9.5, 9.6, { ts: pre(1) }),
    ]);
    expect(r.events).toEqual(['accepted:o1', 'new:o1', 'fill:o1']);
    expect(fillsOf(r)).toEqual(['100@9.6#2/limit_taker']);
  });

  it.each([
    ['market', { type: 'market', ext: true }],
    ['gtc limit', { type: 'limit', limit: '10', tif: 'gtc', ext: true }],
    ['stop', { type: 'stop', stop: '10', ext: true }],
  ])('extended hours %s → 422', (_, o) => {
    const r = play([...session(), submit(o)]);
    expect(r.replies[0]).toMatchObject({ ok: false, status: 422, code: 42210000, message: 'extended hours order must be DAY limit orders' });
    expect(r.state.orders).toEqual({});
  });

  it('a regular order received after the close waits for the next open; post-market quotes do not fill it', () => {
    const r = play([...session(), regularClose(), submit({ ts: post(5) }), quote(1, 10, 10.02, { ts: post(6) }), extendedClose()]);
    expect(r.events).toEqual(['accepted:o1']);
    expect(r.state.orders.o1?.status).toBe('accepted');
  });
});

describe('MBT DAY expiry (row 12)', () => {
  it('open DAY orders expire at 16:00; GTC stays; fills made before are kept', () => {
    const r = play([
      ...session(),
      submit({ id: 'day', qty: '150' }),
      submit({ id: 'gtc', type: 'limit', limit: '5', tif: 'gtc' }),
      quote(1, 10, 10.02, { as: 1 }),
      regularClose(),
    ]);
    expect(r.events).toEqual(['new:day', 'new:gtc', 'partial_fill:day', 'expired:day']);
    expect(r.orders.day).toMatchObject({ status: 'expired', filled_qty: '100' });
    expect(r.orders.day?.reserved_cash).toBe('0');
    expect(r.state.orders.gtc?.status).toBe('new');
  });

  it('a quote stamped exactly at the close never fills a regular DAY order, 1 ms before does', () => {
    const at = play([...session(), submit(), quote(1, 10, 10.02, { ts: CLOSE })]);
    expect(at.fills).toEqual([]);
    const before = play([...session(), submit(), quote(1, 10, 10.02, { ts: CLOSE - 1 })]);
    expect(fillsOf(before)).toEqual(['100@10.02#1/market_next_quote']);
  });

  it('extended-hours DAY orders live until 20:00 and expire then', () => {
    const r = play([
      ...session(),
      submit({ id: 'x', type: 'limit', limit: '9', ext: true }),
      regularClose(),
      quote(1, 9.5, 9.6, { ts: post(10) }),
      quote(2, 8.9, 9.0, { ts: EXT_CLOSE }),
      extendedClose(),
    ]);
    expect(r.events).toEqual(['new:x', 'expired:x']);
  });

  it('an extended-hours limit fills in the post-market session', () => {
    const r = play([...session(), regularClose(), submit({ id: 'x', type: 'limit', limit: '9', ext: true, ts: post(1) }), quote(1, 8.9, 9.0, { ts: post(2) })]);
    expect(fillsOf(r)).toEqual(['100@9#1/limit_taker']);
  });
});
