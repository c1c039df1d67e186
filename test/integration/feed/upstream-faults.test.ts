// Alpaca's error codes against the real simulator and the official SDK: 406 slot backoff, 402 stop (and reconnect
// after fixing the key), 409 fallback to delayed_sip, 405 symbol limit, key rotation.
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../../support/wait.js';
import { createUpstream, type UpstreamEvent, type UpstreamOptions, type UpstreamTick } from '../../../src/actors/feed/upstream/index.js';
import { startTestSimulator } from '../../support/simulator.js';
import type { RunningSimulator } from '../../../src/sim/server.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


async function sim(): Promise<Awaited<ReturnType<typeof startTestSimulator>>> {
  const s = await startTestSimulator({ SIM_RATE: '2000', SIM_SYMBOLS: '60', SIM_KEYS: 'k1:s1:algo_trader_plus,k2:s2:basic' });
  cleanups.push(() => s.close());
  return s;
}

interface SimConnection { feed: string; authenticated: boolean; plan: string | null; subscription: Record<string, string[]> }
async function connections(s: RunningSimulator): Promise<SimConnection[]> {
  return ((await (await fetch(`${s.url}/_control/stream/state`)).json()) as { connections: SimConnection[] }).connections;
}

function upstream(url: string, opts: Partial<UpstreamOptions> = {}) {
  const events: UpstreamEvent[] = [];
  const ticks: UpstreamTick[] = [];
  const up = createUpstream({
    url,
    feed: 'iex',
    credentials: () => ({ keyId: 'k1', secret: 's1' }),
    onTicks: (t) => ticks.push(...t),
    onEvent: (e) => events.push(e),
    isMarketOpen: () => false,
    backoff: { initialMs: 100, maxMs: 1_000 },
    ...opts,
  });
  cleanups.push(() => up.stop('test over'));
  const count = (type: UpstreamEvent['type']) => events.filter((e) => e.type === type).length;
  return { up, events, ticks, count };
}

