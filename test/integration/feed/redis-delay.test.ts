// Delay line: conflation, fenced release never before the delay, delayed frames and LKG (DB 13).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedis, closeRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataKeys, tickFrameSchema } from '../../../src/contracts/market-data.js';
import { DelayConflator, DelayConsumer, LeaderLease, TickPublisher, type TickInput } from '../../../src/infra/market-data/index.js';
import { testRedisUrl } from '../../support/redis.js';

// Own Redis database; pub/sub is server-wide, so this file also uses symbols no other file uses (DLY…).
const url = () => testRedisUrl('redis-delay');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const quote = (symbol: string, i: number): TickInput => ({
  kind: 'q',
  symbol,
  body: `{"T":"q","S":"${symbol}","bp":${i},"bs":1,"ap":${i + 1},"as":1,"t":"2026-03-02T14:30:00.000000000Z"`,
});
const trade = (symbol: string, i: number): TickInput => ({
  kind: 't',
  symbol,
  body: `{"T":"t","S":"${symbol}","p":${i},"s":1,"i":${i},"t":"2026-03-02T14:30:00.000000000Z"`,
});

describe('DelayConflator (pure)', () => {
  it('keeps the latest q/t per symbol within a second and hands them over when the second rolls over', () => {
    const c = new DelayConflator();
    const e = (kind: 'q' | 't' | 'b', symbol: string, seq: number) => ({ kind, symbol, body: `{"x":${seq}`, seq });
    for (let i = 1; i <= 50; i++) c.offer(e('q', 'AAA', i), 10_000 + i * 10);
    c.offer(e('t', 'AAA', 7), 10_900);
    c.offer(e('q', 'BBB', 3), 10_999);
    c.offer(e('b', 'AAA', 1), 10_999); // not a delay-line kind
    expect(c.drain(10_999)).toEqual([]); // the second is not over yet
    expect(c.size).toBe(3);
    c.offer(e('q', 'AAA', 51), 11_000); // next second: the previous one is handed over
    expect(c.drain(11_500)).toEqual([e('q', 'AAA', 50), e('t', 'AAA', 7), e('q', 'BBB', 3)]);
    expect(c.drain(11_999)).toEqual([]);
    expect(c.drain(12_000)).toEqual([e('q', 'AAA', 51)]);
    c.offer(e('q', 'AAA', 52), 12_100);
    c.clear();
    expect(c.drain(20_000)).toEqual([]);
  });
});

