// Fenced tick publish: seq, pub/sub, LKG, replay window, fencing across a leader change, fallback mode (DB 12).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedis, closeRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataChannels, marketDataKeys, tickFrameSchema, type TickKind } from '../../../src/contracts/market-data.js';
import { LeaderLease, TickPublisher, publishTicks, type TickInput } from '../../../src/infra/market-data/index.js';
import { testRedisUrl } from '../../support/redis.js';

// Own Redis database; pub/sub is server-wide, so this file also uses symbols no other file uses (P…).
const url = () => testRedisUrl('redis-publish');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SYMBOLS = ['PUBA', 'PUBB', 'PUBC', 'PUB.D', 'PUBE'];

function tick(kind: TickKind, symbol: string, i: number): TickInput {
  const t = `2026-03-02T14:30:00.${String(i).padStart(9, '0')}Z`;
  const body =
    kind === 'q'
      ? `{"T":"q","S":"${symbol}","bp":${100 + i / 100},"bs":1,"ap":${101 + i / 100},"as":2,"t":"${t}"`
      : `{"T":"t","S":"${symbol}","p":${100 + i / 100},"s":10,"i":${i},"t":"${t}"`;
  return { kind, symbol, body };
}

interface Received {
  channel: string;
  message: string;
}

let redis: Redis;
let sub: Redis;
let received: Received[] = [];
const lease = () => new LeaderLease(redis);

beforeAll(async () => {
  redis = createRedis(url(), 'test-publish');
  sub = createRedis(url(), 'test-publish-sub');
  sub.on('pmessage', (_p: string, channel: string, message: string) => {
    if (/^md:(rt|dl):[a-z]:(PUB|RWX|FBK)/.test(channel)) received.push({ channel, message });
  });
  await sub.psubscribe('md:*');
});
afterAll(async () => {
  await closeRedis(sub);
  await closeRedis(redis);
});
beforeEach(async () => {
  await redis.flushdb();
  received = [];
});

async function settle(expected: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (received.length < expected && Date.now() < until) await sleep(10);
  await sleep(50); // and nothing more arrives
}

