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
