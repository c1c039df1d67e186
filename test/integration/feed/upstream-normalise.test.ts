// The upstream normaliser fed directly: Alpaca maps in, UpstreamTicks out; bad input counted and skipped, never thrown.
import { describe, expect, it } from 'vitest';
import { backoffDelay, createTickNormaliser, formatRfc3339Ns, timestampNs } from '../../../src/actors/feed/upstream/index.js';

const ts = (epochSeconds: number, nanos: number) => ({ epochSeconds, nanos }); // what the SDK's msgpack codec yields
const T0 = Date.parse('2026-03-02T14:30:00Z') / 1000;

function fresh() {
  const stats = { messages: 0, skipped: 0, outOfOrder: 0 };
  return { stats, n: createTickNormaliser(stats) };
}

describe('upstream normaliser', () => {
  it('keeps Alpaca field names, drops T/S/t, gives RFC 3339 with 9 digits and ns', () => {
    const { stats, n } = fresh();
    const q = n.normalise({ T: 'q', S: 'AAPL', bx: 'V', bp: 189.1, bs: 100, ax: 'V', ap: 189.12, as: 200, c: ['R'], z: 'C', t: ts(T0, 123_456_789) }, false);
    expect(q).toEqual({
      kind: 'q', symbol: 'AAPL', t: '2026-03-02T14:30:00.123456789Z', tNs: BigInt(T0) * 1_000_000_000n + 123_456_789n,
      fields: { bx: 'V', bp: 189.1, bs: 100, ax: 'V', ap: 189.12, as: 200, c: ['R'], z: 'C' }, delayed: false,
    });
    const tr = n.normalise({ T: 't', S: 'BRK.B', i: 2n ** 60n, x: 'D', p: 411.0001, s: 5n, c: ['@', 'I'], z: 'A', t: ts(T0, 5) }, true)!;
    expect(tr.t).toBe('2026-03-02T14:30:00.000000005Z');
    expect(tr.fields).toEqual({ i: (2n ** 60n).toString(), x: 'D', p: 411.0001, s: 5, c: ['@', 'I'], z: 'A' });
    expect(tr.delayed).toBe(true);
    // JSON-stream strings are accepted too (any offset, up to 9 digits)
    const b = n.normalise({ T: 'b', S: 'MSFT', o: 1, h: 2, l: 0.5, c: 1.5, v: 1000, n: 10, vw: 1.2, t: '2026-03-02T09:31:00.5-05:00' }, false)!;
    expect(b.t).toBe('2026-03-02T14:31:00.500000000Z');
    for (const m of [
      { T: 's', S: 'AAPL', sc: 'H', sm: 'Trading Halt', rc: 'T1', rm: 'Halt News Pending', z: 'C', t: ts(T0, 1) },
      { T: 'l', S: 'AAPL', u: 200, d: 180, i: 'B', z: 'C', t: ts(T0, 1) },
      { T: 'u', S: 'MSFT', o: 1, h: 2, l: 0.5, c: 1.5, v: 1001, t: '2026-03-02T14:31:00Z' },
      { T: 'd', S: 'MSFT', o: 1, h: 2, l: 0.5, c: 1.5, v: 9000, t: '2026-03-02T05:00:00Z' },
    ]) expect(n.normalise(m, false)?.kind).toBe(m.T);
    expect(stats).toEqual({ messages: 7, skipped: 0, outOfOrder: 0 });
  });

  it('counts and skips malformed, unknown, incomplete and out-of-order messages', () => {
    const { stats, n } = fresh();
    const bad: unknown[] = [
      null, 42, 'q', [], { S: 'AAPL' },
      { T: 'zz', S: 'AAPL', t: ts(T0, 0) }, // unknown T
      { T: 'q', S: 'aapl!', bp: 1, bs: 1, ap: 1, as: 1, t: ts(T0, 0) }, // bad symbol
      { T: 'q', S: 'AAPL', bp: 1, bs: 1, ap: 1, t: ts(T0, 0) }, // missing `as`
      { T: 't', S: 'AAPL', p: 'x', s: 1, t: ts(T0, 0) }, // non-numeric price
      { T: 't', S: 'AAPL', p: Number.NaN, s: 1, t: ts(T0, 0) },
      { T: 's', S: 'AAPL', t: ts(T0, 0) }, // status without sc
      { T: 't', S: 'AAPL', p: 1, s: 1 }, // no timestamp
      { T: 't', S: 'AAPL', p: 1, s: 1, t: ts(T0, 1_000_000_000) }, // nanos out of range
      { T: 't', S: 'AAPL', p: 1, s: 1, t: 'yesterday' },
      { T: 't', S: 'AAPL', p: 1, s: 1, t: { epochSeconds: 'x', nanos: 0 } },
    ];
    for (const m of bad) expect(n.normalise(m, false)).toBeUndefined();
    expect(stats.skipped).toBe(bad.length);

    // corrections / cancel errors are real Alpaca messages the feed does not republish: ignored, not "bad"
    expect(n.normalise({ T: 'c', S: 'AAPL', t: ts(T0, 0) }, false)).toBeUndefined();
    expect(n.lastSkip).toBe('not_published');
    expect(stats.skipped).toBe(bad.length);

    // out of order per (kind, symbol): the older tick is counted and skipped; equal stamps pass; other keys unaffected
    const trade = (sec: number, ns: number, S = 'AAPL') => ({ T: 't', S, p: 1, s: 1, t: ts(sec, ns) });
    expect(n.normalise(trade(T0, 500), false)).toBeDefined();
    expect(n.normalise(trade(T0, 499), false)).toBeUndefined();
    expect(n.lastSkip).toBe('out_of_order');
    expect(n.normalise(trade(T0, 500), false)).toBeDefined();
    expect(n.normalise(trade(T0, 100, 'MSFT'), false)).toBeDefined();
    expect(n.normalise({ T: 'q', S: 'AAPL', bp: 1, bs: 1, ap: 1, as: 1, t: ts(T0, 1) }, false)).toBeDefined();
    expect(stats).toEqual({ messages: 4, skipped: bad.length, outOfOrder: 1 });

    // forgetting a symbol (unsubscribed) or everything (feed changed to delayed_sip) resets the ordering
    n.forget(['AAPL']);
    expect(n.normalise(trade(T0 - 900, 0), false)).toBeDefined();
    n.forget();
    expect(n.normalise(trade(T0 - 1800, 0, 'MSFT'), false)).toBeDefined();
  });

  it('timestamp helpers and backoff numbers', () => {
    expect(timestampNs({ sec: 1, nsec: 2 })).toBe(1_000_000_002n);
    expect(timestampNs('1970-01-01T00:00:01.000000002Z')).toBe(1_000_000_002n);
    expect(formatRfc3339Ns(1_000_000_002n)).toBe('1970-01-01T00:00:01.000000002Z');
    const s = { initialMs: 500, maxMs: 30_000, jitter: 0.2 };
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, s, () => 0.5))).toEqual([500, 1000, 2000, 4000, 30_000]);
    expect(backoffDelay(0, s, () => 0)).toBe(400);
    expect(backoffDelay(20, s, () => 1)).toBe(36_000);
  });
});
