// The gateway in-process on real Redis (DB 6) and PostgreSQL: auth before upgrade, the protocol, tiers, resume, limits.
// Pub/sub is server-wide: this file only uses symbols starting with GW.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../support/redis.js';
import { sql } from 'drizzle-orm';
import { createDb, seedDemoUsers, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataKeys } from '../../../src/contracts/index.js';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { connectWs, signSession, startTestGatewayRole, tryUpgrade, type SignOptions, type TestGatewayRole, type WsClient } from '../../support/gateway.js';
import { sleep } from '../../support/wait.js';

const SECRET = 'gateway-test-secret-0123456789abcdef';
const ORIGIN = 'http://127.0.0.1:8720';
const redisUrl = () => testRedisUrl('server-ws');

let t: TestDatabase;
let batch: DbHandle;
let redis: Redis;
let role: TestGatewayRole;
let url: string;
let wsUrl: string;
const clients: WsClient[] = [];

function headers(opts: { origin?: string | null; token?: string; cookie?: string }): Record<string, string> {
  const h: Record<string, string> = {};
  if (opts.origin !== null) h.Origin = opts.origin ?? ORIGIN;
  if (opts.token) h.Authorization = `Bearer ${opts.token}`;
  if (opts.cookie) h.Cookie = opts.cookie;
  return h;
}

async function connect(opts: { origin?: string | null; token?: string; cookie?: string; query?: string }): Promise<WsClient> {
  const client = await connectWs(`${wsUrl}${opts.query ?? ''}`, headers(opts));
  clients.push(client);
  return client;
}

/** HTTP status of an upgrade attempt (101 when it succeeded); a refusal must carry a typed body. */
async function upgradeStatus(opts: { origin?: string | null; token?: string; query?: string }): Promise<number> {
  const { status, body } = await tryUpgrade(`${wsUrl}${opts.query ?? ''}`, headers(opts));
  if (status !== 101) expect(body).toEqual({ code: expect.any(String), message: expect.any(String) });
  return status;
}

async function devToken(user: string): Promise<{ status: number; body: Record<string, unknown>; cookie: string | null }> {
  const res = await fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, cookie: res.headers.get('set-cookie') };
}

function sign(sub: string, opts: SignOptions & { secret?: string } = {}): Promise<string> {
  return signSession(sub, opts.secret ?? SECRET, opts);
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

  role = await startTestGatewayRole({
    REDIS_URL: redisUrl(),
    DATABASE_URL: t.appUrl,
    SESSION_JWT_SECRET: SECRET,
    GATEWAY_ALLOWED_ORIGINS: ORIGIN,
    GATEWAY_HEARTBEAT_MS: '300',
    GATEWAY_MAX_FRAME_BYTES: '131072',
    GATEWAY_PACK_WINDOW_MS: '1',
  });
  url = role.url;
  wsUrl = role.wsUrl;
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await role?.stop();
  await closeRedis(redis);
  await batch?.close();
  await t?.drop();
});

// ---- tests ----

