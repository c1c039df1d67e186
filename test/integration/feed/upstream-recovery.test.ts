// Recovery against the real simulator's fault injection and the official SDK: 407 slow client, silent stall
// (resubscribe, then reconnect), dropped connections, refused upgrades with growing backoff.
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

async function control(s: RunningSimulator, action: string, body: object = {}): Promise<void> {
  const res = await fetch(`${s.url}/_control/stream/${action}`, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status).toBe(200);
}

interface SimConnection { subscription: Record<string, string[]> }
async function subscribed(s: RunningSimulator): Promise<string[][]> {
  const state = (await (await fetch(`${s.url}/_control/stream/state`)).json()) as { connections: SimConnection[] };
  return state.connections.map((c) => [...(c.subscription.trades ?? [])].sort());
}

function upstream(url: string, opts: Partial<UpstreamOptions> = {}) {
  const events: UpstreamEvent[] = [];
  const ticks: UpstreamTick[] = [];
  const up = createUpstream({
    url,
    feed: 'sip',
    credentials: () => ({ keyId: 'k1', secret: 's1' }),
    onTicks: (t) => ticks.push(...t),
    onEvent: (e) => events.push(e),
    isMarketOpen: () => true,
    backoff: { initialMs: 100, maxMs: 1_000 },
    ...opts,
  });
  cleanups.push(() => up.stop('test over'));
  const count = (type: UpstreamEvent['type']) => events.filter((e) => e.type === type).length;
  return { up, events, ticks, count };
}

const SYMBOLS = new Set(['AAPL', 'MSFT', 'SPY']);

describe('feed upstream: recovery', () => {
  it('407 slow client: reconnects with jittered backoff and resubscribes the same symbols', async () => {
    const s = await sim();
    const { up, events, ticks, count } = upstream(s.ws);
    up.setSymbols(SYMBOLS);
    up.start();
    await waitFor(() => ticks.length > 0, 5_000, 'first ticks');

    await control(s, 'error', { code: 407 });
    await waitFor(() => count('live') === 2, 5_000, 'live again');
    expect(events.find((e) => e.type === 'upstream_error')).toMatchObject({ code: 407 });
    const backoff = events.find((e) => e.type === 'backoff') as Extract<UpstreamEvent, { type: 'backoff' }>;
    expect(backoff.delayMs).toBeGreaterThanOrEqual(80); // 100 ms ± 20 %
    expect(backoff.delayMs).toBeLessThanOrEqual(120);
    expect(up.stats).toMatchObject({ connects: 2, reconnects: 1 });
    await waitFor(() => count('subscribed') === 2, 5_000, 'resubscribed');
    expect(await subscribed(s)).toEqual([['AAPL', 'MSFT', 'SPY']]);
    const before = ticks.length;
    await waitFor(() => ticks.length > before, 5_000, 'ticks after reconnect');
    expect(up.stats.outOfOrder + up.stats.skipped).toBe(0);
  });

  it('silent stall: resubscribes after one timeout, reconnects after another, and recovers when data flows', async () => {
    const s = await sim();
    const { up, events, ticks, count } = upstream(s.ws, { stallTimeoutMs: 400 });
    up.setSymbols(SYMBOLS);
    up.start();
    await waitFor(() => ticks.length > 0, 5_000, 'first ticks');

    await control(s, 'stall', { ms: 1_600 });
    const stalledAt = Date.now();
    await waitFor(() => events.some((e) => e.type === 'stall' && e.action === 'reconnect'), 3_000, 'stall reconnect');
    const stalls = events.filter((e): e is Extract<UpstreamEvent, { type: 'stall' }> => e.type === 'stall');
    expect(stalls[0]!.action).toBe('resubscribe');
    expect(stalls[0]!.silentMs).toBeGreaterThanOrEqual(400);
    expect(stalls[1]!.action).toBe('reconnect');
    expect(Date.now() - stalledAt).toBeLessThan(1_600);
    await waitFor(() => count('live') >= 2, 5_000, 'reconnected');

    const before = ticks.length;
    await waitFor(() => ticks.length > before, 5_000, 'ticks after the stall');
    expect(up.state).toBe('live');
    expect(await subscribed(s)).toEqual([['AAPL', 'MSFT', 'SPY']]);
  });

  it('no stall action while the market is closed or nothing is subscribed', async () => {
    const s = await sim();
    const closed = upstream(s.ws, { stallTimeoutMs: 200, isMarketOpen: () => false });
    closed.up.setSymbols(SYMBOLS);
    closed.up.start();
    const idle = upstream(s.ws, { stallTimeoutMs: 200, credentials: () => ({ keyId: 'k2', secret: 's2' }), feed: 'iex' });
    idle.up.start();
    await waitFor(() => closed.up.state === 'live' && idle.up.state === 'live', 5_000, 'both live');
    await control(s, 'stall', { ms: 900 });
    await sleep(900);
    expect(closed.count('stall') + idle.count('stall')).toBe(0);
    expect(closed.up.stats.connects + idle.up.stats.connects).toBe(2);
  });

  it('drop: an unexpected close reconnects; refused upgrades back off exponentially until accepted', async () => {
    const s = await sim();
    const { up, events, count } = upstream(s.ws, { backoff: { initialMs: 100, maxMs: 5_000, jitter: 0 } });
    up.setSymbols(SYMBOLS);
    up.start();
    await waitFor(() => count('subscribed') === 1, 5_000, 'subscribed');

    await control(s, 'drop');
    await waitFor(() => count('live') === 2 && count('subscribed') === 2, 5_000, 'reconnected after drop');
    expect(events.find((e) => e.type === 'disconnected')).toBeDefined();
    expect(await subscribed(s)).toEqual([['AAPL', 'MSFT', 'SPY']]);

    await control(s, 'refuse', { on: true });
    await control(s, 'drop');
    await waitFor(() => count('backoff') >= 4, 5_000, 'three refused attempts');
    await control(s, 'refuse', { on: false });
    await waitFor(() => count('live') === 3, 5_000, 'live after refuse');
    const delays = events.filter((e): e is Extract<UpstreamEvent, { type: 'backoff' }> => e.type === 'backoff').map((e) => e.delayMs);
    // first backoff (after drop #1, attempt 0) = 100; after drop #2: 200 (drop), then 400, 800 (each refused upgrade)
    expect(delays.slice(0, 4)).toEqual([100, 200, 400, 800]);
    expect(await subscribed(s)).toEqual([['AAPL', 'MSFT', 'SPY']]);
    expect(up.state).toBe('live');
  });
});
