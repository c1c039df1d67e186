// Properties over random logs: fills never exceed orders or precede acceptance, cash and holds reconcile to the
// fills, and the engine is a pure, deterministic function of the log.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialState, MemoryHistory, parseMbtInput, run, step } from '../../../src/domain/mbt/index.js';
import type { MbtConfig, MbtInput, MbtOutput, MbtState, OrderView, TradeUpdateOutput } from '../../../src/domain/mbt/index.js';
import { rth, session } from './log.js';

const D = (s: string) => Number(s);
const cents = (c: number) => (c / 100).toFixed(2);

type Action =
  | { a: 'quote'; bid: number; spread: number; bs: number; as: number; dup: boolean }
  | { a: 'submit'; side: 'buy' | 'sell'; type: 'market' | 'limit' | 'stop' | 'stop_limit'; tif: 'day' | 'gtc' | 'ioc' | 'fok'; qty: number; off: number }
  | { a: 'cancel'; pick: number }
  | { a: 'replace'; pick: number; qty: number; off: number }
  | { a: 'status'; sc: 'H' | 'T' | 'Q' };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      a: fc.constant('quote' as const),
      bid: fc.integer({ min: 950, max: 1050 }),
      // Mostly valid quotes, with crossed (-1), locked (0) and one-sided (size 0) ones mixed in.
      spread: fc.constantFrom(-1, 0, 1, 1, 2, 2, 3, 4),
      bs: fc.constantFrom(0, 1, 1, 2, 3, 5),
      as: fc.constantFrom(0, 1, 1, 2, 3, 5),
      dup: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      a: fc.constant('submit' as const),
      side: fc.constantFrom('buy' as const, 'buy' as const, 'sell' as const),
      type: fc.constantFrom('market' as const, 'market' as const, 'limit' as const, 'limit' as const, 'stop' as const, 'stop_limit' as const),
      tif: fc.constantFrom('day' as const, 'gtc' as const, 'ioc' as const, 'fok' as const),
      qty: fc.integer({ min: 1, max: 400 }),
      off: fc.integer({ min: -20, max: 20 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('replace' as const), pick: fc.nat(), qty: fc.integer({ min: 1, max: 400 }), off: fc.integer({ min: -20, max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('status' as const), sc: fc.constantFrom('H' as const, 'T' as const, 'Q' as const) }) },
);

function parse(v: unknown): MbtInput {
  const r = parseMbtInput(v);
  if (!r.ok) throw new Error(r.message);
  return r.input;
}

/** Turns random actions into a valid log (quotes with increasing seqs, occasionally redelivered). */
function toLog(actions: Action[]): MbtInput[] {
  const log: MbtInput[] = [...session()];
  let seq = 0;
  let mid = 1000;
  const ids: string[] = [];
  actions.forEach((x, i) => {
    const ts = rth(i);
    if (x.a === 'quote') {
      mid = x.bid;
      if (!x.dup || seq === 0) seq += 1;
      log.push(parse({ type: 'quote', S: 'AAPL', seq, ts, bp: cents(x.bid), bs: x.bs, ap: cents(x.bid + x.spread), as: x.as }));
    } else if (x.a === 'submit') {
      const id = `o${i}`;
      ids.push(id);
      const px = cents(mid + x.off);
      log.push(
        parse({
          type: 'command',
          kind: 'submit',
          id: `c${i}`,
          ts,
          order: {
            id,
            client_order_id: `k${i}`,
            symbol: 'AAPL',
            side: x.side,
            type: x.type,
            time_in_force: x.tif,
            qty: String(x.qty),
            ...(x.type === 'limit' || x.type === 'stop_limit' ? { limit_price: px } : {}),
            ...(x.type === 'stop' || x.type === 'stop_limit' ? { stop_price: cents(mid + x.off / 2) } : {}),
          },
        }),
      );
    } else if (x.a === 'cancel' && ids.length) {
      log.push(parse({ type: 'command', kind: 'cancel', id: `c${i}`, ts, order_id: ids[x.pick % ids.length] }));
    } else if (x.a === 'replace' && ids.length) {
      const id = `r${i}`;
      const patch = { qty: String(x.qty), client_order_id: `k${i}`, limit_price: cents(mid + x.off) };
      log.push(parse({ type: 'command', kind: 'replace', id: `c${i}`, ts, order_id: ids[x.pick % ids.length], new_order_id: id, patch }));
      ids.push(id);
    } else if (x.a === 'status') {
      log.push(parse({ type: 'status', S: 'AAPL', sc: x.sc, ts }));
    }
  });
  return log;
}

const accounts = fc.constantFrom({ type: 'cash' as const, cash: '5000' }, { type: 'margin' as const, cash: '5000' }, { type: 'cash' as const, cash: '100000' });

