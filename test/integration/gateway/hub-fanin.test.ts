// Gateway market-data hub, fan-in side: ref-counted SUBSCRIBE, packing, demand, status channel (symbols HUB…).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, closeRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataChannels, type TickKind } from '../../../src/contracts/market-data.js';
import { createMarketDataHub, type MarketDataHub } from '../../../src/gateway/market-data/index.js';
import { testRedisUrl } from '../../support/redis.js';

// Own Redis database for keys; pub/sub is server-wide, so only symbols no other file uses (HUB…).
const url = () => testRedisUrl('hub-fanin');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(2);
  }
}

function frame(kind: TickKind, symbol: string, seq: number, src: 'rt' | 'delayed' = 'rt'): string {
  const t = `2026-03-02T14:30:00.${String(seq).padStart(9, '0')}Z`;
  return `{"T":"${kind}","S":"${symbol}","bp":${1.5 + seq / 100},"bs":1,"ap":${1.6 + seq / 100},"as":2,"t":"${t}","src":"${src}","seq":${seq}}`;
}

interface Published {
  topic: string;
  payload: string;
  at: number;
}

interface Harness {
  hub: MarketDataHub;
  subscriber: Redis;
  published: Published[];
  statuses: string[];
  demandCalls: string[][];
  demandStopped: () => boolean;
}

let redis: Redis;
let publisher: Redis;
const opened: { hub: MarketDataHub; subscriber: Redis }[] = [];

async function makeHub(packWindowMs?: number): Promise<Harness> {
  const subscriber = createRedis(url(), 'test-hub-sub');
  const published: Published[] = [];
  const statuses: string[] = [];
  const demandCalls: string[][] = [];
  let stopped = false;
  const hub = await createMarketDataHub({
    redis,
    subscriber,
    demand: {
      set: async (symbols) => {
        demandCalls.push([...symbols]);
      },
      stop: async () => {
        stopped = true;
      },
    },
    publish: (topic, payload) => published.push({ topic, payload, at: performance.now() }),
    onStatus: (s) => statuses.push(s),
    ...(packWindowMs === undefined ? {} : { packWindowMs }),
  });
  opened.push({ hub, subscriber });
  return { hub, subscriber, published, statuses, demandCalls, demandStopped: () => stopped };
}

/** Every frame of every payload, in publish order (also checks each payload is a JSON array of strings' objects). */
function framesOf(published: Published[], topic: string): string[] {
  const out: string[] = [];
  for (const p of published) {
    if (p.topic !== topic) continue;
    const parsed: unknown = JSON.parse(p.payload);
    expect(Array.isArray(parsed)).toBe(true);
    // The exact frame strings, concatenated: re-serialising the parsed items gives back the payload.
    expect(p.payload).toBe(`[${(parsed as unknown[]).map((x) => JSON.stringify(x)).join(',')}]`);
    for (const x of parsed as unknown[]) out.push(JSON.stringify(x));
  }
  return out;
}

// This file writes no keys (hub-resume.test.ts owns DB 7's keys and flushes it): only pub/sub.
beforeAll(async () => {
  redis = createRedis(url(), 'test-hub');
  publisher = createRedis(url(), 'test-hub-pub');
});

afterEach(async () => {
  for (const { hub, subscriber } of opened.splice(0)) {
    await hub.close();
    await closeRedis(subscriber);
  }
});

afterAll(async () => {
  await closeRedis(redis);
  await closeRedis(publisher);
});

