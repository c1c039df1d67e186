// The gateway in-process on real Redis (DB 6) and PostgreSQL: auth before upgrade, the protocol, tiers, resume, limits.
// Pub/sub is server-wide: this file only uses symbols starting with GW.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../support/redis.js';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { sql } from 'drizzle-orm';
import { loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { createMetricsRegistry } from '../../../src/infra/metrics/index.js';
import { createDb, seedDemoUsers, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataKeys } from '../../../src/contracts/index.js';
import { startGatewayRole } from '../../../src/main/roles/gateway.js';
import type { RoleContext } from '../../../src/main/role-context.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { sleep, waitFor } from '../../support/wait.js';

const REDIS_DB = 6;
const SECRET = 'gateway-test-secret-0123456789abcdef';
const ISSUER = 'raxx-dev-issuer';
const AUDIENCE = 'raxx-stream';
const ORIGIN = 'http://127.0.0.1:8720';
const redisUrl = () => testRedisUrl(REDIS_DB);

let t: TestDatabase;
let batch: DbHandle;
let redis: Redis;
let url: string;
let wsUrl: string;
const shutdownSteps: Array<() => Promise<void> | void> = [];
const clients: Client[] = [];

// ---- a small ws client that keeps every message ----

type Msg = Record<string, unknown> | Array<Record<string, unknown>>;

class Client {
  readonly messages: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private cursor = 0;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(data.toString()) as Msg);
    });
    this.closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
  }
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
  /** Next message (after the previous `next`) matching `pred`. */
  async next(pred: (m: Msg) => boolean, what = 'message', timeoutMs = 3000): Promise<Msg> {
    let found: Msg | undefined;
    await waitFor(
      () => {
        for (let i = this.cursor; i < this.messages.length; i++) {
          if (pred(this.messages[i]!)) {
            found = this.messages[i]!;
            this.cursor = i + 1;
            return true;
          }
        }
        return false;
      },
      timeoutMs,
      what,
    );
    return found!;
  }
  typed(T: string, extra: (m: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    return this.next((m) => !Array.isArray(m) && m.T === T && extra(m), `"T":"${T}"`) as Promise<Record<string, unknown>>;
  }
  frames(pred: (f: Record<string, unknown>) => boolean = () => true, what = 'frames'): Promise<Array<Record<string, unknown>>> {
    return this.next((m) => Array.isArray(m) && m.some(pred), what) as Promise<Array<Record<string, unknown>>>;
  }
  allFrames(): Array<Record<string, unknown>> {
    return this.messages.filter(Array.isArray).flat();
  }
  close(): void {
    this.ws.close();
  }
}

function headers(opts: { origin?: string | null; token?: string; cookie?: string }): Record<string, string> {
  const h: Record<string, string> = {};
  if (opts.origin !== null) h.Origin = opts.origin ?? ORIGIN;
  if (opts.token) h.Authorization = `Bearer ${opts.token}`;
  if (opts.cookie) h.Cookie = opts.cookie;
  return h;
}

async function connect(opts: { origin?: string | null; token?: string; cookie?: string; query?: string }): Promise<Client> {
  const ws = new WebSocket(`${wsUrl}${opts.query ?? ''}`, { headers: headers(opts) });
  const client = new Client(ws);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  clients.push(client);
  await client.typed('welcome');
  return client;
}

/** HTTP status of an upgrade attempt (101 when it succeeded). */
function upgradeStatus(opts: { origin?: string | null; token?: string; query?: string }): Promise<number> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`${wsUrl}${opts.query ?? ''}`, { headers: headers(opts) });
    ws.on('unexpected-response', (_req, response) => {
      res(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      res(101);
      ws.close();
    });
    ws.on('error', (err) => rej(err));
  });
}

async function devToken(user: string): Promise<{ status: number; body: Record<string, unknown>; cookie: string | null }> {
  const res = await fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, cookie: res.headers.get('set-cookie') };
}

