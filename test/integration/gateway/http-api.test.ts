// SSE and the market-data REST API of the gateway, in-process on real Redis (DB 5), PostgreSQL and the simulator.
// Pub/sub is server-wide: this file only publishes on symbols starting with SSE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../support/redis.js';
import { createDb, seedDemoUsers } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { createMarketDataRestClient } from '../../../src/infra/alpaca/index.js';
import { marketDataKeys } from '../../../src/contracts/index.js';
import { createMarketDataHub, TierDirectory, type Gateway, type MarketDataHub } from '../../../src/gateway/index.js';
import { unlimited, type RequestLimiter } from '../../../src/gateway/http/request-limiter.js';
import { createSseRoutes, type SseRoutes } from '../../../src/gateway/http/sse.js';
import { createMarketRestRoutes, UPSTREAM_QUOTA_KEY } from '../../../src/gateway/http/market-rest.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { hmacAuth, openSse, signSession, startTestGateway, type SseClient } from '../../support/gateway.js';
import { startTestSimulator } from '../../support/simulator.js';
import { waitFor } from '../../support/wait.js';

const SECRET = 'http-api-test-secret-0123456789abcdef';
const SIM_KEY = { keyId: 'raxx-dev-key', secret: 'raxx-dev-secret' };
const redisUrl = () => testRedisUrl('http-api');

let t: TestDatabase;
let redis: Redis;
let subscriber: Redis;
let sseSubscriber: Redis;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let gateway: Gateway;
let hub: MarketDataHub;
let sse: SseRoutes;
let url: string;
let clockOffset = 0;
let upstreamCalls: string[] = [];
const denied = new Set<string>();
const tokens: Record<string, string> = {};
const openStreams: SseClient[] = [];

const limiter: RequestLimiter = {
  check: async (userId, tier) =>
    denied.has(userId) ? { allowed: false, limit: 60, remaining: 0, retryAfterSeconds: 7 } : unlimited.check(userId, tier),
};

// ---- feed simulation (what the fenced publish script writes) ----

function frame(kind: 'q' | 't', symbol: string, seq: number, src: 'rt' | 'delayed' = 'rt'): string {
  const ts = `2026-03-02T14:30:00.${String(seq).padStart(9, '0')}Z`;
  const body =
    kind === 'q'
      ? `{"T":"q","S":"${symbol}","bx":"V","bp":${100 + seq / 100},"bs":300,"ax":"Q","ap":${101 + seq / 100},"as":200,"c":["R"],"z":"C","t":"${ts}"`
      : `{"T":"t","S":"${symbol}","p":${100 + seq / 100},"s":10,"i":${seq},"x":"V","c":["@"],"z":"C","t":"${ts}"`;
  return `${body},"src":"${src}","seq":${seq}}`;
}

async function publishRt(kind: 'q' | 't', symbol: string, seq: number): Promise<void> {
  const f = frame(kind, symbol, seq);
  await redis
    .multi()
    .hset(marketDataKeys.seq, `${kind}:${symbol}`, String(seq))
    .hset(marketDataKeys.lkg, `${kind}:${symbol}`, f)
    .xadd(marketDataKeys.replay(kind, symbol), '*', 's', String(seq), 'f', f)
    .publish(`md:rt:${kind}:${symbol}`, f)
    .exec();
}

async function publishDl(kind: 'q' | 't', symbol: string, seq: number): Promise<void> {
  const f = frame(kind, symbol, seq, 'delayed');
  await redis.multi().hset(marketDataKeys.lkgDelayed, `${kind}:${symbol}`, f).publish(`md:dl:${kind}:${symbol}`, f).exec();
}

async function stream(query: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await openSse(`${url}/api/market-data/stream?${query}`, headers);
  openStreams.push(c);
  return c;
}

async function api(path: string, user?: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}${path}`, { headers: user ? { authorization: `Bearer ${tokens[user]}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

// ---- set-up ----

