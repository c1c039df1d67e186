// The /ops endpoints and the ops CLI against the gateway in-process, on real Redis (DB 4) and PostgreSQL.
// Pub/sub is server-wide: the users this file changes are its own (ops-*), the kill-switch key lives in DB 4.
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { marketDataKeys } from '../../../src/contracts/index.js';
import { TierDirectory, type Gateway, type SessionAuth } from '../../../src/gateway/index.js';
import { opsRoutes, type OpsRoutesDeps } from '../../../src/gateway/http/ops-routes.js';
import { createDb, seedDemoUsers, type DbHandle } from '../../../src/infra/db/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { createRedisRateLimiter } from '../../../src/infra/rate-limit/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { hmacAuth, signSession, startTestGateway } from '../../support/gateway.js';
import { testRedisUrl } from '../../support/redis.js';
import { waitFor } from '../../support/wait.js';

const SECRET = 'ops-test-secret-0123456789abcdefgh';
const redisUrl = () => testRedisUrl('ops-routes');

let t: TestDatabase;
let app: DbHandle;
let owner: DbHandle;
let redis: Redis;
let auth: SessionAuth;
let directory: TierDirectory;
let gateway: Gateway;
let url: string;
const extraGateways: Gateway[] = [];

function sign(sub: string, role: 'user' | 'operator', secret = SECRET): Promise<string> {
  return signSession(sub, secret, { role });
}

/** The production wiring of the routes (shared Redis limiter, default budget unless given). */
function routes(extra: Partial<OpsRoutesDeps> = {}) {
  const { logger } = createLogger({ role: 'gateway', level: 'silent' });
  return opsRoutes({ auth, db: app.db, redis, logger, maxBodyBytes: 4096, rateLimiter: createRedisRateLimiter(redis), ...extra });
}

