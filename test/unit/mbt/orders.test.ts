// MBT rows 1, 2 and 24 plus cancel/replace: what is accepted, Alpaca's rejections, idempotency by client_order_id.
import { describe, expect, it } from 'vitest';
import { mbt } from '../../../src/domain/index.js';
import { cancel, cancelAll, fillsOf, play, quote, replace, session, settle, submit, type OrderOpts } from './log.js';

const rejection = (o: OrderOpts) => {
  const r = play([...session(), submit(o)]);
  const reply = r.replies[0];
  expect(r.state.orders).toEqual({});
  expect(r.updates).toEqual([]);
  return reply && !reply.ok ? `${reply.status} ${reply.code} ${reply.message}` : 'accepted';
};

describe('order types and time in force (rows 1–2)', () => {
  it.each([
    [{ type: 'market' }],
    [{ type: 'limit', limit: '10' }],
    [{ type: 'stop', stop: '10' }],
    [{ type: 'stop_limit', stop: '10', limit: '10.1' }],
    [{ type: 'limit', limit: '10', tif: 'gtc' }],
    [{ type: 'limit', limit: '10', tif: 'ioc' }],
    [{ type: 'limit', limit: '10', tif: 'fok' }],
    [{ type: 'limit', limit: '0.1234' }],
  ])('accepted: %j', (o) => {
    const r = play([...session(), submit(o)]);
    expect(r.replies[0]).toMatchObject({ ok: true, order: { status: 'new' } });
    expect(r.events).toEqual(['new:o1']);
  });

  it.each<[OrderOpts, string]>([
    [{ type: 'trailing_stop' }, '422 42210000 trailing_stop orders are not supported'],
    [{ type: 'iceberg' }, '422 40010001 invalid order type: iceberg'],
    [{ tif: 'opg' }, '422 42210000 time_in_force opg is not supported (no auction model)'],
    [{ tif: 'cls' }, '422 42210000 time_in_force cls is not supported (no auction model)'],
    [{ tif: 'gtd' }, '422 40010001 invalid time_in_force: gtd'],
    [{ side: 'short' }, '422 40010001 invalid side: short'],
    [{ qty: '-5' }, '422 40010001 qty must be > 0'],
    [{ qty: '0' }, '422 40010001 qty must be > 0'],
    [{ qty: 'abc' }, '422 40010001 qty must be > 0'],
    [{ qty: '0.0000000001' }, '422 40010001 qty must have at most 9 decimal places'],
    [{ notional: '0.5' }, '422 42210000 notional must be >= 1'],
    [{ type: 'limit' }, '422 40010001 limit_price is required'],
    [{ type: 'stop' }, '422 40010001 stop_price is required'],
    [{ type: 'limit', limit: '10.001' }, '422 42210000 invalid limit_price 10.001. sub-penny increment does not fulfill minimum pricing criteria'],
    [{ type: 'limit', limit: '0.12345' }, '422 42210000 invalid limit_price 0.12345. sub-penny increment does not fulfill minimum pricing criteria'],
    [{ type: 'stop', stop: '-1' }, '422 40010001 invalid stop_price'],
    [{ asset: { tradable: false } }, '422 42210000 asset AAPL is not tradable'],
  ])('rejected: %j → %s', (o, expected) => {
    expect(rejection(o)).toBe(expected);
  });
});

