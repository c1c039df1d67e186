// Demand leases: union of owners, expiry of a dead owner, change notifications, grace tracker (DB 14).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, closeRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataKeys } from '../../../src/contracts/market-data.js';
import { DemandLease, DemandTracker, readDemandUnion, subscribeDemandChanges } from '../../../src/infra/market-data/index.js';
import { testRedisUrl } from '../../support/redis.js';

const url = () => testRedisUrl('redis-demand');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sorted = (s: Set<string>) => [...s].sort();

describe('DemandTracker (pure)', () => {
  it('keeps a symbol that left the union for graceMs, then drops it; coming back cancels the drop', () => {
    let now = 0;
    const t = new DemandTracker({ graceMs: 30_000, now: () => now });
    expect(sorted(t.update(['AAPL', 'MSFT']))).toEqual(['AAPL', 'MSFT']);
    now = 1000;
    expect(sorted(t.update(['AAPL']))).toEqual(['AAPL', 'MSFT']);
    expect(t.nextDropAt()).toBe(31_000);
    now = 30_999;
    expect(sorted(t.desired())).toEqual(['AAPL', 'MSFT']);
    now = 31_000;
    expect(sorted(t.desired())).toEqual(['AAPL']);
    expect(t.nextDropAt()).toBeNull();
    // Still in the union: never dropped, however long without an update.
    now = 1_000_000;
    expect(sorted(t.desired())).toEqual(['AAPL']);
    // Leaves and comes back within the grace: kept throughout, no drop pending.
    t.update([]);
    now += 10_000;
    expect(sorted(t.update(['AAPL', 'TSLA']))).toEqual(['AAPL', 'TSLA']);
    expect(t.nextDropAt()).toBeNull();
    now += 60_000;
    expect(sorted(t.desired())).toEqual(['AAPL', 'TSLA']);
  });

  it('defaults to a 30 s grace', () => {
    let now = 0;
    const t = new DemandTracker({ now: () => now });
    t.update(['X']);
    t.update([]);
    now = 29_999;
    expect(t.desired().has('X')).toBe(true);
    now = 30_000;
    expect(t.desired().has('X')).toBe(false);
  });
});

describe('demand leases (real Redis)', () => {
  let leader: Redis;
  let subscriber: Redis;
  let ownerA: Redis;
  let ownerB: Redis;
  beforeAll(async () => {
    leader = createRedis(url(), 'test-demand-leader');
    subscriber = createRedis(url(), 'test-demand-sub');
    ownerA = createRedis(url(), 'test-demand-a');
    ownerB = createRedis(url(), 'test-demand-b');
    await leader.flushdb();
  });
  afterAll(async () => {
    for (const r of [leader, subscriber, ownerA, ownerB]) await closeRedis(r);
  });

  it('unions live owners, drops a dead owner after its TTL, announces every change', async () => {
    const announced: string[] = [];
    const unsubscribe = await subscribeDemandChanges(subscriber, (owner) => announced.push(owner));
    const a = new DemandLease(ownerA, 'gw-test-a', { leaseMs: 600 });
    const b = new DemandLease(ownerB, 'gw-test-b', { leaseMs: 600 });
    await a.set(['AAPL', 'MSFT']);
    await b.set(['MSFT', 'TSLA', 'TSLA']);
    expect(sorted(await readDemandUnion(leader))).toEqual(['AAPL', 'MSFT', 'TSLA']);
    expect(await leader.pttl(marketDataKeys.demand('gw-test-b'))).toBeGreaterThan(400);
    await sleep(50);
    expect(announced).toEqual(expect.arrayContaining(['gw-test-a', 'gw-test-b']));

    // Replace atomically.
    await a.set(['AAPL', 'NVDA']);
    expect((await leader.smembers(marketDataKeys.demand('gw-test-a'))).sort()).toEqual(['AAPL', 'NVDA']);

    // B dies (its connection goes away, so it stops renewing); A keeps renewing every 200 ms.
    ownerB.disconnect();
    await sleep(900);
    expect(sorted(await readDemandUnion(leader))).toEqual(['AAPL', 'NVDA']);
    expect(await leader.exists(marketDataKeys.demand('gw-test-b'))).toBe(0);

    // An empty set removes the key; stop() deletes and announces.
    announced.length = 0;
    await a.set([]);
    expect(await leader.exists(marketDataKeys.demand('gw-test-a'))).toBe(0);
    await a.set(['AMD']);
    expect(sorted(await readDemandUnion(leader))).toEqual(['AMD']);
    await a.stop();
    expect(await readDemandUnion(leader)).toEqual(new Set());
    await sleep(50);
    expect(announced.filter((o) => o === 'gw-test-a').length).toBeGreaterThanOrEqual(3);
    await expect(a.set(['X'])).rejects.toThrow(/stopped/);
    await unsubscribe();
  });

  it('renew() rewrites a set that expired during a long pause', async () => {
    const lease = new DemandLease(ownerA, 'gw-test-c', { leaseMs: 200, renewEveryMs: 60_000 });
    await lease.set(['IBM']);
    await sleep(300);
    expect(await leader.exists(marketDataKeys.demand('gw-test-c'))).toBe(0);
    await lease.renew();
    expect(await leader.smembers(marketDataKeys.demand('gw-test-c'))).toEqual(['IBM']);
    await lease.stop();
  });

  it('unions many owners', async () => {
    await leader.flushdb();
    const leases = Array.from({ length: 30 }, (_, i) => new DemandLease(ownerA, `acct-${i}`, { leaseMs: 5000 }));
    await Promise.all(leases.map((l, i) => l.set([`S${i}`, 'SPY'])));
    const union = await readDemandUnion(leader);
    expect(union.size).toBe(31);
    await Promise.all(leases.map((l) => l.stop()));
  });
});