async function call(method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; contentType?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function auditRows(action: string) {
  return owner.sql<Array<{ chain: string; actor: string; subject: string | null; outcome: string; details: Record<string, unknown> }>>`
    select chain, actor, subject, outcome, details from audit_log where action = ${action} order by id`;
}

let operatorToken: string;

beforeAll(async () => {
  t = await createTestDatabase('raxx_ops');
  app = createDb(t.appUrl, { max: 4 });
  await seedDemoUsers(app.db);
  owner = createDb(t.ownerUrl, { max: 1 });
  const batch = createDb(t.batchUrl, { max: 1 });
  await batch.db.execute(sql`insert into users (id, tier) values ('ops-tier-user', 'free'), ('ops-cli-user', 'free')`);
  await batch.db.execute(sql`insert into users (id, tier, role) values ('ops-rl-op', 'free', 'operator'), ('ops-rl-op2', 'free', 'operator')`);
  await batch.close();

  redis = createRedis(redisUrl(), 'ops-test');
  await redis.del(marketDataKeys.killSwitch, marketDataKeys.status);
  for (const key of await redis.keys('rl:{*}:ops')) await redis.del(key);

  auth = hmacAuth(SECRET);
  directory = new TierDirectory(app.db, { cacheMs: 1000 });
  ({ gateway, url } = await startTestGateway({ auth, directory, options: { allowedOrigins: [] }, routes: [routes()] }));
  operatorToken = await sign('demo-operator', 'operator');
});

afterAll(async () => {
  for (const g of extraGateways) await g.close();
  await gateway?.close();
  await redis?.del(marketDataKeys.killSwitch, marketDataKeys.status);
  if (redis) await closeRedis(redis);
  await app?.close();
  await owner?.close();
  await t?.drop();
});

describe('/ops endpoints', () => {
  it('401 without or with a forged token; 403 operator_required unless token role AND users.role are operator', async () => {
    expect(await call('GET', '/ops/market-data')).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    const forged = await sign('demo-operator', 'operator', 'not-the-secret-not-the-secret-xxxx');
    expect((await call('GET', '/ops/rules', { token: forged })).status).toBe(401);
    expect((await call('POST', '/ops/market-data/kill-switch', { token: 'not.a.jwt', body: { on: true } })).status).toBe(401);

    // A plain user; a user whose (validly signed) token claims operator; an operator whose token says user.
    for (const token of [await sign('demo-pro', 'user'), await sign('demo-pro', 'operator'), await sign('demo-operator', 'user')]) {
      const res = await call('POST', '/ops/market-data/kill-switch', { token, body: { on: true } });
      expect(res).toMatchObject({ status: 403, body: { code: 'operator_required', message: expect.any(String) } });
    }
    expect(await redis.exists(marketDataKeys.killSwitch)).toBe(0);
    const denied = await auditRows('ops.access');
    expect(denied).toHaveLength(3);
    expect(denied.every((r) => r.outcome === 'denied')).toBe(true);
    expect(denied.map((r) => r.actor)).toEqual(['user:demo-pro', 'user:demo-pro', 'user:demo-operator']);
  });

  it('kill switch: sets and clears {md}:kill, wakes the leader on md:demand:changed, audits enable/disable', async () => {
    const sub = createRedis(redisUrl(), 'ops-test-sub');
    const seen: string[] = [];
    sub.on('message', (_channel: string, message: string) => seen.push(message));
    await sub.subscribe('md:demand:changed');
    try {
      await redis.set(marketDataKeys.status, JSON.stringify({ state: 'live', since: '2026-03-02T14:30:00Z' }));
      expect(await call('POST', '/ops/market-data/kill-switch', { token: operatorToken, body: { on: true } })).toEqual({ status: 200, body: { killSwitch: true } });
      expect(await redis.get(marketDataKeys.killSwitch)).toBe('1');
      await waitFor(() => seen.includes('kill-switch'), 2000, 'demand-changed wake-up');
      expect(await call('GET', '/ops/market-data', { token: operatorToken })).toEqual({
        status: 200,
        body: { killSwitch: true, hub: { state: 'live', since: '2026-03-02T14:30:00Z' } },
      });

      expect((await call('POST', '/ops/market-data/kill-switch', { token: operatorToken, body: { on: false } })).status).toBe(200);
      expect(await redis.exists(marketDataKeys.killSwitch)).toBe(0);
      expect((await call('GET', '/ops/market-data', { token: operatorToken })).body).toMatchObject({ killSwitch: false });

      expect(await auditRows('market_data.disable')).toEqual([
        { chain: 'system', actor: 'operator:demo-operator', subject: null, outcome: 'success', details: { via: 'ops-api' } },
      ]);
      expect(await auditRows('market_data.enable')).toHaveLength(1);
    } finally {
      await closeRedis(sub);
    }
  });

  it('tier change: updates the row, publishes the id on users:tier-changed, audits old and new; 404 for an unknown user', async () => {
    const sub = createRedis(redisUrl(), 'ops-test-tiers');
    const ids: string[] = [];
    sub.on('message', (_channel: string, message: string) => ids.push(message));
    await sub.subscribe('users:tier-changed');
    try {
      const res = await call('POST', '/ops/users/ops-tier-user/tier', { token: operatorToken, body: { tier: 'pro_plus' } });
      expect(res).toEqual({ status: 200, body: { user: 'ops-tier-user', from: 'free', tier: 'pro_plus', notified: true } });
      const [row] = await owner.sql<Array<{ tier: string }>>`select tier::text from users where id = 'ops-tier-user'`;
      expect(row?.tier).toBe('pro_plus');
      await waitFor(() => ids.includes('ops-tier-user'), 1000, 'tier-changed notice');
      expect(await auditRows('user.tier.change')).toEqual([
        {
          chain: 'ops-tier-user',
          actor: 'operator:demo-operator',
          subject: 'ops-tier-user',
          outcome: 'success',
          details: { from: 'free', to: 'pro_plus', via: 'ops-api' },
        },
      ]);

      const missing = await call('POST', '/ops/users/nobody-here/tier', { token: operatorToken, body: { tier: 'pro' } });
      expect(missing).toMatchObject({ status: 404, body: { code: 'user_not_found' } });
      expect(ids).not.toContain('nobody-here');
      expect((await auditRows('user.tier.change')).at(-1)).toMatchObject({ outcome: 'failure', subject: null });
    } finally {
      await closeRedis(sub);
    }
  });

  it('rules: PUT, GET, DELETE round trip, each write audited; DELETE of an unknown rule is 404', async () => {
    const put = await call('PUT', '/ops/rules/ops-rule-1', { token: operatorToken, body: { name: 'Mega caps', symbols: ['MSFT', 'AAPL', 'AAPL'] } });
    expect(put).toMatchObject({ status: 200, body: { rule: { id: 'ops-rule-1', name: 'Mega caps', symbols: ['AAPL', 'MSFT'], enabled: true, createdBy: 'operator:demo-operator' } } });
    await call('PUT', '/ops/rules/ops-rule-2', { token: operatorToken, body: { symbols: ['BRK.B'] } });
    const list = await call('GET', '/ops/rules', { token: operatorToken });
    expect((list.body.rules as Array<{ id: string; name: string }>).map((r) => [r.id, r.name])).toEqual([
      ['ops-rule-1', 'Mega caps'],
      ['ops-rule-2', 'ops-rule-2'],
    ]);
    expect(await call('DELETE', '/ops/rules/ops-rule-1', { token: operatorToken })).toEqual({ status: 200, body: { rule: 'ops-rule-1', enabled: false } });
    expect(((await call('GET', '/ops/rules', { token: operatorToken })).body.rules as Array<{ id: string }>).map((r) => r.id)).toEqual(['ops-rule-2']);
    expect(await call('DELETE', '/ops/rules/no-such-rule', { token: operatorToken })).toMatchObject({ status: 404, body: { code: 'rule_not_found' } });

    expect((await auditRows('market_data.rule.set')).map((r) => r.details.ruleId)).toEqual(['ops-rule-1', 'ops-rule-2']);
    expect((await auditRows('market_data.rule.disable')).map((r) => [r.details.ruleId, r.outcome])).toEqual([
      ['ops-rule-1', 'success'],
      ['no-such-rule', 'failure'],
    ]);
  });

  it('invalid bodies are 400 invalid_request with a message; wrong content type 415; oversize 413', async () => {
    const bad: Array<[string, string, unknown]> = [
      ['POST', '/ops/market-data/kill-switch', { on: 'yes' }],
      ['POST', '/ops/market-data/kill-switch', { on: true, extra: 1 }],
      ['POST', '/ops/users/ops-tier-user/tier', { tier: 'gold' }],
      ['PUT', '/ops/rules/ops-rule-3', { symbols: [] }],
      ['PUT', '/ops/rules/ops-rule-3', { symbols: ['not a symbol'] }],
      ['PUT', '/ops/rules/3bad', { symbols: ['AAPL'] }],
    ];
    for (const [method, path, body] of bad) {
      const res = await call(method, path, { token: operatorToken, body });
      expect(res, `${method} ${path} ${JSON.stringify(body)}`).toMatchObject({ status: 400, body: { code: 'invalid_request', message: expect.any(String) } });
    }
    expect((await call('POST', '/ops/market-data/kill-switch', { token: operatorToken, raw: '{nope' })).body).toMatchObject({ code: 'invalid_request' });
    expect((await call('POST', '/ops/market-data/kill-switch', { token: operatorToken, raw: '{"on":true}', contentType: 'text/plain' })).status).toBe(415);
    const big = await call('PUT', '/ops/rules/ops-rule-3', { token: operatorToken, body: { symbols: Array.from({ length: 1000 }, (_, i) => `S${i}`) } });
    expect(big).toMatchObject({ status: 413, body: { code: 'payload_too_large' } });
    // Nothing changed, and the gateway still serves.
    expect(await redis.exists(marketDataKeys.killSwitch)).toBe(0);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});

describe('/ops rate limit (GATEWAY_OPS_REQUESTS_PER_MINUTE)', () => {
  async function replica(): Promise<string> {
    const g = await startTestGateway({ auth, directory, options: { allowedOrigins: [] }, routes: [routes({ requestsPerMinute: 3 })] });
    extraGateways.push(g.gateway);
    return g.url;
  }

  it('one budget per user across replicas (Redis): the 4th request in a minute is 429 rate_limited with Retry-After', async () => {
    const [a, b] = [await replica(), await replica()];
    const token = await sign('ops-rl-op', 'operator');
    const get = (base: string, tok = token) => fetch(`${base}/ops/market-data`, { headers: { authorization: `Bearer ${tok}` } });
    expect([(await get(a)).status, (await get(b)).status, (await get(a)).status]).toEqual([200, 200, 200]);
    for (const base of [b, a]) {
      const res = await get(base);
      expect(res.status).toBe(429);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({ code: 'rate_limited', message: 'at most 3 /ops requests per minute', retryAfterSeconds: expect.any(Number) });
      const retry = Number(res.headers.get('retry-after'));
      expect(retry).toBe(body.retryAfterSeconds);
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(60);
      expect(res.headers.get('x-ratelimit-limit')).toBe('3');
    }
    // Writes count too, and nothing is changed or audited once the budget is spent.
    const put = await fetch(`${a}/ops/market-data/kill-switch`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"on":true}' });
    expect(put.status).toBe(429);
    expect(await redis.exists(marketDataKeys.killSwitch)).toBe(0);
    expect((await auditRows('market_data.disable')).filter((r) => r.actor === 'operator:ops-rl-op')).toEqual([]);
    // Another operator has a budget of its own.
    expect((await get(a, await sign('ops-rl-op2', 'operator'))).status).toBe(200);
  });

  it('a non-operator probing /ops is limited before the database: denials stop being audited past the budget', async () => {
    const url3 = await replica();
    const token = await sign('demo-free', 'operator');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${url3}/ops/rules`, { headers: { authorization: `Bearer ${token}` } })).status);
    expect(statuses).toEqual([403, 403, 403, 429, 429, 429]);
    expect((await auditRows('ops.access')).filter((r) => r.actor === 'user:demo-free')).toHaveLength(3);
    // Without a valid token there is no user to count: 401, never 429.
    expect((await fetch(`${url3}/ops/rules`, { headers: { authorization: 'Bearer not.a.jwt' } })).status).toBe(401);
  });
});

describe('ops CLI', () => {
  function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
  }

  function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/ops.ts', ...args], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('users set-tier through the gateway with a dev token for demo-operator; clear errors for 403 and connection refused', async () => {
    const ok = await runCli(['users', 'set-tier', 'ops-cli-user', 'pro', '--gateway', url, '--operator', 'demo-operator']);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toBe('user ops-cli-user: tier free → pro\n');
    const [row] = await owner.sql<Array<{ tier: string }>>`select tier::text from users where id = 'ops-cli-user'`;
    expect(row?.tier).toBe('pro');
    expect((await auditRows('user.tier.change')).some((r) => r.subject === 'ops-cli-user' && r.actor === 'operator:demo-operator')).toBe(true);

    const denied = await runCli(['market-data', 'disable', '--gateway', url, '--token', await sign('demo-pro', 'user')]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^ops: forbidden \(403\)/);

    const port = await freePort();
    const refused = await runCli(['rules', 'list', '--gateway', `http://127.0.0.1:${port}`, '--token', operatorToken]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`ops: cannot reach the gateway at http://127.0.0.1:${port} (connection refused): is it running? Use --gateway <url>.\n`);
  });
});
