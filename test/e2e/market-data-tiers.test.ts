// Market data end to end, real processes: simulator → feed ×2 → Redis → gateway → `ws` clients of each tier.
// Tier filtering, a tier change on an open socket, and the kill switch through /ops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type MdClient, type Stack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

const SYMBOLS = ['MDTA', 'MDTB'];
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ symbols: SYMBOLS });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const srcs = (c: MdClient, since = 0) => new Set(c.frames.filter((r) => r.at >= since).map((r) => r.frame.src));

describe('market data by tier, end to end', () => {
  it('Free gets only delayed/lkg frames, Pro and Pro+ real-time; bars and depth as the tier allows', { timeout: 40_000 }, async () => {
    const [free, pro, plus] = await Promise.all([stack.connect('demo-free'), stack.connect('demo-pro'), stack.connect('demo-pro-plus')]);
    expect(free.controls[0]!.msg).toMatchObject({ T: 'welcome', user: 'demo-free', tier: 'free' });
    expect(pro.controls[0]!.msg).toMatchObject({ T: 'welcome', user: 'demo-pro', tier: 'pro' });
    expect(plus.controls[0]!.msg).toMatchObject({ tier: 'pro_plus' });

    for (const c of [free, pro, plus]) c.send({ action: 'subscribe', quotes: SYMBOLS, trades: ['MDTA'], bars: ['MDTA'], depth: ['MDTA'] });
    // Free: bars need Pro, depth needs Pro+; Pro: depth needs Pro+; Pro+: everything granted.
    expect((await free.control('error', (m) => m.channel === 'bars')).msg).toMatchObject({ code: 'tier_required', requiredTier: 'pro' });
    expect((await free.control('error', (m) => m.channel === 'depth')).msg).toMatchObject({ code: 'tier_required', requiredTier: 'pro_plus' });
    expect((await free.control('subscription')).msg).toMatchObject({ quotes: SYMBOLS, trades: ['MDTA'], bars: [], depth: [] });
    expect((await pro.control('error')).msg).toMatchObject({ code: 'tier_required', channel: 'depth', requiredTier: 'pro_plus' });
    expect((await pro.control('subscription')).msg).toMatchObject({ quotes: SYMBOLS, bars: ['MDTA'], depth: [] });
    expect((await plus.control('subscription')).msg).toMatchObject({ quotes: SYMBOLS, bars: ['MDTA'], depth: ['MDTA'] });
    expect(plus.controls.some((c) => c.msg.T === 'error')).toBe(false);

    // Live data from the simulator reaches every tier, on its own line.
    for (const c of [pro, plus]) {
      for (const T of ['q', 't', 'b']) await c.framesAfter(0, (f) => f.T === T && f.src === 'rt', 0, 15_000, `${T} real-time`);
    }
    await free.framesAfter(0, (f) => f.T === 'q' && f.src === 'delayed', 3, 15_000, 'delayed quotes');
    await free.framesAfter(0, (f) => f.T === 't' && f.src === 'delayed', 0, 15_000, 'delayed trades');
    await sleep(500);

    expect([...srcs(free)].sort()).toEqual(expect.arrayContaining(['delayed']));
    expect(srcs(free).has('rt')).toBe(false);
    expect(free.frames.some((r) => r.frame.T === 'b')).toBe(false);
    for (const c of [pro, plus]) {
      expect([...srcs(c)].every((s) => s === 'rt' || s === 'lkg')).toBe(true);
      expect(c.duplicates).toEqual([]);
      expect(c.gaps).toEqual([]);
    }
    expect(new Set(pro.frames.map((r) => r.frame.S))).toEqual(new Set(SYMBOLS));

    // A delayed frame reaches Free no earlier than the delay after Pro saw the same seq in real time.
    let compared = 0;
    for (const d of free.frames.filter((r) => r.frame.src === 'delayed')) {
      const live = pro.frames.find((r) => r.frame.src === 'rt' && r.frame.T === d.frame.T && r.frame.S === d.frame.S && r.frame.seq === d.frame.seq);
      if (!live) continue;
      compared += 1;
      expect(d.at - live.at).toBeGreaterThanOrEqual(stack.freeDelayMs - 200);
    }
    expect(compared).toBeGreaterThan(0);
    for (const c of [free, pro, plus]) c.close();
  });

  it('a tier change through /ops moves an open socket to the other line within 1 s, and back', { timeout: 30_000 }, async () => {
    const c = await stack.connect('demo-free');
    c.send({ action: 'subscribe', quotes: ['MDTA'] });
    await c.framesAfter(0, (f) => f.src === 'delayed', 0, 15_000, 'delayed quotes');

    const asked = Date.now();
    const up = await stack.ops('POST', '/ops/users/demo-free/tier', { tier: 'pro' });
    expect(up).toMatchObject({ status: 200, body: { user: 'demo-free', from: 'free', tier: 'pro', notified: true } });
    const answered = Date.now();
    const tierMsg = await c.control('tier', (m) => m.tier === 'pro', 3_000, asked);
    const firstRt = await c.framesAfter(asked, (f) => f.src === 'rt', 0, 3_000, 'real-time after the upgrade');
    expect(tierMsg.at - answered).toBeLessThan(1_000);
    expect(firstRt.at - answered).toBeLessThan(1_000);
    expect(firstRt.at).toBeGreaterThanOrEqual(tierMsg.at);

    const down = Date.now();
    expect((await stack.ops('POST', '/ops/users/demo-free/tier', { tier: 'free' })).status).toBe(200);
    const back = await c.control('tier', (m) => m.tier === 'free', 3_000, down);
    expect(back.at - down).toBeLessThan(1_500);
    await c.framesAfter(back.at, (f) => f.src === 'delayed', 0, 10_000, 'delayed again after the downgrade');
    // After the server said "free", nothing real-time arrives any more (by arrival order: a frame received just before
    // the tier message can share its millisecond).
    expect(c.frames.filter((r) => r.n > back.n && r.frame.src === 'rt')).toEqual([]);
    c.close();
  });

  it('the kill switch through /ops stops live data and tells every client degraded; switching it off resumes', { timeout: 40_000 }, async () => {
    const [free, pro] = await Promise.all([stack.connect('demo-free'), stack.connect('demo-pro-plus')]);
    for (const c of [free, pro]) c.send({ action: 'subscribe', quotes: SYMBOLS });
    await pro.framesAfter(0, (f) => f.src === 'rt', 5, 15_000, 'live quotes');

    const on = Date.now();
    expect(await stack.ops('POST', '/ops/market-data/kill-switch', { on: true })).toMatchObject({ status: 200, body: { killSwitch: true } });
    for (const c of [free, pro]) {
      expect((await c.control('status', (m) => m.state === 'degraded', 5_000, on)).msg).toMatchObject({ reason: 'market_data_disabled' });
    }
    expect((await stack.ops('GET', '/ops/market-data')).body).toMatchObject({ killSwitch: true, hub: { state: 'degraded', reason: 'market_data_disabled' } });
    const upstreamGone = Date.now();
    await waitFor(async () => ((await stack.control('state')).connections as unknown[]).length === 0, 5_000, 'the upstream connection to close');
    await sleep(300);
    const quietFrom = Date.now();
    await sleep(1_500);
    expect(pro.frames.filter((r) => r.at >= quietFrom && r.frame.src === 'rt')).toEqual([]);
    expect(upstreamGone - on).toBeLessThan(5_000);
    // A client that connects while degraded is told so at once, and still gets last-known-good snapshots.
    const late = await stack.connect('demo-pro');
    expect(late.controls[0]!.msg).toMatchObject({ T: 'welcome', status: { state: 'degraded', reason: 'market_data_disabled' } });
    late.send({ action: 'subscribe', quotes: ['MDTA'] });
    expect((await late.framesAfter(0, () => true, 0, 5_000, 'snapshot')).frame).toMatchObject({ S: 'MDTA', src: 'lkg' });

    const off = Date.now();
    expect(await stack.ops('POST', '/ops/market-data/kill-switch', { on: false })).toMatchObject({ status: 200, body: { killSwitch: false } });
    for (const c of [free, pro]) await c.control('status', (m) => m.state === 'live', 5_000, off);
    const resumed = await pro.framesAfter(off, (f) => f.src === 'rt', 5, 10_000, 'live quotes after the kill switch');
    expect(resumed.at - off).toBeLessThan(5_000);
    await free.framesAfter(off, (f) => f.src === 'delayed', 0, 10_000, 'delayed quotes after the kill switch');
    // Seqs continue across the pause: nothing was published while disabled, so nothing is missing.
    expect(pro.duplicates).toEqual([]);
    expect(pro.gaps).toEqual([]);
    for (const c of [free, pro, late]) c.close();
  });
});