beforeAll(async () => {
  t = await createTestDatabase('raxx_http');
  const app = createDb(t.appUrl, { max: 2 });
  await seedDemoUsers(app.db);
  redis = createRedis(redisUrl(), 'http-test');
  subscriber = createRedis(redisUrl(), 'http-test-hub');
  sseSubscriber = createRedis(redisUrl(), 'http-test-sse');
  await redis.flushdb();
  sim = await startTestSimulator({ SIM_RATE: '20', SIM_SYMBOLS: '20' });

  for (const user of ['demo-free', 'demo-pro', 'demo-pro-plus']) tokens[user] = await signSession(user, SECRET);

  const clock = { now: () => Date.now() + clockOffset };
  const { logger } = createLogger({ role: 'gateway', level: 'silent' });
  const auth = hmacAuth(SECRET);
  const directory = new TierDirectory(app.db, { cacheMs: 60_000 });
  const upstream = createMarketDataRestClient({
    baseUrl: sim.url,
    keyId: () => SIM_KEY.keyId,
    secret: () => SIM_KEY.secret,
    fetchApi: (input, init) => {
      upstreamCalls.push(String(input));
      return fetch(input, init);
    },
  });
  sse = createSseRoutes({ auth, directory, limiter, hub: () => hub, subscriber: sseSubscriber, clock, logger, options: { heartbeatMs: 200 } });
  const rest = createMarketRestRoutes({ auth, directory, limiter, hub: () => hub, redis, upstream, clock, logger });
  ({ gateway, url } = await startTestGateway({
    auth,
    directory,
    clock,
    createHub: async (outlet) =>
      (hub = await createMarketDataHub({
        redis,
        subscriber,
        demand: { set: async () => {} },
        publish: outlet.publish,
        onStatus: outlet.onStatus,
        packWindowMs: 0,
      })),
    routes: [sse, rest],
  }));
  (globalThis as { __httpDb?: unknown }).__httpDb = app;
});

afterAll(async () => {
  for (const c of openStreams) c.close();
  await sse?.close();
  await gateway?.close();
  await sim?.close();
  await Promise.all([redis, subscriber, sseSubscriber].filter(Boolean).map((r) => closeRedis(r)));
  await ((globalThis as { __httpDb?: { close(): Promise<void> } }).__httpDb?.close() ?? Promise.resolve());
  await t?.drop();
});

// ---- SSE ----

describe('SSE /api/market-data/stream', () => {
  it('Pro: snapshot, then live real-time frames with <kind>:<symbol>:<seq> ids and heartbeats', async () => {
    await publishRt('q', 'SSEA', 1);
    const c = await stream(`symbols=SSEA&channels=quotes,trades&access_token=${tokens['demo-pro']}`);
    expect((await c.next('welcome')).json).toMatchObject({ user: 'demo-pro', tier: 'pro' });
    const snap = (await c.next('snapshot')).json as Array<Record<string, unknown>>;
    expect(snap).toEqual([expect.objectContaining({ T: 'q', S: 'SSEA', src: 'lkg', seq: 1 })]);
    await publishRt('q', 'SSEA', 2);
    await publishRt('t', 'SSEA', 1);
    const live = await c.next('md', (d) => (d as Array<{ seq: number; T: string }>)[0]!.T === 'q');
    expect(live.id).toBe('q:SSEA:2');
    expect(live.json).toEqual([expect.objectContaining({ T: 'q', S: 'SSEA', src: 'rt', seq: 2 })]);
    expect((await c.next('md')).id).toBe('t:SSEA:1');
    await waitFor(() => c.comments > 0, 2000, 'heartbeat');
    c.close();
  });

  it('Free: delay line only, lkg snapshot, and a tier_required event for bars', async () => {
    await publishDl('q', 'SSEB', 3);
    await publishRt('q', 'SSEB', 9);
    const c = await stream('symbols=SSEB&channels=quotes,bars', { cookie: `raxx_session=${tokens['demo-free']}` });
    const notice = await c.next('notice');
    expect(notice.json).toMatchObject({ code: 'tier_required', channel: 'bars', requiredTier: 'pro' });
    const snap = (await c.next('snapshot')).json as Array<Record<string, unknown>>;
    expect(snap).toEqual([expect.objectContaining({ S: 'SSEB', src: 'lkg', seq: 3 })]);
    await publishRt('q', 'SSEB', 10);
    await publishDl('q', 'SSEB', 4);
    const live = await c.next('md');
    expect(live.json).toEqual([expect.objectContaining({ S: 'SSEB', src: 'delayed', seq: 4 })]);
    expect(c.frames().every((f) => f.src !== 'rt')).toBe(true);
    c.close();
  });

  it('Last-Event-ID resumes the real-time line from the replay window', async () => {
    for (let seq = 1; seq <= 5; seq++) await publishRt('q', 'SSEC', seq);
    const c = await stream('symbols=SSEC&channels=quotes', { authorization: `Bearer ${tokens['demo-pro']}`, 'last-event-id': 'q:SSEC:2' });
    const replayed = await c.next('md');
    expect((replayed.json as Array<{ seq: number; src: string }>).map((f) => f.seq)).toEqual([3, 4, 5]);
    expect(replayed.id).toBe('q:SSEC:5');
    expect((await c.next('resume')).json).toEqual({ T: 'resume', key: 'q:SSEC', recovered: true, lastSeq: 5 });
    expect(c.events.some((e) => e.event === 'snapshot' && e.data !== '[]')).toBe(false);
    c.close();
    // Outside the window (seq 0 was never in it) → fresh snapshot, recovered:false; the query form works too.
    await redis.xtrim(marketDataKeys.replay('q', 'SSEC'), 'MAXLEN', 1);
    const d = await stream(`symbols=SSEC&channels=quotes&lastEventId=q:SSEC:1&access_token=${tokens['demo-pro']}`);
    expect((await d.next('snapshot')).json).toEqual([expect.objectContaining({ seq: 5, src: 'lkg' })]);
    expect((await d.next('resume')).json).toMatchObject({ recovered: false, reason: 'outside_window' });
    d.close();
  });

  it('a disconnect releases the hub references and the fan-out subscriptions', async () => {
    const c = await stream(`symbols=SSED,SSEE&channels=quotes,trades&access_token=${tokens['demo-pro-plus']}`);
    await c.next('snapshot');
    expect(sse.streams()).toBeGreaterThanOrEqual(1);
    expect(hub.stats().topics).toBeGreaterThanOrEqual(4);
    for (const s of openStreams) s.close();
    await waitFor(() => sse.streams() === 0 && hub.stats().topics === 0 && sse.channels() === 1, 3000, 'released');
  });

  it('401 without a session, 429 when the limiter denies', async () => {
    expect((await fetch(`${url}/api/market-data/stream?symbols=SSEA`)).status).toBe(401);
    denied.add('demo-pro');
    const res = await fetch(`${url}/api/market-data/stream?symbols=SSEA&access_token=${tokens['demo-pro']}`);
    denied.delete('demo-pro');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toMatchObject({ code: 'rate_limited' });
  });
});