describe('market-data hub: fan-in', () => {
  it('publishes acquired channels as arrays under the Redis channel name; last release stops them', async () => {
    const h = await makeHub();
    const topic = h.hub.topic('rt', 'q', 'HUBA');
    expect(topic).toBe(marketDataChannels.tick('rt', 'q', 'HUBA'));
    expect(topic).toBe('md:rt:q:HUBA');

    // Not acquired yet: nothing arrives.
    await publisher.publish(topic, frame('q', 'HUBA', 1));
    await sleep(20);
    expect(h.published).toEqual([]);

    await h.hub.acquire('rt', 'q', 'HUBA');
    await h.hub.acquire('rt', 'q', 'HUBA'); // second reference
    expect(h.hub.stats().topics).toBe(1);
    await publisher.publish(topic, frame('q', 'HUBA', 2));
    await until(() => h.published.length === 1);
    expect(h.published[0]!.topic).toBe(topic);
    expect(h.published[0]!.payload).toBe(`[${frame('q', 'HUBA', 2)}]`);

    // Releasing one of two references keeps the topic.
    await h.hub.release('rt', 'q', 'HUBA');
    await publisher.publish(topic, frame('q', 'HUBA', 3));
    await until(() => h.published.length === 2);
    expect(h.published[1]!.payload).toBe(`[${frame('q', 'HUBA', 3)}]`);

    // The last release unsubscribes.
    await h.hub.release('rt', 'q', 'HUBA');
    expect(h.hub.stats().topics).toBe(0);
    expect(await publisher.publish(topic, frame('q', 'HUBA', 4))).toBe(0); // no subscriber left on the server
    await sleep(20);
    expect(h.published).toHaveLength(2);
    expect(h.hub.stats()).toEqual({ topics: 0, framesIn: 2, publishes: 2, replayRequests: 0, replayReads: 0, snapshotHits: 0, snapshotReads: 0 });

    // Other lines/kinds/symbols are separate topics.
    await h.hub.acquire('dl', 't', 'HUBB');
    await publisher.publish('md:rt:t:HUBB', frame('t', 'HUBB', 1));
    await publisher.publish('md:dl:t:HUBB', frame('t', 'HUBB', 7, 'delayed'));
    await until(() => h.published.length === 3);
    await sleep(20);
    expect(h.published.map((p) => p.topic)).toEqual([topic, topic, 'md:dl:t:HUBB']);
  });

  it('announces demand (debounced) as the symbols with any acquired topic on either line', async () => {
    const h = await makeHub();
    await h.hub.acquire('rt', 'q', 'HUBA');
    await h.hub.acquire('rt', 't', 'HUBA');
    await h.hub.acquire('dl', 'q', 'HUBB'); // Free socket: the delay line also needs the upstream symbol
    await h.hub.acquire('rt', 'q', 'HUBC');
    await until(() => h.demandCalls.length > 0);
    await sleep(80);
    // The four acquires within the debounce give one call.
    expect(h.demandCalls).toEqual([['HUBA', 'HUBB', 'HUBC']]);

    await h.hub.release('rt', 'q', 'HUBA'); // HUBA still has its trade topic
    await h.hub.release('rt', 'q', 'HUBC');
    await until(() => h.demandCalls.length === 2);
    expect(h.demandCalls[1]).toEqual(['HUBA', 'HUBB']);

    // Release and re-acquire within the debounce: the set did not change, no call.
    await h.hub.release('dl', 'q', 'HUBB');
    await h.hub.acquire('dl', 'q', 'HUBB');
    await sleep(120);
    expect(h.demandCalls).toHaveLength(2);

    await h.hub.close();
    expect(h.demandStopped()).toBe(true);
  });

  it('packs a burst of 50 frames into a handful of ordered array payloads of the exact frame strings', async () => {
    const h = await makeHub(); // default 2 ms window
    await h.hub.acquire('rt', 'q', 'HUBA');
    await h.hub.acquire('rt', 't', 'HUBA');
    const topic = h.hub.topic('rt', 'q', 'HUBA');
    const frames = Array.from({ length: 50 }, (_, i) => frame('q', 'HUBA', 100 + i));
    const tx = publisher.pipeline();
    for (const f of frames) tx.publish(topic, f);
    tx.publish('md:rt:t:HUBA', frame('t', 'HUBA', 1)); // a second topic in the same burst
    await tx.exec();
    await until(() => framesOf(h.published, topic).length === 50);
    const qPayloads = h.published.filter((p) => p.topic === topic);
    expect(qPayloads.length).toBeLessThanOrEqual(5);
    expect(framesOf(h.published, topic)).toEqual(frames);
    for (const p of qPayloads) expect(p.payload.startsWith(`[${frames[0]!.slice(0, 10)}`)).toBe(true);
    await until(() => h.published.some((p) => p.topic === 'md:rt:t:HUBA'));
    expect(framesOf(h.published, 'md:rt:t:HUBA')).toEqual([frame('t', 'HUBA', 1)]);
    expect(h.hub.stats().framesIn).toBe(51);
  });

  it('publishes a quiet topic at once and packs a busy topic until its window ends', async () => {
    const windowMs = 100;
    const h = await makeHub(windowMs);
    await h.hub.acquire('rt', 'q', 'HUBC');
    const topic = h.hub.topic('rt', 'q', 'HUBC');
    // Arrival time: this listener runs right after the hub's own `message` listener.
    const arrivals: number[] = [];
    h.subscriber.on('message', (ch: string) => {
      if (ch === topic) arrivals.push(performance.now());
    });
    const publishOne = async (seq: number): Promise<void> => {
      const before = arrivals.length;
      await publisher.publish(topic, frame('q', 'HUBC', seq));
      await until(() => arrivals.length === before + 1);
    };

    // Quiet topic: no wait for the window.
    await publishOne(1);
    await until(() => h.published.length === 1);
    expect(h.published[0]!.payload).toBe(`[${frame('q', 'HUBC', 1)}]`);
    expect(h.published[0]!.at - arrivals[0]!).toBeLessThan(windowMs / 2);

    // Busy (it published in this window): the next frames wait for the window's end and go out as one pack.
    await publishOne(2);
    await publishOne(3);
    expect(h.published).toHaveLength(1);
    await until(() => h.published.length === 2);
    const pack = h.published[1]!;
    expect(pack.payload).toBe(`[${frame('q', 'HUBC', 2)},${frame('q', 'HUBC', 3)}]`);
    expect(pack.at - h.published[0]!.at).toBeGreaterThanOrEqual(windowMs - 5);
    expect(pack.at - arrivals[1]!).toBeLessThan(windowMs + 50); // slack for a loaded CI machine

    // A whole window without a frame: quiet again, published at once.
    await sleep(windowMs * 2.5);
    await publishOne(4);
    await until(() => h.published.length === 3);
    expect(h.published[2]!.payload).toBe(`[${frame('q', 'HUBC', 4)}]`);
    expect(h.published[2]!.at - arrivals[3]!).toBeLessThan(windowMs / 2);
  });

  it('with packWindowMs 0 publishes each frame alone, synchronously', async () => {
    const h = await makeHub(0);
    await h.hub.acquire('rt', 'q', 'HUBB');
    const topic = h.hub.topic('rt', 'q', 'HUBB');
    let publishedWhenArrived = -1;
    h.subscriber.on('message', (ch: string) => {
      if (ch === topic) publishedWhenArrived = h.published.length;
    });
    const frames = Array.from({ length: 20 }, (_, i) => frame('q', 'HUBB', i + 1));
    const tx = publisher.pipeline();
    for (const f of frames) tx.publish(topic, f);
    await tx.exec();
    await until(() => h.published.length === 20);
    expect(h.published.map((p) => p.payload)).toEqual(frames.map((f) => `[${f}]`));
    expect(publishedWhenArrived).toBe(20); // published inside the hub's listener, before ours ran
  });

  it('hands md:status messages to onStatus', async () => {
    const h = await makeHub();
    const status = '{"state":"degraded","reason":"market_data_disabled","since":"2026-03-02T14:30:00.000Z"}';
    // md:status is server-wide: other test files may publish their own statuses too.
    await publisher.publish(marketDataChannels.status, status);
    await until(() => h.statuses.includes(status));
    expect(h.published).toEqual([]);
  });

  it('close is idempotent, unsubscribes everything and refuses new acquires', async () => {
    const h = await makeHub();
    await h.hub.acquire('rt', 'q', 'HUBA');
    await h.hub.acquire('dl', 'q', 'HUBA');
    const topic = h.hub.topic('rt', 'q', 'HUBA');
    // A pending pack is dropped on close.
    await publisher.publish(topic, frame('q', 'HUBA', 9));
    await Promise.all([h.hub.close(), h.hub.close()]);
    await h.hub.close();
    expect(h.demandStopped()).toBe(true);
    const channels = (await h.subscriber.call('PUBSUB', 'CHANNELS', 'md:*:HUBA')) as string[];
    expect(channels).toEqual([]);
    await expect(h.hub.acquire('rt', 'q', 'HUBA')).rejects.toThrow(/closed/);
    await h.hub.release('rt', 'q', 'HUBA'); // no-op, no throw
    await sleep(20);
    expect(h.hub.stats().topics).toBe(0);
  });

  it('converges under interleaved acquire/release of one topic (SUBSCRIBE/UNSUBSCRIBE in flight)', async () => {
    const h = await makeHub(0);
    const topic = h.hub.topic('rt', 'q', 'HUBC');
    const subscribedOnServer = async () => ((await publisher.call('PUBSUB', 'NUMSUB', topic)) as [string, number])[1];
    // acquire, release (while SUBSCRIBE is in flight), acquire again: ends subscribed with one reference.
    await Promise.all([h.hub.acquire('rt', 'q', 'HUBC'), h.hub.release('rt', 'q', 'HUBC'), h.hub.acquire('rt', 'q', 'HUBC')]);
    expect(h.hub.stats().topics).toBe(1);
    expect(await subscribedOnServer()).toBe(1);
    await publisher.publish(topic, frame('q', 'HUBC', 1));
    await until(() => h.published.length === 1);
    // release, then acquire while UNSUBSCRIBE is in flight: still subscribed.
    await Promise.all([h.hub.release('rt', 'q', 'HUBC'), h.hub.acquire('rt', 'q', 'HUBC')]);
    expect(await subscribedOnServer()).toBe(1);
    await publisher.publish(topic, frame('q', 'HUBC', 2));
    await until(() => h.published.length === 2);
    await h.hub.release('rt', 'q', 'HUBC');
    expect(await subscribedOnServer()).toBe(0);
    expect(h.hub.stats().topics).toBe(0);
  });

  it('rejects invalid topics and ignores releases of unknown ones', async () => {
    const h = await makeHub();
    await expect(h.hub.acquire('rt', 'q', 'not a symbol')).rejects.toThrow(/symbol/);
    await expect(h.hub.acquire('xx' as 'rt', 'q', 'HUBA')).rejects.toThrow(/line/);
    await expect(h.hub.acquire('rt', 'z' as TickKind, 'HUBA')).rejects.toThrow(/kind/);
    await h.hub.release('rt', 'q', 'HUBZ');
    expect(h.hub.stats().topics).toBe(0);
  });

  it('survives a subscriber that cannot reach Redis: acquire rejects, nothing throws uncaught', async () => {
    const errors: unknown[] = [];
    const subscriber = createRedis(url(), 'test-hub-sub-broken');
    const hub = await createMarketDataHub({
      redis,
      subscriber,
      demand: {
        set: async () => {
          throw new Error('demand down');
        },
      },
      publish: () => {},
      onStatus: () => {},
      onError: (err) => errors.push(err),
    });
    subscriber.disconnect(false); // no reconnect: commands now fail
    await expect(hub.acquire('rt', 'q', 'HUBA')).rejects.toThrow();
    expect(hub.stats().topics).toBe(0);
    await sleep(80);
    await hub.close();
    await hub.close();
  });
});