describe('publishTicks', () => {
  it('assigns contiguous seqs per (kind, symbol) across batches and a leader change; one frame each, in order', async () => {
    const a = await lease().acquireOrRenew('feed-a', 300);
    expect(a.leader).toBe(true);
    let n = 0;
    const batches = (count: number) =>
      Array.from({ length: count }, () =>
        Array.from({ length: 200 }, (_, j) => tick(j % 2 === 0 ? 'q' : 't', SYMBOLS[j % SYMBOLS.length]!, n++)),
      );
    for (const batch of batches(10)) {
      const r = await publishTicks(redis, a.epoch, batch);
      expect(r.ok).toBe(true);
    }

    // A stops renewing; B takes over after expiry and continues the seqs.
    await sleep(400);
    const b = await lease().acquireOrRenew('feed-b', 5000);
    expect(b).toMatchObject({ leader: true, epoch: a.epoch + 1 });
    // Pipelined (not awaited one by one): one connection keeps script order.
    const results = await Promise.all(batches(10).map((batch) => publishTicks(redis, b.epoch, batch)));
    expect(results.every((r) => r.ok)).toBe(true);

    await settle(4000);
    expect(received).toHaveLength(4000);
    const byKey = new Map<string, { seq: number; frame: string }[]>();
    for (const { channel, message } of received) {
      const frame = tickFrameSchema.parse(JSON.parse(message));
      expect(frame.src).toBe('rt');
      expect(channel).toBe(marketDataChannels.tick('rt', frame.T, frame.S));
      const key = `${frame.T}:${frame.S}`;
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key)!.push({ seq: frame.seq, frame: message });
    }
    expect(byKey.size).toBe(10);
    for (const [key, frames] of byKey) {
      expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      expect(await redis.hget(marketDataKeys.seq, key)).toBe('400');
      // Last-known-good is the last frame.
      expect(await redis.hget(marketDataKeys.lkg, key)).toBe(frames.at(-1)!.frame);
      // The replay stream holds every frame of the window, in order.
      const [kind, symbol] = key.split(':') as [TickKind, string];
      const entries = await redis.xrange(marketDataKeys.replay(kind, symbol), '-', '+');
      expect(entries.map(([, f]) => Number(f[1]))).toEqual(frames.map((f) => f.seq));
      expect(entries.map(([, f]) => f[3])).toEqual(frames.map((f) => f.frame));
      expect(entries.every(([, f]) => f[0] === 's' && f[2] === 'f')).toBe(true);
      expect(await redis.pttl(marketDataKeys.replay(kind, symbol))).toBeGreaterThan(120_000);
    }
    // The frame is the body plus src and seq, byte for byte.
    const first = tick('q', 'PUBA', 0);
    expect(byKey.get('q:PUBA')![0]!.frame).toBe(`${first.body},"src":"rt","seq":1}`);
  });

  it('fencing: a former leader publishes nothing and assigns no seq once its epoch is gone', async () => {
    const a = await lease().acquireOrRenew('feed-a', 200);
    const ticks = [tick('q', 'PUBA', 1), tick('t', 'PUBA', 2)];
    expect(await publishTicks(redis, a.epoch, ticks)).toEqual({ ok: true, seqs: [1, 1] });
    await settle(2);
    received = [];

    const snapshot = async () => ({
      seq: await redis.hgetall(marketDataKeys.seq),
      lkg: await redis.hgetall(marketDataKeys.lkg),
      lkgDl: await redis.hgetall(marketDataKeys.lkgDelayed),
      rw: await redis.xlen(marketDataKeys.replay('q', 'PUBA')),
      delay: await redis.xlen(marketDataKeys.delay),
    });

    // The lease expired and nobody holds it: still fenced (the lease must hold exactly this epoch).
    await sleep(300);
    const before = await snapshot();
    const entry = { kind: 'q' as const, symbol: 'PUBA', body: ticks[0]!.body, seq: 1 };
    expect(await publishTicks(redis, a.epoch, ticks, [entry])).toEqual({ ok: false, reason: 'fenced' });

    // B takes over; A (paused, now awake) publishes with its old epoch: nothing at all happens.
    const b = await lease().acquireOrRenew('feed-b', 5000);
    expect(b.epoch).toBe(a.epoch + 1);
    expect(await publishTicks(redis, a.epoch, ticks, [entry])).toEqual({ ok: false, reason: 'fenced' });
    const publisherA = new TickPublisher(redis);
    expect(await publisherA.publishTicks(a.epoch, ticks)).toEqual({ ok: false, reason: 'fenced' });
    await sleep(100);
    expect(received).toEqual([]);
    expect(await snapshot()).toEqual(before);

    // B continues A's seqs.
    expect(await publishTicks(redis, b.epoch, ticks)).toEqual({ ok: true, seqs: [2, 2] });
    await settle(2);
    expect(received.map((r) => (JSON.parse(r.message) as { seq: number }).seq)).toEqual([2, 2]);
  });

  it('trims the replay stream beyond the window (exact and approximate)', async () => {
    const { epoch } = await lease().acquireOrRenew('feed-a', 10_000);
    const old = Array.from({ length: 250 }, (_, i) => tick('t', 'RWXA', i));
    const oldB = Array.from({ length: 250 }, (_, i) => tick('t', 'RWXB', i));
    expect((await publishTicks(redis, epoch, [...old.slice(0, 200)], [], { replayWindowMs: 300, trim: '=' })).ok).toBe(true);
    expect((await publishTicks(redis, epoch, [...old.slice(200)], [], { replayWindowMs: 300, trim: '=' })).ok).toBe(true);
    expect((await publishTicks(redis, epoch, oldB.slice(0, 200), [], { replayWindowMs: 300 })).ok).toBe(true);
    expect((await publishTicks(redis, epoch, oldB.slice(200), [], { replayWindowMs: 300 })).ok).toBe(true);
    expect(await redis.xlen(marketDataKeys.replay('t', 'RWXA'))).toBe(250);
    expect(await redis.pttl(marketDataKeys.replay('t', 'RWXA'))).toBeLessThanOrEqual(300);

    await sleep(350);
    // Expired as a whole after a silent window.
    expect(await redis.exists(marketDataKeys.replay('t', 'RWXA'))).toBe(0);

    // Within a live stream: older entries are trimmed, the window's entries stay.
    const fresh = (symbol: string, from: number) => Array.from({ length: 5 }, (_, i) => tick('t', symbol, from + i));
    await publishTicks(redis, epoch, [...old.slice(0, 100), ...oldB.slice(0, 100)].map((t) => ({ ...t })), [], { replayWindowMs: 1000, trim: '=' });
    await sleep(200);
    await publishTicks(redis, epoch, old.slice(100, 150), [], { replayWindowMs: 1000, trim: '=' });
    await publishTicks(redis, epoch, oldB.slice(100, 250), [], { replayWindowMs: 1000, trim: '~' });
    await sleep(900); // the first 100 are now older than the window, the rest are not
    await publishTicks(redis, epoch, fresh('RWXA', 1000), [], { replayWindowMs: 1000, trim: '=' });
    await publishTicks(redis, epoch, fresh('RWXB', 1000), [], { replayWindowMs: 1000, trim: '~' });
    const exact = await redis.xrange(marketDataKeys.replay('t', 'RWXA'), '-', '+');
    expect(exact.map(([, f]) => Number(f[1]))).toEqual(Array.from({ length: 55 }, (_, i) => 351 + i));
    // Approximate: whole 100-entry nodes go; nothing of the window is lost.
    const approx = await redis.xrange(marketDataKeys.replay('t', 'RWXB'), '-', '+');
    const seqs = approx.map(([, f]) => Number(f[1]));
    expect(seqs.length).toBeLessThan(255);
    expect(seqs.at(-1)).toBe(505);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 506 - seqs.length + i));
    expect(seqs[0]!).toBeLessThanOrEqual(351);
  });

  it('fallback mode: frames labelled delayed, published on both lines, both LKGs, no delay-line entry', async () => {
    const { epoch } = await lease().acquireOrRenew('feed-a', 10_000);
    // A pending delay line from real-time mode is dropped when the fallback starts.
    const rtPublisher = new TickPublisher(redis);
    await rtPublisher.publishTicks(epoch, [tick('q', 'FBKA', 0)]);
    await redis.xadd(marketDataKeys.delay, '*', 'k', 'q', 'S', 'FBKA', 's', '1', 'f', '{}');

    const publisher = new TickPublisher(redis, { mode: 'fallback' });
    const r = await publisher.publishTicks(epoch, [tick('q', 'FBKA', 1), tick('t', 'FBKA', 2)]);
    expect(r).toEqual({ ok: true, seqs: [2, 1] });
    expect(await publisher.flushDelay(epoch)).toEqual({ ok: true, seqs: [] });
    await settle(5);
    const fb = received.filter((x) => (JSON.parse(x.message) as { src: string }).src === 'delayed');
    expect(fb.map((x) => x.channel).sort()).toEqual(['md:dl:q:FBKA', 'md:dl:t:FBKA', 'md:rt:q:FBKA', 'md:rt:t:FBKA']);
    const quote = `${tick('q', 'FBKA', 1).body},"src":"delayed","seq":2}`;
    expect(fb.filter((x) => x.channel.endsWith('q:FBKA')).map((x) => x.message)).toEqual([quote, quote]);
    expect(await redis.hget(marketDataKeys.lkg, 'q:FBKA')).toBe(quote);
    expect(await redis.hget(marketDataKeys.lkgDelayed, 'q:FBKA')).toBe(quote);
    expect(await redis.exists(marketDataKeys.delay)).toBe(0);
    expect(publisher.pendingDelayEntries).toBe(0);
  });

  it('rejects malformed input before calling Redis', async () => {
    await expect(publishTicks(redis, 1, [{ kind: 'q', symbol: 'PUBA', body: '{"T":"q"}' }])).rejects.toThrow(/closing brace/);
    await expect(publishTicks(redis, 1, [{ kind: 'x' as TickKind, symbol: 'PUBA', body: '{"T":"x"' }])).rejects.toThrow(/kind/);
    await expect(publishTicks(redis, 1, [{ kind: 'q', symbol: 'md:x', body: '{"T":"q"' }])).rejects.toThrow(/symbol/);
  });
});