describe('gateway server', () => {
  it('runs on the native uWS addon; /healthz, /readyz on both listeners, /metrics only on the internal one', async () => {
    expect(readFileSync('/proc/self/maps', 'utf8')).toContain('uws_linux_x64_115.node');
    expect(new URL(role.opsUrl).port).not.toBe(new URL(url).port);
    for (const base of [url, role.opsUrl]) {
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', role: 'gateway', connections: expect.any(Number) });
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', role: 'gateway', checks: { redis: 'ok', postgres: 'ok' } });
    }
    expect(await (await fetch(`${role.opsUrl}/readyz`)).json()).toMatchObject({ checks: { listener: 'ok' } });

    // The public listener never serves metrics, whatever the spelling; the internal one does.
    for (const path of ['/metrics', '/metrics/', '/metrics?x=1', '/METRICS']) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toMatch(/raxx_gateway_/);
    }
    const metrics = await fetch(`${role.opsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/raxx_gateway_connections\{role="gateway"\}/);
    expect(text).toMatch(/raxx_gateway_sse_skipped_total\{role="gateway"\}/);
    expect(text).toMatch(/raxx_gateway_hub_replay_reads_total\{role="gateway"\} \d+/);
    expect(text).toMatch(/raxx_gateway_hub_topics\{role="gateway"\} \d+/);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    // The two listeners can never be configured onto one port.
    expect(() => loadConfig({ PORT: '9100', GATEWAY_OPS_PORT: '9100' })).toThrow(ConfigError);
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

  // The bad-input list, one case each, on a fresh client; after every case an observer that subscribed at
  // the start gets a new real-time frame, so the gateway kept serving everyone else throughout.
  describe('bad input: a typed error or a refused upgrade, and another client keeps receiving', () => {
    let observer: WsClient;
    let seq = 0;
    const stillServing = async (what: string) => {
      seq += 1;
      await publishRt('q', 'GWI', seq);
      await observer.frames((f) => f.S === 'GWI' && f.src === 'rt' && f.seq === seq, `observer frame after ${what}`);
    };
    const typedError = (code: string) => ({ T: 'error', code, message: expect.any(String) });

    beforeAll(async () => {
      observer = await connect({ token: await sign('demo-pro') });
      observer.send({ action: 'subscribe', quotes: ['GWI'] });
      await observer.typed('subscription');
      await stillServing('subscribe');
    });

    const unsigned = () => {
      const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: 'demo-pro', iss: 'raxx-dev-issuer', aud: 'raxx-stream', exp: Math.floor(Date.now() / 1000) + 600 })}.`;
    };
    it.each<[string, () => Promise<{ origin?: string | null; token?: string }>, number, string]>([
      ['no token', async () => ({}), 401, 'unauthorized'],
      ['a forged token (another secret)', async () => ({ token: await sign('demo-pro', { secret: 'not-the-secret-not-the-secret-xx' }) }), 401, 'unauthorized'],
      ['an unsigned token (alg none)', async () => ({ token: unsigned() }), 401, 'unauthorized'],
      ['an expired token', async () => ({ token: await sign('demo-pro', { exp: Math.floor(Date.now() / 1000) - 60 }) }), 401, 'unauthorized'],
      ['a wrong-audience token', async () => ({ token: await sign('demo-pro', { audience: 'someone-else' }) }), 401, 'unauthorized'],
      ['a wrong-issuer token', async () => ({ token: await sign('demo-pro', { issuer: 'https://evil.example/' }) }), 401, 'unauthorized'],
      ['not a JWT', async () => ({ token: 'not.a.jwt' }), 401, 'unauthorized'],
      ['a wrong Origin', async () => ({ token: await sign('demo-pro'), origin: 'https://evil.example' }), 403, 'origin_not_allowed'],
      ['no Origin', async () => ({ token: await sign('demo-pro'), origin: null }), 403, 'origin_not_allowed'],
      ['an unknown user', async () => ({ token: await sign('nobody-here') }), 403, 'unknown_user'],
    ])('upgrade with %s → %i, no socket', async (what, opts, status, code) => {
      const h = headers(await opts());
      expect(await tryUpgrade(wsUrl, h)).toEqual({ status, body: { code, message: expect.any(String) } });
      await stillServing(what);
    });

    it('a good token still opens sockets by header and by query parameter', async () => {
      const good = await sign('demo-pro');
      expect(await upgradeStatus({ token: good })).toBe(101);
      expect(await upgradeStatus({ query: `?access_token=${good}` })).toBe(101);
    });

    it.each<[string, (c: WsClient) => void, Record<string, unknown>]>([
      ['malformed JSON', (c) => c.send('{not json'), typedError('invalid_json')],
      ['binary garbage', (c) => c.ws.send(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)), { binary: true }), typedError('binary_not_supported')],
      ['a JSON array', (c) => c.send('[1,2,3]'), typedError('invalid_message')],
      ['an unknown action', (c) => c.send({ action: 'launch' }), { ...typedError('unknown_action'), action: 'launch' }],
      ['a wrongly typed field', (c) => c.send({ action: 'subscribe', quotes: 'GWE' }), typedError('invalid_message')],
      ['an unknown field', (c) => c.send({ action: 'subscribe', quotes: ['GWE'], admin: true }), typedError('invalid_message')],
      ['invalid symbols', (c) => c.send({ action: 'subscribe', quotes: ['GWE', 'bad symbol!', '$$$'] }), { ...typedError('invalid_symbol'), symbols: ['bad symbol!', '$$$'] }],
      ['10,000 symbols in one subscribe', (c) => c.send({ action: 'subscribe', quotes: Array.from({ length: 10_000 }, (_, i) => `S${i}`) }), { ...typedError('symbol_limit'), limit: 25, requested: 10_000 }],
    ])('%s → a typed error; the socket stays usable', async (what, send, error) => {
      const c = await connect({ token: await sign('demo-free') });
      send(c);
      expect(await c.typed('error')).toEqual(error);
      c.send({ action: 'ping' });
      await c.typed('pong');
      await stillServing(what);
      c.close();
    });

    it('10,000 symbols on Pro+ (the largest limit) → symbol_limit too, nothing subscribed', async () => {
      const c = await connect({ token: await sign('demo-pro-plus') });
      c.send({ action: 'subscribe', quotes: Array.from({ length: 10_000 }, (_, i) => `S${i}`) });
      expect(await c.typed('error')).toEqual({ ...typedError('symbol_limit'), limit: 1000, requested: 10_000 });
      expect(await c.typed('subscription')).toMatchObject({ quotes: [] });
      await stillServing('10,000 symbols on Pro+');
      c.close();
    });

    it('an oversized frame closes 1009; beyond twice the limit uWS drops the connection (1006)', async () => {
      const big = await connect({ token: await sign('demo-free') });
      big.send(JSON.stringify({ action: 'subscribe', quotes: ['X'.repeat(140_000)] }));
      expect(await big.closed).toEqual({ code: 1009, reason: 'message too big' });
      await stillServing('an oversized frame');
      const huge = await connect({ token: await sign('demo-free') });
      huge.send('X'.repeat(300_000));
      expect((await huge.closed).code).toBe(1006);
      await stillServing('a huge frame');
    });

    it('a flood is rate limited (typed error), then closed 1008', async () => {
      const flood = await connect({ token: await sign('demo-free') });
      for (let i = 0; i < 80; i++) flood.send({ action: 'subscribe', quotes: ['GWE'] });
      expect(await flood.typed('error', (m) => m.code === 'rate_limited')).toEqual(typedError('rate_limited'));
      expect((await flood.closed).code).toBe(1008);
      await stillServing('a flood');
      expect(observer.ws.readyState).toBe(observer.ws.OPEN);
    });
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
    await role.stop();
    expect((await c.closed).code).toBe(1001);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    await expect(fetch(`${role.opsUrl}/healthz`)).rejects.toThrow();
  });
});
