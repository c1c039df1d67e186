// The upstream against the real simulator stream and the official SDK, on a manual market clock so bars and
// statuses come on demand: auth, subscribe, normalised ticks of every kind, and setSymbols diffs.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../support/wait.js';
import { createUpstream, type Upstream, type UpstreamEvent, type UpstreamTick } from '../../../src/actors/feed/upstream/index.js';
import { createSyntheticMarket, type SimMarket } from '../../../src/sim/market/index.js';
import { createMarketDataStream } from '../../../src/sim/stream/index.js';
import type { MarketClock } from '../../../src/sim/clock/types.js';
import { serveHandlers } from '../../support/sim-server.js';

const T0 = Date.parse('2026-03-02T14:30:00Z');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


async function manualSim(): Promise<{ url: string; base: string; market: SimMarket; advance(ms: number): void }> {
  let now = T0;
  const clock: MarketClock = {
    now: () => new Date(now), isOpen: () => true, session: () => undefined, calendar: () => [],
    nextOpen: () => new Date(now), nextClose: () => new Date(now + 86_400_000),
  };
  const market = createSyntheticMarket(clock, { seed: 3, symbols: 40, ratePerSecond: 400, haltProbability: 0 });
  const stream = createMarketDataStream({
    market,
    clock,
    keys: [{ keyId: 'k1', secret: 's1', plan: 'algo_trader_plus' }, { keyId: 'k2', secret: 's2', plan: 'basic' }],
    delayMs: 2_000, // delayed_sip 2 s late instead of 15 min, so the fallback's ticks show up in a test
  });
  const served = await serveHandlers([stream.control], [stream.handleUpgrade]);
  cleanups.push(async () => {
    await stream.close();
    await served.close();
  });
  return {
    url: served.base.replace(/^http/, 'ws'),
    base: served.base,
    market,
    advance: (ms) => {
      for (let t = 0; t < ms; t += 250) {
        now += 250;
        market.step(now);
      }
    },
  };
}

function upstreamOn(url: string, keyId = 'k1', secret = 's1') {
  const ticks: UpstreamTick[] = [];
  const frames: number[] = [];
  const events: UpstreamEvent[] = [];
  const up: Upstream = createUpstream({
    url,
    feed: 'sip',
    credentials: () => ({ keyId, secret }),
    onTicks: (t) => {
      frames.push(t.length);
      ticks.push(...t);
    },
    onEvent: (e) => events.push(e),
    isMarketOpen: () => false,
  });
  cleanups.push(() => up.stop('test over'));
  return { up, ticks, frames, events };
}

async function subscription(base: string): Promise<string[]> {
  const state = (await (await fetch(`${base}/_control/stream/state`)).json()) as { connections: Array<{ subscription: Record<string, string[]> }> };
  return [...(state.connections[0]?.subscription.quotes ?? [])].sort();
}