describe('delay line (real Redis)', () => {
  let redis: Redis;
  let sub: Redis;
  let received: { at: number; channel: string; message: string }[] = [];

  beforeAll(async () => {
    redis = createRedis(url(), 'test-delay');
    sub = createRedis(url(), 'test-delay-sub');
    sub.on('pmessage', (_p: string, channel: string, message: string) => {
      if (/^md:dl:[a-z]:DLY/.test(channel)) received.push({ at: Date.now(), channel, message });
    });
    await sub.psubscribe('md:dl:*');
  });
  afterAll(async () => {
    await closeRedis(sub);
    await closeRedis(redis);
  });
  beforeEach(async () => {
    await redis.flushdb();
    received = [];
  });

  it('conflates to one entry per kind and symbol per second (the latest), with the original seq', async () => {
    const { epoch } = await new LeaderLease(redis).acquireOrRenew('feed-a', 10_000);
    let now = 1_000_000;
    const publisher = new TickPublisher(redis, { now: () => now });
    for (let b = 0; b < 5; b++) {
      const batch = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? quote('DLYA', b * 20 + i) : trade('DLYA', b * 20 + i)));
      expect((await publisher.publishTicks(epoch, batch)).ok).toBe(true);
      now += 100;
    }
    expect(await redis.xlen(marketDataKeys.delay)).toBe(0); // the second is not over
    now += 1000;
    expect(await publisher.flushDelay(epoch)).toEqual({ ok: true, seqs: [] });
    const entries = await redis.xrange(marketDataKeys.delay, '-', '+');
    expect(entries.map(([, f]) => f)).toEqual([
      ['k', 'q', 'S', 'DLYA', 's', '50', 'f', `${quote('DLYA', 98).body},"src":"delayed","seq":50}`],
      ['k', 't', 'S', 'DLYA', 's', '50', 'f', `${trade('DLYA', 99).body},"src":"delayed","seq":50}`],
    ]);
    // Entries of a completed second also ride along with the next publish call.
    await publisher.publishTicks(epoch, [quote('DLYA', 500)]);
    now += 1000;
    await publisher.publishTicks(epoch, [quote('DLYA', 501)]);
    expect(await redis.xlen(marketDataKeys.delay)).toBe(3);
    expect(received).toEqual([]); // nothing reaches the delay line's channels yet
  });

  it('releases nothing before the delay and everything after it, on md:dl, with the original seq', async () => {
    const DELAY = 1500;
    const { epoch } = await new LeaderLease(redis).acquireOrRenew('feed-a', 30_000);
    let now = 2_000_000;
    const publisher = new TickPublisher(redis, { now: () => now });
    const consumer = new DelayConsumer(redis, { delayMs: DELAY });
    const symbols = ['DLYB', 'DLYC', 'DLY.D'];
    // Three "seconds" of entries, appended ~300 ms apart in real time.
    for (let s = 0; s < 3; s++) {
      await publisher.publishTicks(epoch, symbols.flatMap((sym, i) => [quote(sym, s * 10 + i), trade(sym, s * 10 + i)]));
      now += 1000;
      await publisher.flushDelay(epoch);
      await sleep(300);
    }
    const entries = await redis.xrange(marketDataKeys.delay, '-', '+');
    expect(entries).toHaveLength(18);
    const enteredAt = new Map(entries.map(([id, f]) => [f[7]!, Number(id.split('-')[0])]));

    // A caller whose clock runs far ahead still cannot release early: the script also checks Redis time.
    const early = await consumer.releaseDue(epoch, Date.now() + 60_000);
    expect(early).toMatchObject({ ok: true, released: 0 });
    expect(early.ok && early.oldestAgeMs).toBeGreaterThanOrEqual(0);

    // A non-leader cannot release.
    expect(await consumer.releaseDue(epoch + 1)).toEqual({ ok: false, reason: 'fenced' });

    const deadline = Date.now() + DELAY + 2500;
    let last: Awaited<ReturnType<DelayConsumer['releaseDue']>> | undefined;
    while (Date.now() < deadline) {
      last = await consumer.releaseDue(epoch);
      expect(last.ok).toBe(true);
      if (last.ok && last.oldestAgeMs === null) break;
      await sleep(100);
    }
    await sleep(50);
    expect(last).toEqual({ ok: true, released: expect.any(Number), oldestAgeMs: null });
    expect(received).toHaveLength(18);
    for (const r of received) {
      const entered = enteredAt.get(r.message)!;
      expect(entered).toBeDefined();
      expect(r.at - entered).toBeGreaterThanOrEqual(DELAY);
      const frame = tickFrameSchema.parse(JSON.parse(r.message));
      expect(frame.src).toBe('delayed');
      expect(r.channel).toBe(`md:dl:${frame.T}:${frame.S}`);
    }
    // Per (kind, symbol): one entry per second, seqs increasing (original seqs of the conflated ticks).
    const seqs = received.filter((r) => r.channel === 'md:dl:q:DLYB').map((r) => tickFrameSchema.parse(JSON.parse(r.message)).seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(await redis.hget(marketDataKeys.lkgDelayed, 'q:DLYB')).toBe(`${quote('DLYB', 20).body},"src":"delayed","seq":3}`);
    expect(await redis.xlen(marketDataKeys.delay)).toBe(0);
  });

  it('a former leader cannot append to the delay line, and its pending entries are dropped', async () => {
    const lease = new LeaderLease(redis);
    const a = await lease.acquireOrRenew('feed-a', 150);
    let now = 3_000_000;
    const publisher = new TickPublisher(redis, { now: () => now });
    await publisher.publishTicks(a.epoch, [quote('DLYE', 1)]);
    await sleep(250);
    const b = await lease.acquireOrRenew('feed-b', 10_000);
    expect(b.leader).toBe(true);
    now += 1000;
    expect(await publisher.flushDelay(a.epoch)).toEqual({ ok: false, reason: 'fenced' });
    expect(publisher.pendingDelayEntries).toBe(0);
    expect(await redis.xlen(marketDataKeys.delay)).toBe(0);
  });
});