describe('feed upstream: Alpaca error codes', () => {
  it('406: a second upstream on the same key waits the slot backoff (no loop), then takes the slot once it is free', async () => {
    const s = await sim();
    const first = upstream(s.ws);
    first.up.setSymbols(new Set(['AAPL']));
    first.up.start();
    await waitFor(() => first.up.state === 'live', 5_000, 'first live');

    const second = upstream(s.ws, { slotBackoffMs: 1_000, backoff: { initialMs: 100, maxMs: 1_000, jitter: 0 } });
    second.up.setSymbols(new Set(['AAPL']));
    const t0 = Date.now();
    second.up.start();
    await sleep(2_500);
    // attempts at ~0, ~1 s, ~2 s: three in 2.5 s (a tight loop would make hundreds)
    expect(second.count('connecting')).toBe(3);
    const busy = second.events.filter((e): e is Extract<UpstreamEvent, { type: 'slot_busy' }> => e.type === 'slot_busy');
    expect(busy.map((e) => e.attempts)).toEqual([1, 2, 3]);
    expect(busy.every((e) => e.delayMs === 1_000)).toBe(true);
    expect(second.events.some((e) => e.type === 'disconnected' && e.code === 406)).toBe(true);
    expect(second.up.state).toBe('backoff');
    expect(first.up.state).toBe('live');

    await first.up.stop('leadership lost');
    await waitFor(() => second.up.state === 'live', 3_000, 'second live');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_900);
    expect(second.up.stats.connects).toBe(4);
    await waitFor(() => second.ticks.some((t) => t.symbol === 'AAPL'), 5_000, 'ticks on the second');
    expect(await connections(s)).toHaveLength(1);
  });

  it('402: a wrong secret stops reconnecting with a fatal event; reconnect() after the fix connects', async () => {
    const s = await sim();
    let secret = 'wrong';
    const { up, events, count } = upstream(s.ws, { credentials: () => ({ keyId: 'k1', secret }) });
    up.setSymbols(new Set(['MSFT']));
    up.start();
    await waitFor(() => count('auth_failed') === 1, 5_000, 'auth_failed');
    expect(events.find((e) => e.type === 'auth_failed')).toMatchObject({ code: 402 });
    expect(up.state).toBe('stopped');
    await sleep(1_000);
    expect(up.stats.connects).toBe(1);
    expect(count('backoff')).toBe(0);
    up.start(); // halted: start does not retry either
    expect(up.stats.connects).toBe(1);

    secret = 's1';
    up.reconnect('key fixed');
    await waitFor(() => up.state === 'live', 5_000, 'live after fix');
    expect(up.stats.connects).toBe(2);
    await waitFor(() => events.some((e) => e.type === 'subscribed' && e.symbols === 1), 5_000, 'resubscribed');
  });

  it('409: a basic key on sip falls back to delayed_sip and reports it', async () => {
    const s = await sim();
    const { up, events, count } = upstream(s.ws, { feed: 'sip', credentials: () => ({ keyId: 'k2', secret: 's2' }) });
    up.setSymbols(new Set(['AAPL', 'MSFT']));
    up.start();
    await waitFor(() => up.state === 'live', 5_000, 'live on delayed_sip');
    expect(events.find((e) => e.type === 'feed_fallback')).toEqual({ type: 'feed_fallback', from: 'sip', to: 'delayed_sip' });
    expect(up.activeFeed).toBe('delayed_sip');
    expect(events.find((e) => e.type === 'live')).toMatchObject({ feed: 'delayed_sip' });
    expect(count('auth_failed') + count('insufficient_subscription')).toBe(0);
    await waitFor(() => count('subscribed') === 1, 5_000, 'subscribed');
    const conns = await connections(s);
    expect(conns).toHaveLength(1);
    expect(conns[0]).toMatchObject({ feed: 'delayed_sip', plan: 'basic' });
    expect([...conns[0]!.subscription.trades!].sort()).toEqual(['AAPL', 'MSFT']);
    expect(up.stats.connects).toBe(2);
  });

  it('405: more than 30 symbols on a basic key reports the event and keeps the connection', async () => {
    const s = await sim();
    const { up, events, count } = upstream(s.ws, { credentials: () => ({ keyId: 'k2', secret: 's2' }) });
    const many = new Set(Array.from({ length: 35 }, (_, i) => `SYM${String.fromCharCode(65 + (i % 26))}${Math.floor(i / 26)}`));
    up.setSymbols(many);
    up.start();
    await waitFor(() => count('symbol_limit') === 1, 5_000, 'symbol_limit');
    expect(events.find((e) => e.type === 'symbol_limit')).toEqual({ type: 'symbol_limit', requested: 35, subscribed: 0 });
    await sleep(300);
    expect(up.state).toBe('live');
    expect(count('disconnected')).toBe(0);
    const conns = await connections(s);
    expect(conns).toHaveLength(1);
    expect(conns[0]!.subscription.trades).toEqual([]);

    // the subscription stayed as the server left it (empty): a smaller set is diffed against that and goes through
    up.setSymbols(new Set(['AAPL', 'MSFT', 'SPY']));
    await waitFor(() => events.some((e) => e.type === 'subscribed' && e.symbols === 3), 5_000, 'three subscribed');
    expect(up.stats.connects).toBe(1);
  });

  it('key rotation: credentials() returns a new pair, reconnect("key rotated") connects with it', async () => {
    const s = await sim();
    let key = { keyId: 'k1', secret: 's1' };
    const { up, events } = upstream(s.ws, { credentials: () => key });
    up.setSymbols(new Set(['AAPL']));
    up.start();
    await waitFor(() => up.state === 'live', 5_000, 'live');
    expect((await connections(s))[0]).toMatchObject({ plan: 'algo_trader_plus' });

    key = { keyId: 'k2', secret: 's2' };
    up.reconnect('key rotated');
    await waitFor(() => events.filter((e) => e.type === 'live').length === 2, 5_000, 'second live');
    expect(events.filter((e) => e.type === 'live').map((e) => (e as { keyId: string }).keyId)).toEqual(['k1', 'k2']);
    expect(events.some((e) => e.type === 'disconnected' && e.reason === 'key rotated')).toBe(true);
    await waitFor(() => events.filter((e) => e.type === 'subscribed').length === 2, 5_000, 'resubscribed');
    const conns = await connections(s);
    expect(conns).toHaveLength(1);
    expect(conns[0]).toMatchObject({ plan: 'basic', feed: 'iex' });
    expect(conns[0]!.subscription.quotes).toEqual(['AAPL']);
    expect(up.stats.reconnects).toBe(0); // a requested reconnect is not a fault
  });
});
