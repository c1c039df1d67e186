// A replay may start from a checkpoint (the engine state after n inputs) instead of a fresh account: for every example
// log and every split point, the header {state} plus the remaining inputs gives exactly the outputs and the final
// state of the whole log from there on. Retention relies on it (docs/workers.md): it removes the inputs before a
// checkpoint, and an export then starts from that checkpoint. Also: `step` never changes the state it is given (the
// actor keeps it when a turn rolls back), and its copy of the state is a faithful deep copy.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mbt } from '../../../src/domain/index.js';
import { copyState } from '../../../src/domain/mbt/state.js';
import { repoRoot } from '../../support/processes.js';

const examples = join(repoRoot, 'docs/examples/mbt');
const files = readdirSync(examples).filter((f) => f.endsWith('.jsonl'));

function replay(log: mbt.ReplayLog): { outputs: mbt.MbtOutput[][]; state: mbt.MbtState; history: mbt.MemoryHistory } {
  let state = log.state ?? mbt.initialState(log.account);
  const history = new mbt.MemoryHistory();
  history.add(log.history ?? []);
  const outputs: mbt.MbtOutput[][] = [];
  for (const { input } of log.inputs) {
    const r = mbt.step(state, input, log.config, history);
    state = r.state;
    history.add(r.clientIds, r.closed);
    outputs.push(r.outputs);
  }
  return { outputs, state, history };
}

/** The example's lines: header first, then its inputs (comments and blank lines dropped). */
function linesOf(file: string): string[] {
  return readFileSync(join(examples, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

describe('replay from a checkpoint', () => {
  it.each(files)('%s: every split point gives the same outputs and final state as the whole log', (file) => {
    const [headerLine, ...inputLines] = linesOf(file);
    const whole = replay(mbt.parseReplayLog([headerLine, ...inputLines].join('\n')));
    const header = JSON.parse(headerLine!) as Record<string, unknown>;
    expect(inputLines.length).toBeGreaterThan(5);
    for (let k = 0; k <= inputLines.length; k++) {
      const before = replay(mbt.parseReplayLog([headerLine, ...inputLines.slice(0, k)].join('\n')));
      // The checkpoint travels as JSON, as an export writes it, and passes the state schema on the way in.
      const { cash: _cash, account_type: _type, ...rest } = header;
      const clientIds = Object.values(before.state.orders).map((o) => {
        const [orderId, fingerprint] = before.history.clientId(o.client_order_id)!;
        expect(orderId).toBe(o.id);
        return { client_order_id: o.client_order_id, order_id: orderId, fingerprint };
      });
      const checkpoint = JSON.stringify({ ...rest, state: JSON.parse(JSON.stringify(before.state)), after_input: k, client_ids: clientIds });
      const after = replay(mbt.parseReplayLog([checkpoint, ...inputLines.slice(k)].join('\n')));
      expect(after.outputs, `split after input ${k}`).toEqual(whole.outputs.slice(k));
      expect(after.state, `split after input ${k}`).toEqual(whole.state);
    }
  });

  it.each(files)('%s: step never changes the state it is given (every input applied to a deep-frozen state)', (file) => {
    const log = mbt.parseReplayLog(linesOf(file).join('\n'));
    const whole = replay(log);
    let state = deepFreeze(mbt.initialState(log.account));
    const history = new mbt.MemoryHistory();
    const outputs: mbt.MbtOutput[][] = [];
    for (const { input } of log.inputs) {
      const r = mbt.step(state, input, log.config, history); // strict mode: a write to a frozen state throws
      history.add(r.clientIds, r.closed);
      outputs.push(r.outputs);
      state = deepFreeze(r.state);
    }
    expect(outputs).toEqual(whole.outputs);
  });

  it('copies the state deeply, key for key, a "__proto__" key included', () => {
    const log = mbt.parseReplayLog(linesOf('margin-short.jsonl').join('\n'));
    const { state } = replay({ ...log, inputs: log.inputs.slice(0, 6) });
    const copy = copyState(state);
    expect(copy).toStrictEqual(state);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(state));
    const [id] = Object.keys(state.orders);
    copy.orders[id!]!.work.reserved = '1';
    copy.account.cash = '2';
    expect(state.orders[id!]!.work.reserved).not.toBe('1');
    expect(state.account.cash).not.toBe('2');
    const odd = JSON.parse('{"__proto__": {"polluted": true}, "a": [1, {"b": null}]}') as Record<string, unknown>;
    const copied = copyState({ ...state, orders: odd } as unknown as mbt.MbtState) as unknown as Record<string, unknown>;
    const orders = copied.orders as Record<string, unknown>;
    expect(Object.getPrototypeOf(orders)).toBe(Object.prototype);
    expect(Object.keys(orders)).toEqual(['__proto__', 'a']);
    expect((orders as { polluted?: boolean }).polluted).toBeUndefined();
    expect(orders.a).toEqual([1, { b: null }]);
  });

  it('refuses a checkpoint header that contradicts its state, or a state that is not an engine state', () => {
    const state = mbt.initialState({ id: 'acct-1', type: 'margin', cash: '5000' });
    const parse = (header: object) => () => mbt.parseReplayLog(JSON.stringify(header));
    expect(parse({ type: 'account', id: 'acct-1', state, after_input: 3 })).not.toThrow();
    expect(mbt.parseReplayLog(JSON.stringify({ type: 'account', id: 'acct-1', state })).account).toEqual({ id: 'acct-1', type: 'margin', cash: '5000' });
    expect(parse({ type: 'account', id: 'acct-2', state })).toThrow(/state\.account\.id: must equal the header id/);
    expect(parse({ type: 'account', id: 'acct-1', account_type: 'cash', state })).toThrow(/account_type: must equal state\.account\.type/);
    expect(parse({ type: 'account', id: 'acct-1', cash: '5000', state })).toThrow(/cash: not with state/);
    expect(parse({ type: 'account', id: 'acct-1', after_input: 3 })).toThrow(/after_input: only with state/);
    expect(parse({ type: 'account', id: 'acct-1', client_ids: [] })).toThrow(/client_ids: only with state/);
    expect(parse({ type: 'account', id: 'acct-1', state, client_ids: [{ client_order_id: 'c', order_id: 'o-9', fingerprint: 'f' }] })).toThrow(
      /client_ids\.0\.order_id: not an order of the state/,
    );
    expect(parse({ type: 'account', id: 'acct-1', state: { ...state, account: { ...state.account, cash: '1e5' } } })).toThrow(/state\.account\.cash: must be a decimal string/);
    expect(parse({ type: 'account', id: 'acct-1', state: { ...state, v: 2 } })).toThrow(/state\.v/);
    expect(parse({ type: 'account', id: 'acct-1', state: { ...state, extra: true } })).toThrow(/state/);
    try {
      parse({ type: 'account', id: 'acct-2', state })();
    } catch (err) {
      expect(err).toBeInstanceOf(mbt.ReplayLogError);
      expect((err as mbt.ReplayLogError).line).toBe(1);
    }
  });
});

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
