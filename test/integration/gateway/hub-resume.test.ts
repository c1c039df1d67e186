// Gateway market-data hub, command side: LKG snapshots (relabelled lkg), replay, status key (DB 7, HUB…).
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedis, closeRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataKeys, type TickKind } from '../../../src/contracts/market-data.js';
import { createMarketDataHub, registerHubMetrics, relabelAsLkg, type MarketDataHub } from '../../../src/gateway/market-data/index.js';
import { testRedisUrl } from '../../support/redis.js';

const url = () => testRedisUrl('hub-resume');

function frame(kind: TickKind, symbol: string, seq: number, src: 'rt' | 'delayed' = 'rt'): string {
  const t = `2026-03-02T14:30:00.${String(seq).padStart(9, '0')}Z`;
  return `{"T":"${kind}","S":"${symbol}","p":${100 + seq / 100},"s":10,"i":${seq},"t":"${t}","src":"${src}","seq":${seq}}`;
}

/** Writes a replay stream the way the feed's publish script does: XADD … * s <seq> f <frame>. */
async function writeReplay(r: Redis, kind: TickKind, symbol: string, from: number, to: number): Promise<string[]> {
  const frames: string[] = [];
  const tx = r.pipeline();
  for (let s = from; s <= to; s++) {
    const f = frame(kind, symbol, s);
    frames.push(f);
    tx.xadd(marketDataKeys.replay(kind, symbol), '*', 's', String(s), 'f', f);
  }
  await tx.exec();
  return frames;
}

let redis: Redis;
let subscriber: Redis;
let hub: MarketDataHub;

beforeAll(async () => {
  redis = createRedis(url(), 'test-hub-cmd');
  subscriber = createRedis(url(), 'test-hub-cmd-sub');
  hub = await createMarketDataHub({
    redis,
    subscriber,
    demand: { set: async () => {} },
    publish: () => {},
    onStatus: () => {},
  });
});

beforeAll(async () => {
  await redis.flushdb();
});

beforeEach(async () => {
  for (const key of await redis.keys('{md}:*')) await redis.del(key);
});

afterAll(async () => {
  await hub.close();
  await closeRedis(subscriber);
  await closeRedis(redis);
});

describe('relabelAsLkg', () => {
  it('rewrites only the tail, keeps seq, refuses frames without the tail', () => {
    expect(relabelAsLkg('{"T":"q","S":"HUBA","bp":1.5,"t":"x","src":"rt","seq":48213}')).toBe(
      '{"T":"q","S":"HUBA","bp":1.5,"t":"x","src":"lkg","seq":48213}',
    );
    expect(relabelAsLkg('{"T":"q","S":"HUBA","c":["\\"src\\":\\"rt\\""],"src":"delayed","seq":7}')).toBe(
      '{"T":"q","S":"HUBA","c":["\\"src\\":\\"rt\\""],"src":"lkg","seq":7}',
    );
    expect(relabelAsLkg('{"T":"q","S":"HUBA","src":"lkg","seq":7}')).toBeNull();
    expect(relabelAsLkg('{"T":"q","S":"HUBA","src":"rt","seq":7} ')).toBeNull();
  });
});

