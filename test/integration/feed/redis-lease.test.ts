// Feed leader lease: one leader, growing epochs on takeover, renewal, release (real Redis, DB 11).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, closeRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataChannels, marketDataKeys } from '../../../src/contracts/market-data.js';
import { LeaderLease, setHubStatus } from '../../../src/infra/market-data/index.js';
import { testRedisUrl } from '../../support/redis.js';

// Each feed test file has its own Redis database (the keys are fixed by the contracts).
const url = () => testRedisUrl('redis-lease');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: Redis;
beforeAll(async () => {
  redis = createRedis(url(), 'test-lease');
  await redis.flushdb();
});
afterAll(async () => closeRedis(redis));

describe('LeaderLease', () => {
  it('elects one leader among two owners, renews, hands over with a higher epoch, releases', async () => {
    const lease = new LeaderLease(redis);
    const a1 = await lease.acquireOrRenew('owner-a', 300);
    const b1 = await lease.acquireOrRenew('owner-b', 300);
    expect(a1).toEqual({ leader: true, epoch: 1, holder: 'owner-a' });
    expect(b1).toEqual({ leader: false, epoch: 1, holder: 'owner-a' });
    expect(await redis.get(marketDataKeys.lease)).toBe('1:owner-a');

    // Renewal keeps it (well past the first TTL) and keeps the epoch.
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      expect(await lease.acquireOrRenew('owner-a', 300)).toEqual({ leader: true, epoch: 1, holder: 'owner-a' });
      expect((await lease.acquireOrRenew('owner-b', 300)).leader).toBe(false);
    }

    // A stops renewing: after expiry B takes over with a higher epoch; A is now a follower.
    await sleep(400);
    const b2 = await lease.acquireOrRenew('owner-b', 300);
    expect(b2).toEqual({ leader: true, epoch: 2, holder: 'owner-b' });
    expect(await lease.acquireOrRenew('owner-a', 300)).toEqual({ leader: false, epoch: 2, holder: 'owner-b' });

    // Release only with the right owner and epoch.
    expect(await lease.release('owner-a', 2)).toBe(false);
    expect(await lease.release('owner-b', 1)).toBe(false);
    expect(await lease.release('owner-b', 2)).toBe(true);
    expect(await redis.exists(marketDataKeys.lease)).toBe(0);

    // Epochs only grow, even after a release.
    expect(await lease.acquireOrRenew('owner-a', 300)).toEqual({ leader: true, epoch: 3, holder: 'owner-a' });
    expect(await redis.get(marketDataKeys.epoch)).toBe('3');
  });

  it('owner ids may contain colons', async () => {
    await redis.flushdb();
    const lease = new LeaderLease(redis);
    expect(await lease.acquireOrRenew('feed-0:1234:ab', 1000)).toEqual({ leader: true, epoch: 1, holder: 'feed-0:1234:ab' });
    expect(await lease.acquireOrRenew('feed-0:1234:ab', 1000)).toEqual({ leader: true, epoch: 1, holder: 'feed-0:1234:ab' });
    expect(await lease.acquireOrRenew('feed-1', 1000)).toEqual({ leader: false, epoch: 1, holder: 'feed-0:1234:ab' });
    expect(await lease.release('feed-0:1234:ab', 1)).toBe(true);
  });

  it('concurrent contenders: exactly one wins', async () => {
    await redis.flushdb();
    const lease = new LeaderLease(redis);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => lease.acquireOrRenew(`c${i}`, 1000)));
    expect(results.filter((r) => r.leader)).toHaveLength(1);
    expect(new Set(results.map((r) => r.epoch))).toEqual(new Set([1]));
  });
});

describe('setHubStatus', () => {
  it('writes and announces the status for the current epoch only; a former leader is fenced and changes nothing', async () => {
    await redis.del(marketDataKeys.lease, marketDataKeys.status);
    const lease = new LeaderLease(redis);
    const first = await lease.acquireOrRenew('status-a', 200);
    expect(first.leader).toBe(true);
    const sub = createRedis(url(), 'test-status-sub');
    const heard: string[] = [];
    sub.on('message', (_c: string, m: string) => heard.push(m));
    await sub.subscribe(marketDataChannels.status);
    try {
      const live = { state: 'live' as const, since: '2026-11-23T06:00:00.000Z' };
      expect(await setHubStatus(redis, first.epoch, live)).toBe('ok');
      expect(JSON.parse((await redis.get(marketDataKeys.status))!)).toEqual(live);

      // A takes too long (a pause): B leads with a higher epoch; A's write is refused and nobody hears it.
      await sleep(300);
      const second = await lease.acquireOrRenew('status-b', 200);
      expect(second).toMatchObject({ leader: true, holder: 'status-b' });
      const stale = { state: 'degraded' as const, reason: 'upstream_unavailable', since: '2026-11-23T06:00:01.000Z' };
      expect(await setHubStatus(redis, first.epoch, stale)).toBe('fenced');
      expect(JSON.parse((await redis.get(marketDataKeys.status))!)).toEqual(live);
      // No lease at all: fenced too.
      await redis.del(marketDataKeys.lease);
      expect(await setHubStatus(redis, second.epoch, stale)).toBe('fenced');
      await sleep(50);
      expect(heard.map((m) => JSON.parse(m) as unknown)).toEqual([live]);
    } finally {
      await closeRedis(sub);
    }
  });
});