describe('idempotency by client_order_id (row 24)', () => {
  it('the same payload again returns the existing order and emits nothing new', () => {
    const r = play([...session(), submit({ id: 'o1', cid: 'k', type: 'limit', limit: '10' }), submit({ id: 'o1-retry', cid: 'k', type: 'limit', limit: '10.00' })]);
    expect(r.replies[1]).toMatchObject({ ok: true, duplicate: true, order: { id: 'o1' } });
    expect(r.events).toEqual(['new:o1']);
    expect(Object.keys(r.state.orders)).toEqual(['o1']);
  });
  it('a different payload with a used client_order_id → 422', () => {
    const r = play([...session(), submit({ id: 'o1', cid: 'k', type: 'limit', limit: '10' }), submit({ id: 'o2', cid: 'k', type: 'limit', limit: '11' })]);
    expect(r.replies[1]).toMatchObject({ ok: false, status: 422, code: 40010001, message: 'client_order_id must be unique' });
    expect(Object.keys(r.state.orders)).toEqual(['o1']);
  });
  it('a rejected submit leaves the client_order_id free', () => {
    const r = play([...session(), submit({ id: 'o1', cid: 'k', type: 'limit', limit: '10', qty: '100000' }), submit({ id: 'o2', cid: 'k', qty: '1' })]);
    expect(r.replies.map((x) => x.ok)).toEqual([false, true]);
    expect(r.clientIds).toEqual(['k→o2']);
  });
  it('ids used before a settle pruned their orders stay taken: a duplicate is recognised without the order in the state', () => {
    const r = play([...session(), submit({ id: 'o1', cid: 'k', type: 'limit', limit: '9' }), settle(), submit({ id: 'o2', cid: 'k', type: 'limit', limit: '9' }), submit({ id: 'o3', cid: 'k', type: 'limit', limit: '8' })]);
    expect(r.state.orders).toEqual({});
    expect(r.replies.slice(-2)).toMatchObject([
      { ok: true, duplicate: true },
      { ok: false, status: 422, message: 'client_order_id must be unique' },
    ]);
    expect(r.replies.at(-2)).not.toHaveProperty('order');
  });
  it('the history is the caller\'s: step reads it, never changes it, and returns what to add; the state does not grow with it', () => {
    const index = new mbt.MemoryHistory();
    let state = mbt.initialState({ id: 'acct-1' });
    for (const input of session()) state = mbt.step(state, input, {}, index).state;
    const before = JSON.stringify(state).length;
    for (let i = 0; i < 200; i++) {
      const r = mbt.step(state, submit({ id: `o${i}`, cid: `c${i}`, type: 'limit', limit: '1' }), {}, index);
      expect(r.clientIds).toEqual([{ clientOrderId: `c${i}`, orderId: `o${i}`, fingerprint: expect.any(String) }]);
      expect(index.size).toBe(i); // not added by the step itself
      index.add(r.clientIds, r.closed);
      state = r.state;
    }
    state = mbt.step(state, settle(), {}, index).state;
    expect(JSON.stringify(state).length).toBeLessThan(before + 400); // the DAY orders expired and were pruned; 200 ids live in the index only
    const again = mbt.step(state, submit({ id: 'x', cid: 'c7', type: 'limit', limit: '1' }), {}, index);
    expect(again.outputs).toEqual([expect.objectContaining({ type: 'reply', ok: true, duplicate: true })]);
    expect(again.clientIds).toEqual([]);
  });
});

