// A slow SSE reader: a real TCP client that stops reading while the feed publishes fast. The gateway must skip market
// data for it (counted), never queue it, resync it with a snapshot once it drains, end it when it stays stuck, and keep
// serving a fast SSE client meanwhile. Real Redis (DB 0), PostgreSQL and uWS; pub/sub is server-wide: symbols SSB….
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { marketDataKeys } from '../../../src/contracts/index.js';
import { createMarketDataHub, TierDirectory, type Gateway, type MarketDataHub } from '../../../src/gateway/index.js';
import { unlimited } from '../../../src/gateway/http/request-limiter.js';
import { createSseRoutes, type SseRoutes } from '../../../src/gateway/http/sse.js';
import { createDb, seedDemoUsers, type DbHandle } from '../../../src/infra/db/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { createMetricsRegistry } from '../../../src/infra/metrics/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { hmacAuth, metricValue, openSse, signSession, startTestGateway, type SseClient } from '../../support/gateway.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';

const SECRET = 'sse-backpressure-secret-0123456789abcdef';
const redisUrl = () => testRedisUrl('sse-backpressure');
const registry = createMetricsRegistry('gateway');

let t: TestDatabase;
let app: DbHandle;
let redis: Redis;
let subscriber: Redis;
let sseSubscriber: Redis;
let hub: MarketDataHub;
let sse: SseRoutes;
let gateway: Gateway;
let url: string;
let token: string;
const opened: Array<{ close(): void }> = [];

const pad = 'x'.repeat(60_000);
const frame = (symbol: string, seq: number) => `{"T":"q","S":"${symbol}","bp":1,"bs":1,"ap":2,"as":1,"pad":"${pad}","t":"2026-03-02T14:30:00Z","src":"rt","seq":${seq}}`;

async function publish(symbol: string, seq: number): Promise<void> {
  const f = frame(symbol, seq);
  await redis.multi().hset(marketDataKeys.lkg, `q:${symbol}`, f).publish(`md:rt:q:${symbol}`, f).exec();
}

const metric = async (name: string) => metricValue(await registry.metrics(), name);

/** A raw HTTP/1.1 client over TCP, so the test decides exactly when the socket is read. */
class RawSse {
  text = '';
  ended = false;
  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (this.text += chunk));
    socket.on('close', () => (this.ended = true));
    socket.on('error', () => (this.ended = true));
  }
  static async open(path: string): Promise<RawSse> {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((res, rej) => socket.once('connect', () => res()).once('error', rej));
    const raw = new RawSse(socket);
    opened.push({ close: () => socket.destroy() });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    return raw;
  }
  count(needle: string): number {
    return this.text.split(needle).length - 1;
  }
}

beforeAll(async () => {
  t = await createTestDatabase('raxx_ssebp');
  app = createDb(t.appUrl, { max: 2 });
  await seedDemoUsers(app.db);
  redis = createRedis(redisUrl(), 'ssebp-test');
  subscriber = createRedis(redisUrl(), 'ssebp-hub');
  sseSubscriber = createRedis(redisUrl(), 'ssebp-sse');
  token = await signSession('demo-pro', SECRET);
  const auth = hmacAuth(SECRET);
  const directory = new TierDirectory(app.db, { cacheMs: 60_000 });
  const clock = { now: () => Date.now() };
  const { logger } = createLogger({ role: 'gateway', level: 'silent' });
  sse = createSseRoutes({ auth, directory, limiter: unlimited, hub: () => hub, subscriber: sseSubscriber, clock, logger, registry, options: { heartbeatMs: 200 } });
  ({ gateway, url } = await startTestGateway({
    auth,
    directory,
    clock,
    registry,
    createHub: async (outlet) =>
      (hub = await createMarketDataHub({ redis, subscriber, demand: { set: async () => {} }, publish: outlet.publish, onStatus: outlet.onStatus, packWindowMs: 0 })),
    routes: [sse],
  }));
});