describe('feed upstream: connect and subscribe', () => {
  it('authenticates, subscribes every channel and delivers normalised q/t/b/d/s/l ticks with ns timestamps', async () => {
    const sim = await manualSim();
    const { up, ticks, frames, events } = upstreamOn(sim.url);
    up.setSymbols(new Set(['AAPL', 'MSFT']));
    up.start();
    up.start(); // idempotent
    await waitFor(() => up.state === 'live' && events.some((e) => e.type === 'subscribed' && e.symbols === 2), 5_000, 'live + subscribed');
    expect(up.activeFeed).toBe('sip');
    expect(await subscription(sim.base)).toEqual(['AAPL', 'MSFT']);
    const state = (await (await fetch(`${sim.base}/_control/stream/state`)).json()) as { connections: Array<{ encoding: string; subscription: Record<string, string[]> }> };
    expect(state.connections).toHaveLength(1);
    expect(state.connections[0]!.encoding).toBe('msgpack');
    for (const ch of ['trades', 'quotes', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds']) {
      expect([...state.connections[0]!.subscription[ch]!].sort()).toEqual(['AAPL', 'MSFT']);
    }

    sim.advance(61_000); // crosses 14:31:00 → minute and daily bars
    sim.market.halt('AAPL', 'news');
    sim.advance(500);
    sim.market.resume('AAPL'); // status + fresh LULD band
    sim.advance(500);
    await waitFor(() => ['q', 't', 'b', 'd', 's', 'l'].every((k) => ticks.some((t) => t.kind === k)), 5_000, 'all kinds');

    expect(new Set(ticks.map((t) => t.symbol))).toEqual(new Set(['AAPL', 'MSFT']));
    expect(frames.length).toBeLessThan(ticks.length); // batched: one call per upstream frame
    for (const t of ticks) {
      expect(t.t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      expect(BigInt(Date.parse(t.t)) * 1_000_000n).toBe((t.tNs / 1_000_000n) * 1_000_000n);
      expect(t.fields).not.toHaveProperty('T');
      expect(t.fields).not.toHaveProperty('S');
      expect(t.fields).not.toHaveProperty('t');
      expect(t.delayed).toBe(false);
    }
    const q = ticks.find((t) => t.kind === 'q')!;
    expect(Object.keys(q.fields).sort()).toEqual(['ap', 'as', 'ax', 'bp', 'bs', 'bx', 'c', 'z']);
    expect(typeof q.fields.bp).toBe('number');
    expect(Object.keys(ticks.find((t) => t.kind === 't')!.fields).sort()).toEqual(['c', 'i', 'p', 's', 'x', 'z']);
    expect(ticks.find((t) => t.kind === 'b')!.fields).toMatchObject({ o: expect.any(Number), h: expect.any(Number), l: expect.any(Number), c: expect.any(Number), v: expect.any(Number) });
    expect(ticks.find((t) => t.kind === 'b')!.t).toBe('2026-03-02T14:30:00.000000000Z');
    expect(ticks.find((t) => t.kind === 's' && t.symbol === 'AAPL')!.fields).toMatchObject({ sc: 'H', rc: 'T1' });
    expect(ticks.find((t) => t.kind === 'l')!.fields).toMatchObject({ u: expect.any(Number), d: expect.any(Number) });
    // per (kind, symbol) the sim's stamps are non-decreasing, so nothing was dropped as bad or out of order
    expect(up.stats).toMatchObject({ connects: 1, reconnects: 0, skipped: 0, outOfOrder: 0, messages: ticks.length });

    await up.stop('done');
    expect(up.state).toBe('stopped');
    expect(await subscription(sim.base)).toEqual([]); // no connection left
    up.start(); // no-op once stopped
    expect(up.state).toBe('stopped');
  });

  it('setSymbols diffs against the subscription: added symbols arrive, removed ones stop', async () => {
    const sim = await manualSim();
    const { up, ticks, events } = upstreamOn(sim.url);
    up.setSymbols(new Set(['AAPL']));
    up.start();
    await waitFor(() => events.some((e) => e.type === 'subscribed'), 5_000, 'subscribed');
    sim.advance(1_000);
    await waitFor(() => ticks.some((t) => t.symbol === 'AAPL'), 5_000, 'AAPL ticks');

    up.setSymbols(new Set(['MSFT', 'SPY']));
    await waitFor(() => events.filter((e) => e.type === 'subscribed').length >= 3, 5_000, 'unsubscribe + subscribe echoes');
    expect(await subscription(sim.base)).toEqual(['MSFT', 'SPY']);
    ticks.length = 0;
    sim.advance(2_000);
    await waitFor(() => ticks.some((t) => t.symbol === 'MSFT') && ticks.some((t) => t.symbol === 'SPY'), 5_000, 'MSFT+SPY ticks');
    expect(ticks.some((t) => t.symbol === 'AAPL')).toBe(false);

    // an unchanged set sends nothing (an invalid symbol is left out, not sent to fail the frame); empty unsubscribes all
    const echoes = events.filter((e) => e.type === 'subscribed').length;
    up.setSymbols(new Set(['SPY', 'MSFT', 'not a symbol']));
    up.setSymbols(new Set());
    await waitFor(() => events.filter((e) => e.type === 'subscribed').length === echoes + 1, 5_000, 'one echo');
    expect(await subscription(sim.base)).toEqual([]);
    expect(up.stats.skipped + up.stats.outOfOrder).toBe(0);
  });

  it('409 fallback: ticks from delayed_sip carry delayed: true', async () => {
    const sim = await manualSim();
    const { up, ticks, events } = upstreamOn(sim.url, 'k2', 's2');
    up.setSymbols(new Set(['AAPL']));
    up.start();
    await waitFor(() => up.state === 'live' && events.some((e) => e.type === 'subscribed'), 5_000, 'live on delayed_sip');
    expect(up.activeFeed).toBe('delayed_sip');
    sim.advance(4_000);
    await waitFor(() => ticks.length > 0, 5_000, 'delayed ticks');
    expect(ticks.every((t) => t.delayed && t.symbol === 'AAPL')).toBe(true);
  });
});