describe('cancel, cancel all, replace', () => {
  it('cancel of a filled order → 422 and order_cancel_rejected', () => {
    const r = play([...session(), submit(), quote(1, 10, 10.02), cancel('o1')]);
    expect(r.replies[1]).toMatchObject({ ok: false, status: 422, message: 'order is already in "filled" state' });
    expect(r.events).toEqual(['new:o1', 'fill:o1', 'order_cancel_rejected:o1']);
  });
  it('a closed order leaves the state in the step that closed it; the history answers for it, and without it the order is unknown', () => {
    const r = play([...session(), submit(), quote(1, 10, 10.02)]);
    expect(r.state.orders).toEqual({});
    expect(r.orders.o1).toMatchObject({ status: 'filled', reserved_cash: '0' });
    const later = [cancel('o1'), replace('o1', 'o2', { qty: '200' })];
    const withHistory = new mbt.MemoryHistory();
    withHistory.add([], [r.orders.o1!]);
    const known = later.map((input) => mbt.step(r.state, input, {}, withHistory).outputs);
    expect(known[0]).toEqual([
      expect.objectContaining({ type: 'trade_update', event: 'order_cancel_rejected', order: r.orders.o1 }),
      expect.objectContaining({ type: 'reply', ok: false, status: 422, message: 'order is already in "filled" state' }),
    ]);
    expect(known[1]).toEqual([
      expect.objectContaining({ type: 'trade_update', event: 'order_replace_rejected', order: r.orders.o1 }),
      expect.objectContaining({ type: 'reply', ok: false, status: 422, message: 'order is not replaceable (status: filled)' }),
    ]);
    for (const input of later) expect(mbt.step(r.state, input).outputs).toEqual([expect.objectContaining({ type: 'reply', ok: false, status: 404 })]);
  });
  it('an order id used before is refused even after its order closed', () => {
    const r = play([...session(), submit({ id: 'o1', cid: 'a' }), quote(1, 10, 10.02), submit({ id: 'o1', cid: 'b' })]);
    expect(r.replies.at(-1)).toMatchObject({ ok: false, status: 422, message: 'order id already exists' });
  });
  it('cancel of an unknown order → 404', () => {
    expect(play([cancel('nope')]).replies[0]).toMatchObject({ ok: false, status: 404, code: 40410000 });
  });
  it('cancel all cancels every open order in acceptance order', () => {
    const r = play([...session(), submit({ id: 'a', type: 'limit', limit: '9' }), submit({ id: 'b', type: 'limit', limit: '8' }), cancelAll()]);
    expect(r.events).toEqual(['new:a', 'new:b', 'canceled:a', 'canceled:b']);
    expect(r.replies[2]).toMatchObject({ ok: true, orders: [{ id: 'a', status: 'canceled' }, { id: 'b', status: 'canceled' }] });
  });
  it('replace: the old order ends replaced, the new one works from the next quote at its new price', () => {
    const r = play([
      ...session(),
      submit({ type: 'limit', limit: '9.00' }),
      quote(1, 9.9, 10),
      replace('o1', 'o2', { limit_price: '10.05' }),
      quote(2, 9.95, 10.01),
    ]);
    expect(r.events).toEqual(['new:o1', 'replaced:o1', 'new:o2', 'fill:o2']);
    expect(r.orders.o1).toMatchObject({ status: 'replaced', replaced_by: 'o2' });
    expect(r.orders.o2).toMatchObject({ replaces: 'o1', limit_price: '10.05', client_order_id: 'cid-o2' });
    expect(fillsOf(r)).toEqual(['100@10.01#2/limit_taker']);
    expect(r.orders.o1?.reserved_cash).toBe('0');
    expect(r.orders.o2?.reserved_cash).toBe('0');
  });
  it('replace after a partial fill keeps the fills; qty is the new total', () => {
    const r = play([...session(), submit({ qty: '150', type: 'limit', limit: '10.05' }), quote(1, 10, 10.02, { as: 1 }), replace('o1', 'o2', { qty: '120' }), quote(2, 10, 10.02, { as: 1 })]);
    expect(fillsOf(r)).toEqual(['100@10.02#1/limit_taker', '20@10.02#2/limit_taker']);
    expect(r.orders.o2).toMatchObject({ status: 'filled', filled_qty: '120' });
  });
  it.each([
    ['qty not above filled', { qty: '100' }, 'qty must be > filled_qty'],
    ['sub-penny price', { limit_price: '10.001' }, 'invalid limit_price 10.001. sub-penny increment does not fulfill minimum pricing criteria'],
    ['more than buying power', { qty: '100000' }, 'insufficient buying power'],
  ])('replace refused (%s) → order_replace_rejected, old order untouched', (_, patch, message) => {
    const r = play([...session(), submit({ qty: '150', type: 'limit', limit: '10.05' }), quote(1, 10, 10.02, { as: 1 }), replace('o1', 'o2', patch)]);
    expect(r.replies[1]).toMatchObject({ ok: false, message });
    expect(r.events.at(-1)).toBe('order_replace_rejected:o1');
    expect(r.state.orders.o1?.status).toBe('partially_filled');
    expect(r.state.orders.o2).toBeUndefined();
  });
  it('replace of a filled order → 422', () => {
    const r = play([...session(), submit(), quote(1, 10, 10.02), replace('o1', 'o2', { qty: '200' })]);
    expect(r.replies[1]).toMatchObject({ ok: false, status: 422, message: 'order is not replaceable (status: filled)' });
  });
  it('replace holds only the difference: the old reservation is released into the check', () => {
    const r = play([...session(), submit({ type: 'limit', limit: '10', qty: '900' }), replace('o1', 'o2', { qty: '1000' })], { cash: '10000' });
    expect(r.replies[1]).toMatchObject({ ok: true });
  });
});