// ---- REST ----

describe('REST /api/market-data', () => {
  it('snapshots: Free from the delayed LKG, Pro from the real-time LKG, each frame labelled lkg', async () => {
    await publishRt('q', 'SSEF', 7);
    await publishDl('q', 'SSEF', 3);
    const free = await api('/api/market-data/snapshots?symbols=SSEF', 'demo-free');
    expect(free.status).toBe(200);
    expect(free.body).toMatchObject({ tier: 'free', line: 'dl', snapshots: { SSEF: [expect.objectContaining({ T: 'q', src: 'lkg', seq: 3 })] } });
    const pro = await api('/api/market-data/snapshots?symbols=SSEF', 'demo-pro');
    expect(pro.body).toMatchObject({ tier: 'pro', line: 'rt', snapshots: { SSEF: [expect.objectContaining({ T: 'q', src: 'lkg', seq: 7 })] } });
    const bars = await api('/api/market-data/snapshots?symbols=SSEF&channels=bars', 'demo-free');
    expect(bars.status).toBe(403);
    expect(bars.body).toMatchObject({ code: 'tier_required', requiredTier: 'pro' });
    expect((await api('/api/market-data/snapshots?symbols=bad$', 'demo-pro')).body).toMatchObject({ code: 'invalid_request' });
  });

  it('bars: Pro+ gets the upstream bars (same as a direct call), Pro gets 403 tier_required', async () => {
    const end = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000).toISOString();
    const start = new Date(Date.parse(end) - 30 * 60_000).toISOString();
    const q = `timeframe=1Min&start=${start}&end=${end}&limit=5`;
    const ours = await api(`/api/market-data/bars?symbol=AAPL&${q}`, 'demo-pro-plus');
    expect(ours.status).toBe(200);
    const direct = await fetch(`${sim.url}/v2/stocks/AAPL/bars?${q}`, { headers: { 'APCA-API-KEY-ID': SIM_KEY.keyId, 'APCA-API-SECRET-KEY': SIM_KEY.secret } });
    const directBody = (await direct.json()) as Record<string, unknown>;
    expect((directBody.bars as unknown[]).length).toBe(5);
    expect(ours.body).toEqual(directBody);
    // Next page through page_token.
    const next = await api(`/api/market-data/bars?symbol=AAPL&${q}&page_token=${encodeURIComponent(String(directBody.next_page_token))}`, 'demo-pro-plus');
    expect(next.status).toBe(200);
    expect((next.body.bars as Array<{ t: string }>)[0]!.t > (directBody.bars as Array<{ t: string }>)[4]!.t).toBe(true);

    const pro = await api(`/api/market-data/bars?symbol=AAPL&${q}`, 'demo-pro');
    expect(pro.status).toBe(403);
    expect(pro.body).toMatchObject({ code: 'tier_required', requiredTier: 'pro_plus' });
    expect((await api('/api/market-data/bars?symbol=AAPL&timeframe=7Years', 'demo-pro-plus')).status).toBe(400);
  });

  it('bars: 20 concurrent identical requests make one upstream call; later ones hit the cache', async () => {
    const end = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 7_200_000).toISOString();
    const path = `/api/market-data/bars?symbol=MSFT&timeframe=5Min&end=${end}&start=${new Date(Date.parse(end) - 3_600_000).toISOString()}`;
    upstreamCalls = [];
    const replies = await Promise.all(Array.from({ length: 20 }, () => api(path, 'demo-pro-plus')));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(new Set(replies.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(upstreamCalls).toHaveLength(1);
    expect(upstreamCalls[0]).toContain(`${sim.url}/v2/stocks/MSFT/bars?`);
    expect((await api(path, 'demo-pro-plus')).status).toBe(200);
    expect(upstreamCalls).toHaveLength(1);
    expect(await redis.pttl(UPSTREAM_QUOTA_KEY)).toBeGreaterThan(0);
  });

  it('an exhausted shared quota answers 503 upstream_quota with Retry-After, without an upstream call', async () => {
    await redis.set(UPSTREAM_QUOTA_KEY, '200', 'PX', 42_000);
    upstreamCalls = [];
    const res = await api('/api/market-data/bars?symbol=TSLA&timeframe=1Hour&start=2026-01-05&end=2026-01-06', 'demo-pro-plus');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'upstream_quota' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(40);
    const chain = await api('/api/market-data/options/SPY', 'demo-pro');
    expect(chain.status).toBe(503);
    expect(upstreamCalls).toHaveLength(0);
    await redis.del(UPSTREAM_QUOTA_KEY);
  });

  it('option chains: Pro real-time; Free only data at least 15 minutes old', async () => {
    const pro = await api('/api/market-data/options/AAPL?limit=5', 'demo-pro');
    expect(pro.status).toBe(200);
    expect(pro.body.src).toBe('rt');
    const proQuotes = Object.values(pro.body.snapshots as Record<string, { latestQuote: { t: string } }>).map((s) => Date.parse(s.latestQuote.t));
    expect(proQuotes.length).toBeGreaterThan(0);
    for (const ts of proQuotes) expect(Math.abs(Date.now() - ts)).toBeLessThan(60_000);

    // Nothing old enough yet: Free waits (the chain Pro just fetched becomes eligible in 15 minutes).
    const early = await api('/api/market-data/options/AAPL?limit=5', 'demo-free');
    expect(early.status).toBe(503);
    expect(early.body).toMatchObject({ code: 'delayed_unavailable' });
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThan(14 * 60);

    clockOffset = 16 * 60_000; // 16 minutes later
    const free = await api('/api/market-data/options/AAPL?limit=5', 'demo-free');
    expect(free.status).toBe(200);
    expect(free.body.src).toBe('delayed');
    const now = Date.now() + clockOffset;
    expect(Date.parse(String(free.body.asOf))).toBeLessThanOrEqual(now - 15 * 60_000);
    const freeQuotes = Object.values(free.body.snapshots as Record<string, { latestQuote: { t: string } }>).map((s) => Date.parse(s.latestQuote.t));
    expect(freeQuotes.length).toBeGreaterThan(0);
    for (const ts of freeQuotes) expect(ts).toBeLessThanOrEqual(now - 15 * 60_000);
    clockOffset = 0;
  });

  it('401 without a session, 429 with Retry-After when the limiter denies', async () => {
    for (const path of ['/api/market-data/snapshots?symbols=AAPL', '/api/market-data/bars?symbol=AAPL&timeframe=1Min', '/api/market-data/options/AAPL']) {
      const res = await api(path);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'unauthorized' });
    }
    denied.add('demo-free');
    const res = await api('/api/market-data/snapshots?symbols=AAPL', 'demo-free');
    denied.delete('demo-free');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.body).toMatchObject({ code: 'rate_limited' });
  });
});
