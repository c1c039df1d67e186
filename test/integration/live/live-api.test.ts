// The live handoff over HTTP, with the gateway and accounts roles wired as in production (in-process), real Redis and
// PostgreSQL, the simulator's OAuth, broker and KMS, and a software passkey: eligibility with reasons, enrollment
// step-up, connect, a step-up-bound submit that reaches the broker exactly once (replay, tampering and 50 parallel
// copies of one assertion refused), the operator override and the runtime kill switch under a steady order flow.
import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { createMetricsRegistry } from '../../../src/infra/metrics/index.js';
import type { RoleContext } from '../../../src/main/role-context.js';
import { startAccounts } from '../../../src/main/roles/accounts.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { appendCommand } from '../../../src/runtime/index.js';
import { loadSimConfig } from '../../../src/sim/config.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { runCli } from '../../support/processes.js';
import { signSession, startTestGatewayRole, type TestGatewayRole } from '../../support/gateway.js';
import { testRedisUrl } from '../../support/redis.js';
import { SIM_KMS_SECRET } from '../../support/sim-kms.js';
import { startTestSimulator } from '../../support/simulator.js';
import { SoftAuthenticator } from '../../support/soft-authenticator.js';
import { waitFor } from '../../support/wait.js';

const SECRET = 'live-api-test-secret-0123456789abcdef';
const ORIGIN = 'http://localhost:8720';
const run = randomBytes(3).toString('hex');
const uid = (name: string) => `lapi-${name}-${run}`;
const PRO = uid('pro');
const FREE = uid('free');
const GATED = uid('gated');
const OPERATOR = uid('op');
const FLOW = Array.from({ length: 4 }, (_, i) => uid(`flow${i}`));
const TRAIL = uid('trail');

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let tdb: TestDatabase;
let su: postgres.Sql;
let gateway: TestGatewayRole;
let url: string;
let env: Record<string, string>;
let redis: Redis;
const stopAccounts: Array<() => Promise<void> | void> = [];
const sessions = new Map<string, string>();
const keys = new Map<string, SoftAuthenticator>();
const logins = new Map<string, string>();