describe('snapshot', () => {
  it('reads {md}:lkg for rt and {md}:lkg:dl for dl, relabels lkg with seq kept, omits missing symbols', async () => {
    await redis.hset(marketDataKeys.lkg, 'q:HUBA', frame('q', 'HUBA', 41), 'q:HUBC', frame('q', 'HUBC', 9), 't:HUBB', frame('t', 'HUBB', 3));
    await redis.hset(marketDataKeys.lkgDelayed, 'q:HUBA', frame('q', 'HUBA', 12, 'delayed'));

    const rt = await hub.snapshot('rt', 'q', ['HUBA', 'HUBB', 'HUBC']);
    expect(rt).toEqual([
      frame('q', 'HUBA', 41).replace('"src":"rt"', '"src":"lkg"'),
      frame('q', 'HUBC', 9).replace('"src":"rt"', '"src":"lkg"'),
    ]);
    for (const f of rt) expect(JSON.parse(f)).toMatchObject({ src: 'lkg' });
    expect(JSON.parse(rt[0]!).seq).toBe(41);

    expect(await hub.snapshot('dl', 'q', ['HUBA', 'HUBB'])).toEqual([
      frame('q', 'HUBA', 12, 'delayed').replace('"src":"delayed"', '"src":"lkg"'),
    ]);
    expect(await hub.snapshot('dl', 't', ['HUBB'])).toEqual([]);
    expect(await hub.snapshot('rt', 't', ['HUBB'])).toHaveLength(1);
    expect(await hub.snapshot('rt', 'q', [])).toEqual([]);
  });

  // Symbols HUBK/HUBL/HUBM: pub/sub is server-wide, and no other file subscribes to them.
  const lkgOf = (f: string) => f.replace('"src":"rt"', '"src":"lkg"');
  /** As the feed's publish script does: the last-known-good frame and its publish in one atomic step. */
  const feed = (kind: TickKind, symbol: string, seq: number) => {
    const f = frame(kind, symbol, seq);
    return redis.multi().hset(marketDataKeys.lkg, `${kind}:${symbol}`, f).publish(`md:rt:${kind}:${symbol}`, f).exec();
  };
  const until = async (cond: () => Promise<boolean> | boolean, ms = 3000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('serves a subscribed topic from its last published frame: one read, then none', async () => {
    await feed('q', 'HUBK', 5);
    await hub.acquire('rt', 'q', 'HUBK');
    try {
      const before = hub.stats();
      expect(await hub.snapshot('rt', 'q', ['HUBK', 'HUBL'])).toEqual([lkgOf(frame('q', 'HUBK', 5))]);
      expect(hub.stats().snapshotReads - before.snapshotReads).toBe(1);
      expect(await hub.snapshot('rt', 'q', ['HUBK'])).toEqual([lkgOf(frame('q', 'HUBK', 5))]);
      expect(hub.stats().snapshotReads - before.snapshotReads).toBe(1);
      expect(hub.stats().snapshotHits - before.snapshotHits).toBe(1);

      // A frame published while subscribed becomes the snapshot without a read.
      await feed('q', 'HUBK', 6);
      await until(async () => (await hub.snapshot('rt', 'q', ['HUBK']))[0] === lkgOf(frame('q', 'HUBK', 6)));
      expect(hub.stats().snapshotReads - before.snapshotReads).toBe(1);

      // HUBL is not subscribed: read every time, never kept.
      await feed('q', 'HUBL', 2);
      expect(await hub.snapshot('rt', 'q', ['HUBL'])).toEqual([lkgOf(frame('q', 'HUBL', 2))]);
      expect(await hub.snapshot('rt', 'q', ['HUBL'])).toEqual([lkgOf(frame('q', 'HUBL', 2))]);
      expect(hub.stats().snapshotReads - before.snapshotReads).toBe(3);
    } finally {
      await hub.release('rt', 'q', 'HUBK');
    }
  });

  it("forgets a topic's frame when it is unsubscribed, also when it is acquired again before the UNSUBSCRIBE is answered", async () => {
    await feed('q', 'HUBM', 1);
    await hub.acquire('rt', 'q', 'HUBM');
    expect(await hub.snapshot('rt', 'q', ['HUBM'])).toEqual([lkgOf(frame('q', 'HUBM', 1))]);
    // Hold the re-SUBSCRIBE back (the real command, sent late) so a frame can be published in the gap.
    const realSubscribe = subscriber.subscribe.bind(subscriber);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    subscriber.subscribe = (async (...args: Parameters<Redis['subscribe']>) => {
      await gate;
      return realSubscribe(...args);
    }) as Redis['subscribe'];
    try {
      // Both settle with the whole reconciliation (the held-back SUBSCRIBE included), so neither is awaited yet.
      const released = hub.release('rt', 'q', 'HUBM');
      const acquired = hub.acquire('rt', 'q', 'HUBM'); // while the UNSUBSCRIBE is in flight: the same topic state
      await until(async () => Number((await redis.pubsub('NUMSUB', 'md:rt:q:HUBM'))[1]) === 0);
      const sent = await feed('q', 'HUBM', 2);
      expect(sent?.[1]?.[1]).toBe(0); // published while nobody listens
      open();
      await Promise.all([released, acquired]);
      expect(await hub.snapshot('rt', 'q', ['HUBM'])).toEqual([lkgOf(frame('q', 'HUBM', 2))]);
    } finally {
      open();
      subscriber.subscribe = realSubscribe as Redis['subscribe'];
      await hub.release('rt', 'q', 'HUBM');
    }
  });

  it('forgets every frame when the subscriber connection drops: frames published meanwhile are read, not missed', async () => {
    await feed('t', 'HUBK', 10);
    await hub.acquire('rt', 't', 'HUBK');
    try {
      expect(await hub.snapshot('rt', 't', ['HUBK'])).toEqual([lkgOf(frame('t', 'HUBK', 10))]);
      const list = (await redis.client('LIST')) as string;
      const id = /id=(\d+) [^\n]*name=test-hub-cmd-sub/.exec(list)?.[1];
      expect(id).toBeDefined();
      await redis.client('KILL', 'ID', id!);
      const sent = await feed('t', 'HUBK', 11);
      expect(sent?.[1]?.[1]).toBe(0); // the subscriber is away: this frame reaches nobody
      // Until it is re-subscribed, and after, the snapshot is frame 11, never the 10 the hub saw last.
      expect(await hub.snapshot('rt', 't', ['HUBK'])).toEqual([lkgOf(frame('t', 'HUBK', 11))]);
      await until(async () => Number((await redis.pubsub('NUMSUB', 'md:rt:t:HUBK'))[1]) === 1);
      let reads = -1;
      await until(async () => {
        const before = hub.stats().snapshotReads;
        expect(await hub.snapshot('rt', 't', ['HUBK'])).toEqual([lkgOf(frame('t', 'HUBK', 11))]);
        reads = hub.stats().snapshotReads - before;
        return reads === 0; // trusted again (its PING answered): served without a read
      });
      // And frames published from now on are kept again: the new one is served without a read.
      const readsBefore = hub.stats().snapshotReads;
      await feed('t', 'HUBK', 12);
      await until(async () => (await hub.snapshot('rt', 't', ['HUBK']))[0] === lkgOf(frame('t', 'HUBK', 12)));
      expect(hub.stats().snapshotReads).toBe(readsBefore);
    } finally {
      await hub.release('rt', 't', 'HUBK');
    }
  });
});

describe('replay', () => {
  it('returns frames after afterSeq in order, complete while the window reaches back', async () => {
    const frames = await writeReplay(redis, 't', 'HUBA', 1, 20);
    expect(await hub.replay('t', 'HUBA', 15)).toEqual({ frames: frames.slice(15), complete: true, lastSeq: 20 });
    expect(await hub.replay('t', 'HUBA', 0)).toEqual({ frames, complete: true, lastSeq: 20 });
    expect(await hub.replay('t', 'HUBA', 20)).toEqual({ frames: [], complete: true, lastSeq: 20 });
    expect(await hub.replay('q', 'HUBA', 0)).toEqual({ frames: [], complete: true, lastSeq: 0 }); // never ticked
  });

  it('is incomplete when the window no longer reaches afterSeq+1', async () => {
    const frames = await writeReplay(redis, 't', 'HUBB', 5, 20);
    const r = await hub.replay('t', 'HUBB', 0);
    expect(r.complete).toBe(false);
    expect(r.lastSeq).toBe(20);
    expect(r.frames).toEqual(frames);
    expect((await hub.replay('t', 'HUBB', 3)).complete).toBe(false);
    expect(await hub.replay('t', 'HUBB', 4)).toEqual({ frames, complete: true, lastSeq: 20 });
  });

  it('uses {md}:seq: an expired (quiet) stream is incomplete; a client ahead of every known seq is incomplete', async () => {
    await redis.hset(marketDataKeys.seq, 't:HUBC', '20');
    expect(await hub.replay('t', 'HUBC', 15)).toEqual({ frames: [], complete: false, lastSeq: 20 });
    expect(await hub.replay('t', 'HUBC', 20)).toEqual({ frames: [], complete: true, lastSeq: 20 });
    expect((await hub.replay('t', 'HUBC', 25)).complete).toBe(false);
  });

  it('pages through a long window and caps the frames it returns', async () => {
    const frames = await writeReplay(redis, 'q', 'HUBC', 1, 1300);
    expect(await hub.replay('q', 'HUBC', 100)).toEqual({ frames: frames.slice(100), complete: true, lastSeq: 1300 });

    const sub2 = createRedis(url(), 'test-hub-cmd-sub2');
    const small = await createMarketDataHub({
      redis,
      subscriber: sub2,
      demand: { set: async () => {} },
      publish: () => {},
      onStatus: () => {},
      maxReplayFrames: 600,
    });
    expect(await small.replay('q', 'HUBC', 700)).toMatchObject({ complete: true, lastSeq: 1300 });
    expect(await small.replay('q', 'HUBC', 100)).toEqual({ frames: [], complete: false, lastSeq: 1300 });
    await small.close();
    await closeRedis(sub2);
  });
});

describe('replay: concurrent resumes of one key share reads', () => {
  it('answers each caller exactly as its own read would, with fewer reads', async () => {
    const frames = await writeReplay(redis, 'q', 'HUBD', 1, 300);
    const afterSeqs = Array.from({ length: 200 }, (_, i) => (i * 37) % 301); // 0 … 300, shuffled, repeats
    const before = hub.stats();
    const results = await Promise.all(afterSeqs.map((a) => hub.replay('q', 'HUBD', a)));
    const after = hub.stats();
    for (let i = 0; i < afterSeqs.length; i++) {
      expect(results[i]).toEqual({ frames: frames.slice(afterSeqs[i]), complete: true, lastSeq: 300 });
    }
    expect(after.replayRequests - before.replayRequests).toBe(200);
    expect(after.replayReads - before.replayReads).toBeLessThanOrEqual(3); // the first alone, then the rest together
    // The same counters on a Prometheus registry, read at scrape time.
    const registry = new Registry();
    registerHubMetrics(registry, () => hub.stats());
    const text = await registry.metrics();
    expect(text).toContain(`raxx_gateway_hub_replay_requests_total ${after.replayRequests}`);
    expect(text).toContain(`raxx_gateway_hub_replay_reads_total ${after.replayReads}`);
    expect(text).toContain(`raxx_gateway_hub_snapshot_hits_total ${after.snapshotHits}`);
    expect(text).toContain(`raxx_gateway_hub_snapshot_reads_total ${after.snapshotReads}`);
    await hub.replay('q', 'HUBD', 299);
    expect(await registry.metrics()).toContain(`raxx_gateway_hub_replay_requests_total ${after.replayRequests + 1}`);
  });

  it('a shared read that cannot serve a caller (hole, or too far back) gives that caller its own read', async () => {
    const frames = await writeReplay(redis, 't', 'HUBD', 50, 80); // seqs 1 … 49 are gone from the window
    const [old, fresh, ahead, blocked] = await Promise.all([
      hub.replay('t', 'HUBD', 10),
      hub.replay('t', 'HUBD', 60),
      hub.replay('t', 'HUBD', 90),
      hub.replay('t', 'HUBD', 49),
    ]);
    expect(old).toMatchObject({ complete: false, lastSeq: 80 });
    expect(fresh).toEqual({ frames: frames.slice(11), complete: true, lastSeq: 80 });
    expect(ahead).toEqual({ frames: [], complete: false, lastSeq: 80 });
    expect(blocked).toEqual({ frames, complete: true, lastSeq: 80 });
  });

  it('a failed read rejects every caller waiting on it, and the next resume reads again', async () => {
    await redis.set(marketDataKeys.replay('q', 'HUBE'), 'not a stream');
    const calls = [hub.replay('q', 'HUBE', 1), hub.replay('q', 'HUBE', 2), hub.replay('q', 'HUBE', 3)];
    for (const c of calls) await expect(c).rejects.toThrow(/WRONGTYPE/);
    await redis.del(marketDataKeys.replay('q', 'HUBE'));
    const frames = await writeReplay(redis, 'q', 'HUBE', 1, 3);
    expect(await hub.replay('q', 'HUBE', 1)).toEqual({ frames: frames.slice(1), complete: true, lastSeq: 3 });
  });
});

describe('status', () => {
  it('reads {md}:status', async () => {
    expect(await hub.status()).toBeNull();
    const status = '{"state":"delayed","reason":"entitlement","since":"2026-03-02T14:30:00.000Z"}';
    await redis.set(marketDataKeys.status, status);
    expect(await hub.status()).toBe(status);
  });
});