/** Steps a log one input at a time, keeping what the state does not: closed orders and each order's acceptance seq. */
function stepThrough(state: MbtState, log: MbtInput[], config: Partial<MbtConfig> = {}) {
  const history = new MemoryHistory();
  const outputs: MbtOutput[] = [];
  const closed = new Map<string, OrderView>();
  const acceptSeq = new Map<string, number>();
  for (const input of log) {
    const r = step(state, input, config, history);
    history.add(r.clientIds, r.closed);
    state = r.state;
    outputs.push(...r.outputs);
    for (const o of Object.values(state.orders)) if (!acceptSeq.has(o.id)) acceptSeq.set(o.id, o.work.acceptSeq);
    for (const v of r.closed) closed.set(v.id, v);
  }
  return { state, outputs, closed, acceptSeq };
}

function checkInvariants(r: ReturnType<typeof stepThrough>, fills: TradeUpdateOutput[], startCash: string): void {
  const { state, closed, acceptSeq } = r;
  // Only open orders stay in the state; closed ones hold nothing.
  for (const o of Object.values(state.orders)) expect(['accepted', 'new', 'partially_filled']).toContain(o.status);
  for (const v of closed.values()) expect(v.reserved_cash).toBe('0');
  const views: OrderView[] = [...Object.values(state.orders).map(({ work, ...o }) => ({ ...o, reserved_cash: work.reserved })), ...closed.values()];
  const byId = new Map(views.map((v) => [v.id, v]));
  // Σ fill qty ≤ order qty (per order, and what the order records).
  const byOrder = new Map<string, number>();
  for (const f of fills) byOrder.set(f.order.id, (byOrder.get(f.order.id) ?? 0) + D(f.qty!));
  for (const o of views) {
    const carried = o.replaces ? D(byId.get(o.replaces)?.filled_qty ?? '0') : 0;
    expect(D(o.filled_qty)).toBeCloseTo(carried + (byOrder.get(o.id) ?? 0), 9);
    if (o.qty !== null) expect(D(o.filled_qty)).toBeLessThanOrEqual(D(o.qty));
    expect(D(o.reserved_cash)).toBeGreaterThanOrEqual(0);
  }
  // No fill on a quote at or before the order's acceptance.
  for (const f of fills) expect(f.quote_seq!).toBeGreaterThan(acceptSeq.get(f.order.id)!);
  // Cash = start − buys + sells (fees are zero here), in cents, exactly.
  let cashCents = Math.round(D(startCash) * 100);
  let position = 0;
  for (const f of fills) {
    const value = Math.round(D(f.qty!) * D(f.price!) * 100);
    cashCents += f.order.side === 'buy' ? -value : value;
    position += f.order.side === 'buy' ? D(f.qty!) : -D(f.qty!);
  }
  expect(Math.round(D(state.account.cash) * 100)).toBe(cashCents);
  expect(D(state.positions.AAPL?.qty ?? '0')).toBe(position);
  const reserved = Object.values(state.orders).reduce((s, o) => s + D(o.work.reserved), 0);
  if (state.account.type === 'cash') {
    // A cash account never overdraws and never shorts; open buys are covered by cash.
    expect(D(state.account.cash)).toBeGreaterThanOrEqual(0);
    expect(reserved).toBeLessThanOrEqual(D(state.account.cash) + 1e-9);
    expect(position).toBeGreaterThanOrEqual(0);
  }
}

describe('MBT properties', () => {
  it('fills ≤ qty, never before acceptance; cash, holds and positions reconcile', () => {
    let seen = 0;
    fc.assert(
      fc.property(fc.array(action, { minLength: 5, maxLength: 60 }), accounts, (actions, account) => {
        const r = stepThrough(initialState({ id: 'p', ...account }), toLog(actions));
        const fills = r.outputs.filter((o): o is TradeUpdateOutput => o.type === 'trade_update' && (o.event === 'fill' || o.event === 'partial_fill'));
        checkInvariants(r, fills, account.cash);
        seen += fills.length;
      }),
      { numRuns: 300, seed: 20260105 },
    );
    // The generator must actually produce fills, or the invariants above prove nothing.
    expect(seen).toBeGreaterThan(150);
  });

  it('determinism: the same log gives byte-identical outputs and state; step never mutates its state or history', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 5, maxLength: 40 }), accounts, fc.integer(), (actions, account, seed) => {
        const log = toLog(actions);
        const config = { randomPartials: { seed, probability: 0.3 } };
        const a = run(initialState({ id: 'p', ...account }), log, config);
        const b = run(initialState({ id: 'p', ...account }), log, config);
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
        let state = initialState({ id: 'p', ...account });
        const history = new MemoryHistory();
        const outputs: MbtOutput[] = [];
        for (const input of log) {
          const before = JSON.stringify(state);
          const known = history.size;
          const next = step(state, input, config, history);
          expect(JSON.stringify(state)).toBe(before);
          expect(history.size).toBe(known);
          history.add(next.clientIds, next.closed);
          outputs.push(...next.outputs);
          // Persisting and reloading the state (JSON) changes nothing.
          state = JSON.parse(JSON.stringify(next.state)) as MbtState;
        }
        expect(JSON.stringify(state)).toBe(JSON.stringify(a.state));
        expect(JSON.stringify(outputs)).toBe(JSON.stringify(a.outputs));
      }),
      { numRuns: 150, seed: 7 },
    );
  });
});