beforeAll(async () => {
  const client = loadSimConfig({}).oauthClients[0]!;
  // Refresh tokens on (the simulator's setting; Alpaca issues none) so the audit trail includes a refresh.
  sim = await startTestSimulator({ SIM_OAUTH_AUTO_APPROVE: '1', SIM_OAUTH_REFRESH_TOKENS: '1', SIM_OAUTH_TOKEN_TTL_MS: '300000', SIM_HALT_PROBABILITY: '0', SIM_SYMBOLS: '50', SIM_RATE_LIMIT_PER_MIN: '0' });
  tdb = await createTestDatabase('raxx_live_api');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  await asBatch(async (tx) => {
    for (const id of [PRO, TRAIL, ...FLOW]) await tx`insert into users (id, tier) values (${id}, 'pro')`;
    await tx`insert into users (id, tier) values (${FREE}, 'free'), (${GATED}, 'pro_plus')`;
    await tx`insert into users (id, tier, role) values (${OPERATOR}, 'pro', 'operator')`;
    // The paper gate is not what these tests are about: an override (it is audited) makes the Pro users eligible.
    for (const id of [PRO, TRAIL, ...FLOW]) await tx`insert into live_gate_overrides (user_id, granted_by, reason) values (${id}, 'operator:seed', 'test')`;
  });
  env = {
    REDIS_URL: testRedisUrl('live-api'),
    DATABASE_URL: tdb.appUrl,
    DATABASE_BATCH_URL: tdb.batchUrl,
    SESSION_JWT_SECRET: SECRET,
    GATEWAY_ALLOWED_ORIGINS: ORIGIN,
    WEBAUTHN_ORIGINS: ORIGIN,
    ACCOUNTS_PARTITIONS: '4',
    // The flow below sends more than the default 30 live actions per minute per user (the limiter has its own test).
    LIVE_ACTIONS_PER_MINUTE: '100000',
    ACCOUNTS_LEASE_TTL_MS: '2000',
    ALPACA_TRADING_URL: sim.url,
    ALPACA_DATA_REST_URL: sim.url,
    ALPACA_OAUTH_AUTHORIZE_URL: `${sim.url}/oauth/authorize`,
    ALPACA_OAUTH_TOKEN_URL: `${sim.url}/oauth/token`,
    ALPACA_OAUTH_CLIENT_ID: client.clientId,
    ALPACA_OAUTH_CLIENT_SECRET: client.clientSecret,
    ALPACA_OAUTH_REDIRECT_URI: client.redirectUris[0]!,
    KMS_ENDPOINT: sim.kmsUrl,
    KMS_SECRET_ACCESS_KEY: SIM_KMS_SECRET,
  };
  redis = createRedis(env.REDIS_URL!, 'live-api-test');
  gateway = await startTestGatewayRole(env);
  url = gateway.url;
  const config = loadConfig({ RAXX_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', ...env });
  const { logger, redactor } = createLogger({ role: 'accounts', level: 'silent' });
  const ctx: RoleContext = { role: 'accounts', config, logger, redactor, metrics: createMetricsRegistry('accounts'), onShutdown: (s) => stopAccounts.push(s) };
  const accounts = await startAccounts(ctx);
  await waitFor(async () => ((await (await fetch(`${accounts.url}/healthz`)).json()) as { started: boolean }).started, 20_000, 'accounts runtime');
  for (const id of [PRO, FREE, GATED, OPERATOR, TRAIL, ...FLOW]) {
    sessions.set(id, await signSession(id, SECRET, { role: id === OPERATOR ? 'operator' : 'user' }));
    keys.set(id, new SoftAuthenticator());
  }
}, 90_000);

afterAll(async () => {
  await gateway?.stop();
  await closeRedis(redis);
  for (const step of stopAccounts.splice(0).reverse()) await step();
  await su?.end();
  await tdb?.drop();
  await sim?.close();
});

function asBatch<T>(fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  return su.begin(async (tx) => {
    await tx`set local role raxx_batch`;
    return fn(tx);
  }) as Promise<T>;
}

type Json = Record<string, unknown>;

async function call(user: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Json; location: string | null }> {
  const res = await fetch(`${url}${path}`, {
    method,
    redirect: 'manual',
    headers: { authorization: `Bearer ${sessions.get(user)}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Json, location: res.headers.get('location') };
}

async function registerPasskey(user: string): Promise<void> {
  const opts = await call(user, 'POST', '/api/live/passkeys/options');
  expect(opts.status).toBe(200);
  const r = await call(user, 'POST', '/api/live/passkeys', { response: keys.get(user)!.createCredential(opts.json as never, ORIGIN) });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

async function stepUp(user: string): Promise<void> {
  const opts = await call(user, 'POST', '/api/live/step-up/options');
  expect(opts.status).toBe(200);
  const r = await call(user, 'POST', '/api/live/step-up', { response: keys.get(user)!.getAssertion(opts.json as never, ORIGIN) });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

/** Passkey, step-up, OAuth through the simulator (auto-approve) and our callback: the user ends up connected. */
async function connect(user: string): Promise<void> {
  await registerPasskey(user);
  await stepUp(user);
  const begun = await call(user, 'POST', '/api/live/connect');
  expect(begun.status, JSON.stringify(begun.json)).toBe(200);
  const login = `login-${user}`;
  logins.set(user, login);
  const auth = await fetch(`${String(begun.json.authorizeUrl)}&login=${login}`, { redirect: 'manual' });
  const back = new URL(auth.headers.get('location')!);
  const cb = await call(user, 'GET', `/live/oauth/callback${back.search}`);
  expect(cb.status).toBe(302);
  expect(cb.location).toBe('/live/?connected=1');
}

async function draft(user: string, qty = '1'): Promise<{ id: string; stepUp: Json }> {
  const r = await call(user, 'POST', '/api/live/orders', { draft: { symbol: 'AAPL', side: 'buy', qty, type: 'market', time_in_force: 'day' } });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return { id: (r.json.order as Json).id as string, stepUp: r.json.stepUp as Json };
}

async function brokerOrders(user: string): Promise<Array<{ client_order_id: string }>> {
  const accounts = (await (await fetch(`${sim.url}/_control/trading/accounts`)).json()) as Array<{ login: string; account: { id: string } }>;
  const acc = accounts.find((a) => a.login === logins.get(user));
  if (!acc) return [];
  return (await (await fetch(`${sim.url}/_control/trading/orders?account=${acc.account.id}`)).json()) as Array<{ client_order_id: string }>;
}

describe('eligibility', () => {
  it('says why a user may not trade live, and how far the gate is', async () => {
    const free = await call(FREE, 'GET', '/api/live/status');
    expect(free.json).toMatchObject({ eligible: false, code: 'tier_not_eligible', mode: 'paper', connection: null });
    expect((await call(FREE, 'POST', '/api/live/connect')).json).toMatchObject({ code: 'tier_not_eligible' });
    const gated = await call(GATED, 'POST', '/api/live/connect');
    expect(gated.status).toBe(403);
    expect(gated.json.code).toBe('gate_not_passed');
    expect(String(gated.json.message)).toMatch(/paper/);
    const audit = await asBatch((tx) => tx<Array<{ outcome: string }>>`select outcome from audit_log where subject = ${FREE} and action = 'live.authorize'`);
    expect(audit.map((a) => a.outcome)).toEqual(['denied']);
  });

  it('an operator override needs the operator\'s own fresh step-up, and is audited', async () => {
    const refused = await call(OPERATOR, 'POST', `/ops/live/users/${GATED}/override`, { reason: 'manual review passed' });
    expect(refused.status).toBe(403);
    expect(refused.json.code).toBe('step_up_required');
    await registerPasskey(OPERATOR);
    await stepUp(OPERATOR);
    const ok = await call(OPERATOR, 'POST', `/ops/live/users/${GATED}/override`, { reason: 'manual review passed' });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect((await call(GATED, 'GET', '/api/live/status')).json).toMatchObject({ eligible: true, via: 'override' });
    const audit = await asBatch((tx) => tx<Array<{ outcome: string; actor: string }>>`select outcome, actor from audit_log where subject = ${GATED} and action = 'live.gate_override' order by seq`);
    expect(audit).toEqual([
      { outcome: 'denied', actor: `operator:${OPERATOR}` },
      { outcome: 'success', actor: `operator:${OPERATOR}` },
    ]);
    // Not an operator: refused before anything else.
    expect((await call(PRO, 'POST', `/ops/live/users/${FREE}/override`, { reason: 'x' })).status).toBe(403);
  });
});

describe('connect and submit', () => {
  it('enrollment needs a fresh step-up; the callback refuses a forged state', async () => {
    await registerPasskey(PRO);
    const noStep = await call(PRO, 'POST', '/api/live/connect');
    expect(noStep.status).toBe(403);
    expect(noStep.json.code).toBe('step_up_required');
    const forged = await call(PRO, 'GET', `/live/oauth/callback?state=${randomBytes(32).toString('base64url')}&code=abc`);
    expect(forged.status).toBe(302);
    expect(forged.location).toBe('/live/?error=oauth_state_invalid');
    expect((await call(PRO, 'GET', '/api/live/status')).json.connection).toBeNull();
  });

  it('submits the stored draft once; a replayed or re-targeted assertion is refused', async () => {
    keys.set(PRO, new SoftAuthenticator());
    await asBatch((tx) => tx`delete from webauthn_credentials where user_id = ${PRO}`);
    await connect(PRO);
    const status = await call(PRO, 'GET', '/api/live/status');
    expect(status.json).toMatchObject({ mode: 'live', eligible: true, connection: { needs_reauth: false } });

    const a = await draft(PRO, '3');
    const assertion = keys.get(PRO)!.getAssertion(a.stepUp as never, ORIGIN);
    const ok = await call(PRO, 'POST', `/api/live/orders/${a.id}/submit`, { assertion });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.order).toMatchObject({ id: a.id, draft: { qty: '3', symbol: 'AAPL' } });
    expect(['submitted', 'filled']).toContain((ok.json.order as Json).status);

    const replay = await call(PRO, 'POST', `/api/live/orders/${a.id}/submit`, { assertion });
    expect(replay.status).toBe(400);
    expect(replay.json).toMatchObject({ code: 'step_up_failed', reason: 'challenge_used' });

    // An assertion made for draft B cannot submit draft C.
    const b = await draft(PRO);
    const c = await draft(PRO);
    const forB = keys.get(PRO)!.getAssertion(b.stepUp as never, ORIGIN);
    const moved = await call(PRO, 'POST', `/api/live/orders/${c.id}/submit`, { assertion: forB });
    expect(moved.status).toBe(400);
    expect(moved.json.code).toBe('step_up_failed');
    expect((await brokerOrders(PRO)).map((o) => o.client_order_id)).toEqual([`raxx-${a.id}`]);
    // The mode is per user: PRO trading live changed nothing for anyone else.
    for (const other of [GATED, FREE, ...FLOW]) expect((await call(other, 'GET', '/api/live/status')).json.mode).toBe('paper');
  }, 30_000);

  it('50 parallel submits of one assertion reach the broker exactly once', async () => {
    const d = await draft(PRO);
    const assertion = keys.get(PRO)!.getAssertion(d.stepUp as never, ORIGIN);
    const results = await Promise.all(Array.from({ length: 50 }, () => call(PRO, 'POST', `/api/live/orders/${d.id}/submit`, { assertion })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.json.code === 'step_up_failed')).toHaveLength(49);
    expect((await brokerOrders(PRO)).filter((o) => o.client_order_id === `raxx-${d.id}`)).toHaveLength(1);
  }, 30_000);
});

describe('kill switch', () => {
  it('under a steady flow: nothing reaches the broker once it is on, every refusal says why and is audited', async () => {
    await registerPasskey(OPERATOR).catch(() => undefined); // registered above; a second key is fine
    for (const u of FLOW) await connect(u);
    let switchedAt = 0;
    let stop = false;
    const after: Array<{ status: number; code: unknown }> = [];
    const flow = FLOW.map(async (u) => {
      while (!stop) {
        const startedAt = Date.now();
        const made = await call(u, 'POST', '/api/live/orders', { draft: { symbol: 'AAPL', side: 'buy', qty: '1', type: 'market', time_in_force: 'day' } });
        if (made.status !== 201) {
          // Drafts are refused too once the switch is on.
          if (switchedAt && startedAt > switchedAt) after.push({ status: made.status, code: made.json.code });
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const order = made.json.order as Json;
        const r = await call(u, 'POST', `/api/live/orders/${String(order.id)}/submit`, { assertion: keys.get(u)!.getAssertion(made.json.stepUp as never, ORIGIN) });
        if (switchedAt && Date.now() > switchedAt && r.status !== 200) after.push({ status: r.status, code: r.json.code });
        if (switchedAt && startedAt > switchedAt && r.status === 200) after.push({ status: r.status, code: 'submitted after the switch' });
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    const before = (await Promise.all(FLOW.map(brokerOrders))).flat().length;
    expect(before).toBeGreaterThan(0);
    const on = await call(OPERATOR, 'POST', '/ops/live/kill-switch', { on: true, reason: 'incident drill' });
    try {
      expect(on.status, JSON.stringify(on.json)).toBe(200);
      switchedAt = Date.now();
      const atSwitch = (await Promise.all(FLOW.map(brokerOrders))).flat().length;
      await new Promise((r) => setTimeout(r, 1500));
      stop = true;
      await Promise.all(flow);
      // Orders in flight when the switch flipped may land; none started afterwards does.
      expect((await Promise.all(FLOW.map(brokerOrders))).flat().length).toBeLessThanOrEqual(atSwitch + FLOW.length);
      expect(after.length).toBeGreaterThan(0);
      for (const r of after) expect(r).toEqual({ status: 503, code: 'live_disabled' });
      const denied = await asBatch((tx) => tx<Array<{ n: number }>>`select count(*)::int as n, count(distinct subject)::int as users from audit_log where action in ('live.submit', 'live.draft') and outcome = 'denied' and details->>'code' = 'live_disabled'`);
      expect(denied[0]!.n).toBeGreaterThan(0);
    } finally {
      stop = true;
      await Promise.all(flow);
      const off = await call(OPERATOR, 'POST', '/ops/live/kill-switch', { on: false, reason: 'drill over' });
      expect(off.status).toBe(200);
    }
    const d = await draft(FLOW[0]!);
    const r = await call(FLOW[0]!, 'POST', `/api/live/orders/${d.id}/submit`, { assertion: keys.get(FLOW[0]!)!.getAssertion(d.stepUp as never, ORIGIN) });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  }, 60_000);

  it('disconnect revokes the connection and returns the user to paper', async () => {
    const r = await call(PRO, 'POST', '/api/live/disconnect');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ revoked: true });
    expect((await call(PRO, 'GET', '/api/live/status')).json).toMatchObject({ mode: 'paper', connection: null });
    const d = await call(PRO, 'POST', '/api/live/orders', { draft: { symbol: 'AAPL', side: 'buy', qty: '1', type: 'market', time_in_force: 'day' } });
    expect(d).toMatchObject({ status: 409, json: { code: 'not_connected' } });
  });
});

describe('audit trail', () => {
  it('connect → submit → refresh → revoke tells the whole story in order, verifies, and tampering is detected', async () => {
    await connect(TRAIL);
    const d = await draft(TRAIL);
    const submitted = await call(TRAIL, 'POST', `/api/live/orders/${d.id}/submit`, { assertion: keys.get(TRAIL)!.getAssertion(d.stepUp as never, ORIGIN) });
    expect(submitted.status, JSON.stringify(submitted.json)).toBe(200);
    const connectionId = (((await call(TRAIL, 'GET', '/api/live/status')).json.connection as Json).id) as string;
    // What the workers' refresh schedule appends: a refresh command in the user's partition.
    await appendCommand(redis, { id: randomUUID(), userId: TRAIL, type: 'live.refresh', payload: { connectionId }, issuedAt: new Date().toISOString() }, 4);
    await waitFor(async () => (await actionsOf(TRAIL)).some((a) => a.action === 'live.refresh'), 15_000, 'the refresh');
    expect((await call(TRAIL, 'POST', '/api/live/disconnect')).status).toBe(200);

    const rows = await actionsOf(TRAIL);
    const story = rows.filter((r) => r.action.startsWith('live.') || r.action.startsWith('passkey.') || r.action === 'step_up.verify').map((r) => `${r.action}:${r.outcome}`);
    expect(story).toEqual([
      'passkey.register:success',
      'step_up.verify:success',
      'live.authorize:success',
      'live.connect:success',
      'live.mode_change:success',
      'live.draft:success',
      'step_up.verify:success',
      'live.submit:success',
      'live.refresh:success',
      'live.revoke:success',
      'live.mode_change:success',
    ]);
    // The correlation ids tie the actor's rows to their commands; no row holds a token.
    expect(rows.find((r) => r.action === 'live.submit')!.correlation_id).toBeTruthy();
    const dump = JSON.stringify(rows);
    expect(dump).not.toMatch(/access_token|refresh_token|Bearer/i);

    const verify = async () => {
      const r = await runCli('src/main/audit-verify.ts', [], { DATABASE_MIGRATION_URL: tdb.ownerUrl, LOG_LEVEL: 'silent' });
      return { code: r.code, out: r.out + r.err };
    };
    const clean = await verify();
    expect(clean.code, clean.out).toBe(0);
    await su.begin(async (tx) => {
      await tx`alter table audit_log disable trigger audit_log_append_only`;
      await tx`update audit_log set outcome = 'failure' where chain = ${TRAIL} and action = 'live.submit'`;
      await tx`alter table audit_log enable trigger audit_log_append_only`;
    });
    const tampered = await verify();
    expect(tampered.code).toBe(1);
    expect(tampered.out).toContain(TRAIL);
  }, 60_000);
});

async function actionsOf(user: string): Promise<Array<{ action: string; outcome: string; correlation_id: string | null }>> {
  return asBatch((tx) => tx<Array<{ action: string; outcome: string; correlation_id: string | null }>>`select action, outcome, correlation_id from audit_log where subject = ${user} order by seq`);
}