async function sign(sub: string, opts: { secret?: string; audience?: string; exp?: number | string } = {}): Promise<string> {
  return new SignJWT({ role: 'user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer(ISSUER)
    .setAudience(opts.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '1h')
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

// ---- feed simulation: exactly what the fenced publish script writes ----

function frame(kind: 'q' | 't' | 'b', symbol: string, seq: number, src: 'rt' | 'delayed' = 'rt'): string {
  const t = `2026-03-02T14:30:00.${String(seq).padStart(9, '0')}Z`;
  const body =
    kind === 'q'
      ? `{"T":"q","S":"${symbol}","bx":"V","bp":${100 + seq / 100},"bs":300,"ax":"Q","ap":${101 + seq / 100},"as":200,"c":["R"],"z":"C","t":"${t}"`
      : kind === 't'
        ? `{"T":"t","S":"${symbol}","p":${100 + seq / 100},"s":10,"i":${seq},"x":"V","c":["@"],"z":"C","t":"${t}"`
        : `{"T":"b","S":"${symbol}","o":1,"h":2,"l":0.5,"c":1.5,"v":100,"t":"${t}"`;
  return `${body},"src":"${src}","seq":${seq}}`;
}

async function publishRt(kind: 'q' | 't' | 'b', symbol: string, seq: number): Promise<string> {
  const f = frame(kind, symbol, seq);
  await redis
    .multi()
    .hset(marketDataKeys.seq, `${kind}:${symbol}`, seq)
    .hset(marketDataKeys.lkg, `${kind}:${symbol}`, f)
    .xadd(marketDataKeys.replay(kind, symbol), '*', 's', String(seq), 'f', f)
    .publish(`md:rt:${kind}:${symbol}`, f)
    .exec();
  return f;
}

async function publishDl(kind: 'q' | 't', symbol: string, seq: number): Promise<string> {
  const f = frame(kind, symbol, seq, 'delayed');
  await redis.multi().hset(marketDataKeys.lkgDelayed, `${kind}:${symbol}`, f).publish(`md:dl:${kind}:${symbol}`, f).exec();
  return f;
}

// ---- set-up ----

beforeAll(async () => {
  t = await createTestDatabase('raxx_gw');
  const app = createDb(t.appUrl, { max: 1 });
  await seedDemoUsers(app.db);
  await app.close();
  batch = createDb(t.batchUrl, { max: 1 });
  await batch.db.execute(sql`insert into users (id, tier) values ('gw-switch', 'free'), ('gw-down', 'pro')`);

  redis = createRedis(redisUrl(), 'gw-test');
  await redis.flushdb();

  const config = loadConfig({
    RAXX_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    REDIS_URL: redisUrl(),
    DATABASE_URL: t.appUrl,
    SESSION_JWT_SECRET: SECRET,
    GATEWAY_ALLOWED_ORIGINS: ORIGIN,
    GATEWAY_HEARTBEAT_MS: '300',
    GATEWAY_MAX_FRAME_BYTES: '131072',
    GATEWAY_PACK_WINDOW_MS: '1',
  });
  const { logger, redactor } = createLogger({ role: 'gateway', level: 'silent' });
  const ctx: RoleContext = {
    role: 'gateway',
    config,
    logger,
    redactor,
    metrics: createMetricsRegistry('gateway'),
    onShutdown: (step) => shutdownSteps.push(step),
  };
  const running = await startGatewayRole(ctx);
  url = running.url;
  wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  for (const step of shutdownSteps.reverse()) await step();
  await closeRedis(redis);
  await batch?.close();
  await t?.drop();
});

// ---- tests ----

describe('gateway server', () => {
  it('runs on the native uWS addon and serves /healthz, /readyz (Redis + PostgreSQL), /metrics and 404', async () => {
    expect(readFileSync('/proc/self/maps', 'utf8')).toContain('uws_linux_x64_115.node');
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', role: 'gateway' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', role: 'gateway', checks: { redis: 'ok', postgres: 'ok' } });
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/raxx_gateway_connections\{role="gateway"\}/);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('refuses upgrades before any socket exists: 401 for no, forged, expired or foreign tokens; 403 for bad Origin or unknown user', async () => {
    const good = await sign('demo-pro');
    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ token: await sign('demo-pro', { secret: 'not-the-secret-not-the-secret-xx' }) })).toBe(401);
    expect(await upgradeStatus({ token: await sign('demo-pro', { exp: Math.floor(Date.now() / 1000) - 60 }) })).toBe(401);
    expect(await upgradeStatus({ token: await sign('demo-pro', { audience: 'someone-else' }) })).toBe(401);
    expect(await upgradeStatus({ token: 'not.a.jwt' })).toBe(401);
    expect(await upgradeStatus({ token: good, origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus({ token: good, origin: null })).toBe(403);
    expect(await upgradeStatus({ token: await sign('nobody-here') })).toBe(403);
    // …and keeps serving: header, query parameter.
    expect(await upgradeStatus({ token: good })).toBe(101);
    expect(await upgradeStatus({ query: `?access_token=${good}` })).toBe(101);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('issues dev tokens for existing users only, with an HttpOnly session cookie that opens a socket', async () => {
    const res = await devToken('demo-pro');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: 'demo-pro', tier: 'pro', expiresIn: 3600 });
    expect(res.cookie).toMatch(/^raxx_session=[\w-]+\.[\w-]+\.[\w-]+; HttpOnly; SameSite=Lax; Path=\//);
    expect((await devToken('nobody-here')).status).toBe(404);
    const bad = await fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(bad.status).toBe(400);

    const c = await connect({ cookie: res.cookie!.split(';')[0]! });
    expect(c.messages[0]).toMatchObject({ T: 'welcome', user: 'demo-pro', tier: 'pro' });
    c.send({ action: 'ping' });
    expect(await c.typed('pong')).toMatchObject({ T: 'pong' });
    expect(await c.typed('hb')).toMatchObject({ T: 'hb', t: expect.any(Number) });
    c.close();
  });

  it('Pro: subscribe quotes → ack, last-known-good snapshot, then live real-time frames as arrays', async () => {
    await publishRt('q', 'GWA', 1);
    const c = await connect({ token: await sign('demo-pro') });
    c.send({ action: 'subscribe', quotes: ['GWA'], trades: ['gwa'] });
    const ack = await c.typed('subscription');
    expect(ack).toMatchObject({ quotes: ['GWA'], trades: ['GWA'], bars: [], depth: [] });
    const snap = await c.frames(() => true, 'snapshot');
    expect(snap).toEqual([expect.objectContaining({ T: 'q', S: 'GWA', src: 'lkg', seq: 1 })]);

    await publishRt('q', 'GWA', 2);
    await publishRt('t', 'GWA', 1);
    const live = await c.frames((f) => f.T === 'q' && f.src === 'rt', 'live quote');
    expect(live[0]).toMatchObject({ T: 'q', S: 'GWA', src: 'rt', seq: 2 });
    await c.frames((f) => f.T === 't' && f.src === 'rt', 'live trade');

    c.send({ action: 'unsubscribe', quotes: ['GWA'] });
    expect(await c.typed('subscription')).toMatchObject({ quotes: [], trades: ['GWA'] });
    await sleep(50);
    const before = c.allFrames().length;
    await publishRt('q', 'GWA', 3);
    await publishRt('t', 'GWA', 2);
    await c.frames((f) => f.T === 't' && f.seq === 2, 'trade after unsubscribe');
    expect(c.allFrames().slice(before).every((f) => f.T === 't')).toBe(true);
    c.close();
  });

  it('Free: quotes come from the delay line only (delayed/lkg), whatever it asks; bars are refused with tier_required', async () => {
    await publishDl('q', 'GWB', 1);
    const token = (await devToken('demo-free')).body.token as string;
    const c = await connect({ query: `?access_token=${token}` });
    expect(c.messages[0]).toMatchObject({ tier: 'free' });
    c.send({ action: 'subscribe', quotes: ['GWB'], bars: ['GWB'] });
    expect(await c.typed('error')).toMatchObject({ code: 'tier_required', channel: 'bars', requiredTier: 'pro' });
    expect(await c.typed('subscription')).toMatchObject({ quotes: ['GWB'], bars: [] });
    expect(await c.frames()).toEqual([expect.objectContaining({ S: 'GWB', src: 'lkg', seq: 1 })]);

    await publishRt('q', 'GWB', 5);
    await publishRt('b', 'GWB', 1);
    await publishDl('q', 'GWB', 2);
    await c.frames((f) => f.src === 'delayed' && f.seq === 2, 'delayed quote');
    await sleep(100);
    expect(c.allFrames().map((f) => f.src)).toEqual(['lkg', 'delayed']);
    c.close();
  });

  it('Pro+: depth is granted (ack only, no data source yet); Pro is told depth needs pro_plus', async () => {
    const plus = await connect({ token: await sign('demo-pro-plus') });
    plus.send({ action: 'subscribe', depth: ['GWA'], lulds: ['GWA'] });
    expect(await plus.typed('subscription')).toMatchObject({ depth: ['GWA'], lulds: ['GWA'] });
    const pro = await connect({ token: await sign('demo-pro') });
    pro.send({ action: 'subscribe', depth: ['GWA'] });
    expect(await pro.typed('error')).toMatchObject({ code: 'tier_required', requiredTier: 'pro_plus' });
    expect(await pro.typed('subscription')).toMatchObject({ depth: [] });
    plus.close();
    pro.close();
  });

  it('a tier change in PostgreSQL + users:tier-changed moves the socket to the other line within 1 s', async () => {
    const c = await connect({ token: await sign('gw-switch') });
    c.send({ action: 'subscribe', quotes: ['GWC'] });
    await c.typed('subscription');
    await publishDl('q', 'GWC', 1);
    await c.frames((f) => f.src === 'delayed', 'delayed before upgrade');

    await batch.db.execute(sql`update users set tier = 'pro' where id = 'gw-switch'`);
    const started = Date.now();
    await redis.publish('users:tier-changed', 'gw-switch');
    expect(await c.typed('tier')).toMatchObject({ tier: 'pro' });
    expect(await c.typed('subscription')).toMatchObject({ quotes: ['GWC'] });
    await publishRt('q', 'GWC', 7);
    await c.frames((f) => f.src === 'rt' && f.seq === 7, 'real-time after upgrade');
    expect(Date.now() - started).toBeLessThan(1000);
    await publishDl('q', 'GWC', 2);
    await publishRt('q', 'GWC', 8);
    await c.frames((f) => f.src === 'rt' && f.seq === 8, 'next real-time');
    expect(c.allFrames().filter((f) => f.src === 'delayed').map((f) => f.seq)).toEqual([1]);
    c.close();
  });

  it('a downgrade drops channels the new tier lacks (tier_required) and moves the rest to the delay line', async () => {
    const c = await connect({ token: await sign('gw-down') });
    c.send({ action: 'subscribe', quotes: ['GWC'], bars: ['GWC'] });
    expect(await c.typed('subscription')).toMatchObject({ quotes: ['GWC'], bars: ['GWC'] });
    await batch.db.execute(sql`update users set tier = 'free' where id = 'gw-down'`);
    await redis.publish('users:tier-changed', 'gw-down');
    expect(await c.typed('error')).toMatchObject({ code: 'tier_required', channel: 'bars', requiredTier: 'pro' });
    expect(await c.typed('tier')).toMatchObject({ tier: 'free' });
    expect(await c.typed('subscription')).toMatchObject({ quotes: ['GWC'], bars: [] });
    const seen = c.allFrames().length;
    await publishRt('q', 'GWC', 20);
    await publishRt('b', 'GWC', 2);
    await publishDl('q', 'GWC', 21);
    await c.frames((f) => f.src === 'delayed' && f.seq === 21, 'delayed after downgrade');
    expect(c.allFrames().slice(seen).some((f) => f.src === 'rt')).toBe(false);
    c.close();
  });

  it('resume: missed frames 8..10 are replayed (recovered:true); a gap beyond the window gets a snapshot (recovered:false)', async () => {
    for (let seq = 1; seq <= 10; seq++) await publishRt('q', 'GWD', seq);
    const c = await connect({ token: await sign('demo-pro') });
    c.send({ action: 'subscribe', quotes: ['GWD'], resume: { 'q:GWD': 7 } });
    await c.typed('subscription');
    const replayed = await c.frames(() => true, 'replayed frames');
    expect(replayed.map((f) => [f.seq, f.src])).toEqual([
      [8, 'rt'],
      [9, 'rt'],
      [10, 'rt'],
    ]);
    expect(await c.typed('resume')).toMatchObject({ key: 'q:GWD', recovered: true, lastSeq: 10 });

    // The window now starts at 6: a client at 2 cannot be recovered.
    const stream = marketDataKeys.replay('q', 'GWD');
    const entries = (await redis.xrange(stream, '-', '+')) as Array<[string, string[]]>;
    await redis.xtrim(stream, 'MINID', entries[5]![0]);
    const d = await connect({ token: await sign('demo-pro') });
    d.send({ action: 'subscribe', quotes: ['GWD'], resume: { 'q:GWD': 2 } });
    await d.typed('subscription');
    expect(await d.frames()).toEqual([expect.objectContaining({ seq: 10, src: 'lkg' })]);
    expect(await d.typed('resume')).toMatchObject({ key: 'q:GWD', recovered: false });

    // The delay line has no replay: always a snapshot.
    await publishDl('q', 'GWD', 3);
    const f = await connect({ token: await sign('demo-free') });
    f.send({ action: 'subscribe', quotes: ['GWD'], resume: { 'q:GWD': 2 } });
    await f.typed('subscription');
    expect(await f.frames()).toEqual([expect.objectContaining({ seq: 3, src: 'lkg' })]);
    expect(await f.typed('resume')).toMatchObject({ recovered: false, reason: 'delayed_line' });
    for (const x of [c, d, f]) x.close();
  });

  it('bad input gets typed errors, oversize closes 1009, a flood closes 1008 — and another client keeps receiving', async () => {
    const observer = await connect({ token: await sign('demo-pro') });
    observer.send({ action: 'subscribe', quotes: ['GWE'] });
    await observer.typed('subscription');

    const c = await connect({ token: await sign('demo-free') });
    c.send('{not json');
    expect(await c.typed('error')).toMatchObject({ code: 'invalid_json' });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await c.typed('error')).toMatchObject({ code: 'binary_not_supported' });
    c.send({ action: 'launch' });
    expect(await c.typed('error')).toMatchObject({ code: 'unknown_action' });
    c.send({ action: 'subscribe', quotes: 'GWE' });
    expect(await c.typed('error')).toMatchObject({ code: 'invalid_message' });
    c.send({ action: 'subscribe', quotes: ['GWE', 'bad symbol!', '$$$'] });
    expect(await c.typed('error')).toMatchObject({ code: 'invalid_symbol', symbols: ['bad symbol!', '$$$'] });
    expect(await c.typed('subscription')).toMatchObject({ quotes: [] });
    c.send({ action: 'subscribe', quotes: Array.from({ length: 10_000 }, (_, i) => `S${i}`) });
    expect(await c.typed('error')).toMatchObject({ code: 'symbol_limit', limit: 25, requested: 10_000 });
    expect(await c.typed('subscription')).toMatchObject({ quotes: [] });

    const big = await connect({ token: await sign('demo-free') });
    big.send(JSON.stringify({ action: 'subscribe', quotes: ['X'.repeat(140_000)] }));
    expect(await big.closed).toEqual({ code: 1009, reason: 'message too big' });
    // Beyond twice the limit uWS itself drops the connection (no close frame).
    const huge = await connect({ token: await sign('demo-free') });
    huge.send('X'.repeat(300_000));
    expect((await huge.closed).code).toBe(1006);

    const flood = await connect({ token: await sign('demo-free') });
    for (let i = 0; i < 80; i++) flood.send({ action: 'subscribe', quotes: ['GWE'] });
    expect(await flood.typed('error')).toMatchObject({ code: 'rate_limited' });
    expect((await flood.closed).code).toBe(1008);

    await publishRt('q', 'GWE', 1);
    await observer.frames((f) => f.S === 'GWE' && f.src === 'rt', 'observer still receiving');
    c.send({ action: 'ping' });
    await c.typed('pong');
    observer.close();
    c.close();
  });

  it('a hub status message on md:status reaches every client', async () => {
    const a = await connect({ token: await sign('demo-free') });
    const b = await connect({ token: await sign('demo-pro-plus') });
    const status = { state: 'degraded', reason: 'market_data_disabled', since: new Date().toISOString() };
    await redis.publish('md:status', JSON.stringify(status));
    expect(await a.typed('status')).toEqual({ T: 'status', ...status });
    expect(await b.typed('status')).toEqual({ T: 'status', ...status });
    a.close();
    b.close();
  });

  it('closes gracefully: the listen socket first, then every socket with 1001', async () => {
    const c = await connect({ token: await sign('demo-pro') });
    for (const step of shutdownSteps.splice(0).reverse()) await step();
    expect((await c.closed).code).toBe(1001);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