afterAll(async () => {
  for (const o of opened) o.close();
  await sse?.close();
  await gateway?.close();
  await Promise.all([redis, subscriber, sseSubscriber].filter(Boolean).map((r) => closeRedis(r)));
  await app?.close();
  await t?.drop();
});

describe('SSE slow readers', () => {
  it('skips market data for a stream that stopped reading, resyncs it with a snapshot once it drains; a fast stream gets every frame', async () => {
    const N = 300; // ~18 MB of events
    const fast: SseClient = await openSse(`${url}/api/market-data/stream?symbols=SSBA&channels=quotes`, { authorization: `Bearer ${token}` });
    opened.push(fast);
    await fast.next('subscription');
    const slow = await RawSse.open('/api/market-data/stream?symbols=SSBA&channels=quotes');
    await waitFor(() => slow.text.includes('event: subscription'), 3000, 'the slow stream to open');
    await waitFor(() => sse.channels() >= 2, 3000, 'both streams subscribed');
    const skippedBefore = await metric('raxx_gateway_sse_skipped_total');
    const resyncsBefore = await metric('raxx_gateway_sse_resyncs_total');

    slow.socket.pause(); // stops reading: the kernel buffers fill, then uWS reports backpressure
    for (let seq = 1; seq <= N; seq++) await publish('SSBA', seq);

    // The fast reader gets every frame, in order, without gaps.
    await waitFor(() => fast.events.filter((e) => e.event === 'md').length >= N, 20_000, 'the fast stream to receive every frame');
    const seqs = fast.events.filter((e) => e.event === 'md').map((e) => (JSON.parse(e.data) as Array<{ seq: number }>)[0]!.seq);
    expect(seqs).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const skipped = (await metric('raxx_gateway_sse_skipped_total')) - skippedBefore;
    expect(skipped).toBeGreaterThan(N / 2);
    expect(sse.streams()).toBe(2);

    // Reading again: only what was already in flight arrives, then one snapshot with the latest frame.
    slow.socket.resume();
    await waitFor(() => slow.text.includes(`"src":"lkg","seq":${N}}`), 10_000, 'the resync snapshot with the latest frame');
    const delivered = slow.count('event: md\n');
    expect(delivered).toBeLessThan(N / 2);
    expect(delivered + skipped).toBeGreaterThanOrEqual(N - 1);
    expect((await metric('raxx_gateway_sse_resyncs_total')) - resyncsBefore).toBeGreaterThanOrEqual(1);

    // Live again after the resync.
    await publish('SSBA', N + 1);
    await waitFor(() => slow.text.includes(`"seq":${N + 1}}`), 5000, 'live frames after the resync');
    expect(slow.ended).toBe(false);
  });

  it('a stream that never reads again is ended (counted), its topics released; the fast stream keeps receiving', async () => {
    const fast = await openSse(`${url}/api/market-data/stream?symbols=SSBB&channels=quotes`, { authorization: `Bearer ${token}` });
    opened.push(fast);
    await fast.next('subscription');
    const stuck = await RawSse.open('/api/market-data/stream?symbols=SSBB&channels=quotes');
    await waitFor(() => stuck.text.includes('event: subscription'), 3000, 'the stuck stream to open');
    const streams = sse.streams();
    const closesBefore = await metric('raxx_gateway_sse_slow_closes_total');
    stuck.socket.pause();
    let seq = 0;
    while (seq < 200) await publish('SSBB', ++seq);
    // uWS ends a response whose backlog has not moved for its HTTP timeout (10 s); keep publishing meanwhile.
    await waitFor(
      async () => {
        await sleep(100);
        await publish('SSBB', ++seq);
        return sse.streams() === streams - 1;
      },
      25_000,
      'the stuck stream to be ended',
    );
    expect((await metric('raxx_gateway_sse_slow_closes_total')) - closesBefore).toBe(1);
    await publish('SSBB', ++seq);
    await fast.next('md', (d) => (d as Array<{ seq: number }>)[0]!.seq === seq, 5000);
  }, 40_000);
});
