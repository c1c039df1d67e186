// Feed leader failover with clients connected, real processes: simulator → feed ×2 → Redis → gateway → `ws` clients.
// SIGKILL of the leader, then SIGSTOP/SIGCONT of the next one; clients must never see a seq twice or out of order,
// and every gap must be recovered by resume or flagged recovered:false.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type MdClient, type Stack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

const SYMBOLS = ['MDFA', 'MDFB'];
let stack: Stack;
let clients: MdClient[];

beforeAll(async () => {
  // Three replicas started together: the second failover needs a standby too, and a serial start costs seconds.
  stack = await startStack({ symbols: SYMBOLS, feeds: 3 });
  clients = await Promise.all(['demo-free', 'demo-pro', 'demo-pro-plus'].map((u) => stack.connect(u, { resumeGaps: true })));
  for (const c of clients) c.send({ action: 'subscribe', quotes: SYMBOLS, trades: SYMBOLS });
  await Promise.all(clients.slice(1).map((c) => c.framesAfter(0, (f) => f.src === 'rt', 20, 20_000, 'live frames')));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** The property every client must hold: no seq twice or backwards; every gap recovered by resume or flagged. */
function expectSeqProperty(): void {
  for (const c of clients) {
    expect(c.duplicates).toEqual([]);
    expect(c.unexplainedGaps()).toEqual([]);
  }
  expect(clients[0]!.frames.some((r) => r.frame.src === 'rt')).toBe(false); // the Free client
}

const rtAfter = (c: MdClient, since: number) => c.frames.filter((r) => r.at >= since && r.frame.src === 'rt').length;

async function feedMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('feed failover with clients connected', () => {
  it('SIGKILL of the leader: the standby takes over within 5 s and clients keep receiving, seqs intact', { timeout: 40_000 }, async () => {
    const leader = await stack.leaderProcess();
    const standbys = new Set(stack.feeds.filter((f) => f !== leader).map((f) => f.child.pid));
    const before = (await stack.lease())!;

    const killedAt = Date.now();
    await leader.stop('SIGKILL');
    await waitFor(async () => standbys.has((await stack.lease())?.pid), 8_000, 'a standby to take the lease');
    const tookOver = Date.now();
    await Promise.all(clients.slice(1).map((c) => waitFor(() => rtAfter(c, tookOver) > 5, 8_000, 'frames from the new leader')));
    const receiving = Date.now();
    expect(tookOver - killedAt).toBeLessThan(5_000);
    expect(receiving - killedAt).toBeLessThan(5_000);
    expect((await stack.lease())!.epoch).toBeGreaterThan(before.epoch);

    await clients[0]!.framesAfter(tookOver, (f) => f.src === 'delayed', 0, 10_000, 'delayed frames from the new leader');
    await sleep(500);
    expectSeqProperty();
  });

  it('SIGSTOP of the leader: the standby takes over once the lease expires; after SIGCONT the woken one publishes nothing', { timeout: 50_000 }, async () => {
    const frozen = await stack.leaderProcess();
    const standby = stack.feeds.find((f) => f !== frozen && f.child.exitCode === null && f.child.signalCode === null)!;
    const standbyUrl = (await standby.ready).url;
    const frozenUrl = (await frozen.ready).url;
    const before = (await stack.lease())!;

    const stoppedAt = Date.now();
    frozen.child.kill('SIGSTOP');
    await waitFor(async () => (await stack.lease())?.pid === standby.child.pid, 10_000, 'the standby to take the lease');
    const tookOver = Date.now();
    // Not before the lease (1.5 s TTL) ran out: nobody steals a live lease.
    expect(tookOver - stoppedAt).toBeGreaterThanOrEqual(1_000);
    const after = (await stack.lease())!;
    expect(after.epoch).toBeGreaterThan(before.epoch);
    // The simulator drops the frozen connection (no pong), which frees the slot for the new leader.
    await Promise.all(clients.slice(1).map((c) => waitFor(() => rtAfter(c, tookOver) > 5, 10_000, 'frames from the new leader')));
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);

    const woke = Date.now();
    frozen.child.kill('SIGCONT');
    await waitFor(async () => ((await (await fetch(`${frozenUrl}/healthz`)).json()) as { leader: boolean }).leader === false, 5_000, 'the woken feed to step down');
    const published = await feedMetric(frozenUrl, 'raxx_feed_published_total');
    await sleep(1_500);
    expect(await feedMetric(frozenUrl, 'raxx_feed_published_total')).toBe(published);
    expect(await feedMetric(frozenUrl, 'raxx_feed_leader')).toBe(0);
    expect(await stack.lease()).toEqual(after);
    expect(((await (await fetch(`${standbyUrl}/healthz`)).json()) as { leader: boolean; epoch: number })).toMatchObject({ leader: true, epoch: after.epoch });
    // Clients kept receiving from the new leader the whole time, never a repeated or backward seq.
    for (const c of clients.slice(1)) expect(rtAfter(c, woke)).toBeGreaterThan(20);
    expectSeqProperty();
  });
});
