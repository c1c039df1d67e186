// The session's topics at scale, against an in-memory hub that counts references and how many acquires are in flight
// at once: a large subscribe acquires its fresh topics together (not one round trip after another) and holds each
// once, a tier change drops thousands in one pass and gives every one back, a close while acquires are in flight
// leaks nothing, a failed acquire fails the request without losing the others, and a resume naming every key is
// answered key by key.
import { describe, expect, it } from 'vitest';
import type { Line, TickKind } from '../../../src/contracts/index.js';
import type { HubPort } from '../../../src/gateway/hub-port.js';
import { SocketSession, type SocketIo } from '../../../src/gateway/socket-session.js';

/** A hub whose acquire answers after a timer (as a SUBSCRIBE would), counting refs per topic. */
function fakeHub(opts: { failSymbol?: string } = {}) {
  const refs = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const topic = (line: Line, kind: TickKind, symbol: string) => `md:${line}:${kind}:${symbol}`;
  const hub: HubPort = {
    topic,
    async acquire(line, kind, symbol) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      if (symbol === opts.failSymbol) throw new Error('SUBSCRIBE failed');
      const t = topic(line, kind, symbol);
      refs.set(t, (refs.get(t) ?? 0) + 1);
    },
    async release(line, kind, symbol) {
      const t = topic(line, kind, symbol);
      const n = refs.get(t) ?? 0;
      if (n <= 0) throw new Error(`released more than acquired: ${t}`);
      if (n === 1) refs.delete(t);
      else refs.set(t, n - 1);
    },
    snapshot: async () => [],
    replay: async () => ({ frames: [], complete: true, lastSeq: 0 }),
    status: async () => null,
    close: () => {},
  };
  return { hub, refs, maxInFlight: () => maxInFlight };
}

function session(tier: 'free' | 'pro' | 'pro_plus', hub: HubPort) {
  const joined = new Set<string>();
  const sent: Array<Record<string, unknown>> = [];
  const io: SocketIo = {
    send: (t) => void sent.push(JSON.parse(t) as Record<string, unknown>),
    subscribe: (t) => {
      if (joined.has(t)) throw new Error(`joined twice: ${t}`);
      joined.add(t);
    },
    unsubscribe: (t) => {
      if (!joined.delete(t)) throw new Error(`left without joining: ${t}`);
    },
  };
  const s = new SocketSession(1, 'user-1', tier, 'user', io, hub, { actionsPerSecond: 10, maxStrikes: 5, maxQueued: 50 }, { error: () => {} });
  return { s, joined, sent };
}

const symbols = (n: number) => Array.from({ length: n }, (_, i) => `S${String(i).padStart(4, '0')}`);

describe('SocketSession topics at scale', () => {
  it('a Pro+ subscribe of 1,000 symbols acquires its 2,000 fresh topics together and holds each once; a downgrade gives back all but the kept ones', async () => {
    const h = fakeHub();
    const { s, joined } = session('pro_plus', h.hub);
    const list = symbols(1000);
    await s.subscribe({ action: 'subscribe', quotes: list, trades: list });
    expect(joined.size).toBe(2000);
    expect(h.refs.size).toBe(2000);
    expect([...h.refs.values()].every((n) => n === 1)).toBe(true);
    expect(h.maxInFlight()).toBe(2000); // all at once, not one round trip after another

    // Subscribing the same again acquires nothing more.
    await s.subscribe({ action: 'subscribe', quotes: list.slice(0, 10) });
    expect(h.refs.size).toBe(2000);

    // Free: 25 symbols on the delayed line; every real-time topic is given back and left.
    await s.retier('free', 'user');
    expect(joined.size).toBe(50);
    expect([...joined].every((t) => t.startsWith('md:dl:'))).toBe(true);
    expect([...h.refs.keys()].sort()).toEqual([...joined].sort());

    s.dispose();
    expect(h.refs.size).toBe(0);
  });

  it('a socket closed while its acquires are in flight gives every one of them back', async () => {
    const h = fakeHub();
    const { s, joined } = session('pro', h.hub);
    const list = symbols(200);
    await s.subscribe({ action: 'subscribe', quotes: list.slice(0, 5) });
    const pending = s.subscribe({ action: 'subscribe', quotes: list });
    await new Promise((r) => setImmediate(r)); // the acquires are in flight
    s.dispose();
    await pending;
    expect(h.refs.size).toBe(0);
    expect(joined.size).toBe(5); // the socket is gone: nothing is joined after the close
  });

  it('a failed acquire fails the request; the topics acquired beside it are held and given back on close', async () => {
    const h = fakeHub({ failSymbol: 'S0003' });
    const { s, joined } = session('pro', h.hub);
    await expect(s.subscribe({ action: 'subscribe', quotes: symbols(10) })).rejects.toThrow('SUBSCRIBE failed');
    expect(joined.size).toBe(9);
    expect(h.refs.size).toBe(9);
    s.dispose();
    expect(h.refs.size).toBe(0);
  });

  it('a resume naming 2,000 keys answers each one, in the order given', async () => {
    const h = fakeHub();
    const { s, sent } = session('pro_plus', h.hub);
    const list = symbols(1000);
    const resume = Object.fromEntries(list.flatMap((sym, i) => [[`q:${sym}`, i], [`t:${sym}`, i]]));
    await s.subscribe({ action: 'subscribe', quotes: list, trades: list, resume });
    const answers = sent.filter((m) => m.T === 'resume');
    expect(answers.map((m) => m.key)).toEqual(Object.keys(resume));
    expect(answers.every((m) => m.recovered === true)).toBe(true);
  });
});
