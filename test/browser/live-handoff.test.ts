// The live handoff in a real browser (security notes T6 browser part, W7): headless Chromium with a CDP virtual
// authenticator on the gateway's /live/ page, against real role processes (gateway, accounts), PostgreSQL, Redis
// (DB live-browser) and the simulator (OAuth consent page without auto-approve, KMS, trading). The demo Pro user
// registers a passkey, confirms, connects Alpaca by approving on the consent page, reviews and submits one live
// market order with a passkey assertion and sees its fill arrive on the private WebSocket; the order reaches the
// broker exactly once. With user verification switched off the browser refuses (NotAllowedError) and nothing reaches
// the server: no submit request, no consumed challenge, no broker order.
// The paper gate: MBT_GATE_CYCLES=1 and one profitable settled cycle inserted as the batch role (what the settle
// worker writes), simpler than an operator override, which needs the operator's own passkey step-up.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/devstack/index.js';
import { createDb, seedDemoUsers } from '../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../src/infra/redis/index.js';
import { launchWithAuthenticator, type AuthenticatorBrowser } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startRoleProcess, type RoleProcess } from '../support/processes.js';
import { testRedisUrl } from '../support/redis.js';
import { startTestSimulator } from '../support/simulator.js';
import { waitFor } from '../support/wait.js';

const USER = 'demo-pro';
const SYMBOL = 'AAPL';
const CLIENT_ID = 'raxx-dev-client';
/** Canary (T11): must never show up in a log line, an audit row, the page or the database. */
const CLIENT_SECRET = `h6-canary-oauth-secret-${randomBytes(12).toString('hex')}`;
const SIM_KMS_SECRET = 'raxx-sim-kms-dev-secret-access-key-000000';
const JWT_SECRET = `h6-session-secret-${randomBytes(16).toString('hex')}`;
const PARTITIONS = '4';
const STEP_MS = 30_000;

let dir: string;
let tdb: TestDatabase;
let batch: postgres.Sql;
let redis: Redis;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let origin: string;
const roles: RoleProcess[] = [];
let browser: AuthenticatorBrowser | undefined;

interface SimOrder {
  id: string;
  client_order_id: string;
  symbol: string;
  status: string;
  qty: string;
  filled_qty: string;
  login: string;
}

async function simOrders(): Promise<SimOrder[]> {
  const res = await fetch(`${sim.url}/_control/trading/orders`);
  expect(res.status).toBe(200);
  return (await res.json()) as SimOrder[];
}

async function simControl(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${sim.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
}

const consumedChallenges = async () => (await batch<{ n: number }[]>`select count(*)::int as n from webauthn_challenges where user_id = ${USER} and used_at is not null`)[0]!.n;
const allChallenges = async () => (await batch<{ n: number }[]>`select count(*)::int as n from webauthn_challenges where user_id = ${USER}`)[0]!.n;

/** What the page shows in an element (trimmed). */
const text = async (selector: string) => ((await browser!.page.textContent(selector)) ?? '').trim();

/** Waits for an element's text to satisfy `pred`; on timeout says what the page showed and logged. */
async function expectText(selector: string, pred: (t: string) => boolean, what: string, timeoutMs = STEP_MS): Promise<string> {
  let last = '';
  try {
    await waitFor(async () => pred((last = await text(selector))), timeoutMs, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${selector} shows "${last}"; page error: "${await text('#error')}"\npage log:\n${await text('#log')}\nconsole:\n${browser!.console.join('\n')}`, { cause: err });
  }
  return last;
}

/** Clicks once the page is idle (one action at a time) and waits until the action has finished. */
async function click(selector: string): Promise<void> {
  const page = browser!.page;
  await page.waitForSelector('body[data-busy="0"]', { timeout: STEP_MS });
  await page.click(selector);
  await page.waitForSelector('body[data-busy="0"]', { timeout: STEP_MS });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raxx-live-browser-'));
  tdb = await createTestDatabase('raxx_live_browser');
  const app = createDb(tdb.appUrl, { max: 1 });
  await seedDemoUsers(app.db);
  await app.close();
  batch = postgres(tdb.batchUrl, { max: 2, onnotice: () => {} });
  // The gate (MBT_GATE_CYCLES=1): one profitable, active settled cycle, written as the settle worker would.
  const [account] = await batch<{ id: string }[]>`select id from paper_accounts where user_id = ${USER}`;
  await batch`insert into settled_cycles (user_id, account_id, trading_day, equity_open, equity_close, pnl, had_activity)
              values (${USER}, ${account!.id}, '2026-03-02', '100000', '100250', '250', true)`;

  redis = createRedis(testRedisUrl('live-browser'), 'live-browser-test');
  await redis.flushdb();

  // The redirect URI must be known before the simulator starts (exact-match registration): the port is picked now.
  const port = await freePort();
  origin = `http://localhost:${port}`;
  const redirectUri = `${origin}/live/oauth/callback`;
  sim = await startTestSimulator({
    SIM_OAUTH_CLIENTS: `${CLIENT_ID}:${CLIENT_SECRET}:${redirectUri}`,
    SIM_SYMBOLS: '20',
    SIM_RATE: '200',
    SIM_HALT_PROBABILITY: '0',
  });

  const env = {
    RAXX_ENV: 'test',
    LOG_LEVEL: 'info',
    REDIS_URL: testRedisUrl('live-browser'),
    DATABASE_URL: tdb.appUrl,
    DATABASE_BATCH_URL: tdb.batchUrl,
    SESSION_JWT_SECRET: JWT_SECRET,
    ACCOUNTS_PARTITIONS: PARTITIONS,
    ACCOUNTS_LEASE_TTL_MS: '3000',
    MBT_GATE_CYCLES: '1',
    ALPACA_KEY_ID: 'raxx-dev-key',
    ALPACA_SECRET_KEY: 'raxx-dev-secret',
    ALPACA_TRADING_URL: sim.url,
    ALPACA_DATA_REST_URL: sim.url,
    ALPACA_DATA_STREAM_URL: sim.ws,
    ALPACA_OAUTH_AUTHORIZE_URL: `${sim.url}/oauth/authorize`,
    ALPACA_OAUTH_TOKEN_URL: `${sim.url}/oauth/token`,
    ALPACA_OAUTH_CLIENT_ID: CLIENT_ID,
    ALPACA_OAUTH_CLIENT_SECRET: CLIENT_SECRET,
    ALPACA_OAUTH_REDIRECT_URI: redirectUri,
    KMS_ENDPOINT: sim.kmsUrl,
    KMS_SECRET_ACCESS_KEY: SIM_KMS_SECRET,
    WEBAUTHN_RP_ID: 'localhost',
    WEBAUTHN_ORIGINS: origin,
    GATEWAY_ALLOWED_ORIGINS: origin,
    GATEWAY_OPS_PORT: '0',
  };
  const gateway = startRoleProcess('gateway', { ...env, HOST: '127.0.0.1', PORT: String(port) }, 60_000);
  const accounts = startRoleProcess('accounts', env, 60_000);
  roles.push(gateway, accounts);
  await Promise.all([gateway.ready, accounts.ready]);
  browser = await launchWithAuthenticator();
}, 300_000); // generous: on a fresh machine launchWithAuthenticator first installs Chromium

afterAll(async () => {
  await browser?.close();
  await Promise.all(roles.map(stopRole));
  await sim?.close();
  if (redis) await closeRedis(redis);
  await batch?.end();
  await tdb?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the live-handoff page in headless Chromium with a virtual authenticator', () => {
  let liveOrderId = '';
  let clientOrderId = '';

  it('serves the page under a CSP without inline script, and the WebAuthn bundle from node_modules', async () => {
    const res = await fetch(`${origin.replace('localhost', '127.0.0.1')}/live/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script has a src
    expect(html).not.toMatch(/\son[a-z]+=/i); // no inline event handlers
    const bundle = await fetch(`${origin.replace('localhost', '127.0.0.1')}/live/webauthn.js`);
    expect(bundle.status).toBe(200);
    expect(await bundle.text()).toContain('SimpleWebAuthnBrowser');
  });

  it('signs in, registers a passkey and confirms with it (step-up)', async () => {
    const page = browser!.page;
    await page.goto(`${origin}/live/`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: STEP_MS });
    expect(await page.isVisible('#signin')).toBe(true);
    await page.fill('#signin-user', USER);
    await click('#signin-button');
    await expectText('#st-tier', (t) => t === 'pro', 'the status after sign-in');
    expect(await text('#st-passkey')).toBe('none');
    expect(await text('#st-eligible')).toBe('yes');

    await click('#register');
    await expectText('#st-passkey', (t) => t === 'registered', 'the passkey registration');
    const creds = await browser!.credentials();
    expect(creds).toHaveLength(1);
    expect(creds[0]!.rpId).toBe('localhost');
    const stored = await batch<{ id: string }[]>`select id from webauthn_credentials where user_id = ${USER}`;
    expect(stored.map((r) => r.id)).toEqual([creds[0]!.credentialId.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')]);

    expect(await text('#st-fresh')).toBe('no');
    await click('#step-up');
    await expectText('#st-fresh', (t) => t.startsWith('yes'), 'the step-up');
  });

  it('connects Alpaca through the simulator consent page and comes back connected', async () => {
    const page = browser!.page;
    await page.click('#connect');
    await page.waitForURL((u) => u.toString().startsWith(`${sim.url}/oauth/authorize?`), { timeout: STEP_MS });
    const authorize = new URL(page.url());
    expect(authorize.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${origin}/live/oauth/callback`);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    await page.click('button[name="decision"][value="approve"]');
    await page.waitForURL((u) => u.toString() === `${origin}/live/`, { timeout: STEP_MS }); // query dropped by the page
    await page.waitForSelector('body[data-ready="1"]', { timeout: STEP_MS });
    await expectText('#notice', (t) => t.startsWith('Alpaca connected'), 'the connected notice');
    await expectText('#st-connection', (t) => t.startsWith('connected ('), 'the connection in the status');
    expect(await text('#st-mode')).toBe('live');
    const rows = await batch<{ n: number }[]>`select count(*)::int as n from alpaca_live_connections where user_id = ${USER} and revoked_at is null`;
    expect(rows[0]!.n).toBe(1);
  });

  it('submits one live market order with a passkey assertion; its fill arrives on the WebSocket; the broker saw it once', async () => {
    const page = browser!.page;
    await page.waitForSelector('body[data-socket="open"]', { timeout: STEP_MS });
    // Halted, the order rests at the broker until the trade-updates stream follows it; resumed, the next quote fills it.
    await simControl('/_control/stream/halt', { symbol: SYMBOL });
    const before = await simOrders();

    await page.fill('#f-symbol', SYMBOL);
    await page.selectOption('#f-side', 'buy');
    await page.fill('#f-qty', '1');
    await page.selectOption('#f-type', 'market');
    await page.selectOption('#f-tif', 'day');
    await click('#review');
    // The draft as the server stored it is on screen before any passkey prompt.
    expect(await page.isVisible('#review-panel')).toBe(true);
    expect(await text('#draft-summary')).toBe(`BUY 1 ${SYMBOL} at market, time in force day`);
    liveOrderId = await text('#order-id');
    clientOrderId = await text('#draft-coid');
    expect(await text('#order-status')).toBe('draft');
    expect(before.some((o) => o.client_order_id === clientOrderId)).toBe(false);

    await click('#submit-order');
    await expectText('#order-status', (t) => t === 'submitted' || t === 'filled', 'the submitted order');
    const placed = (await simOrders()).filter((o) => o.client_order_id === clientOrderId);
    expect(placed).toHaveLength(1);
    expect(placed[0]).toMatchObject({ symbol: SYMBOL, qty: '1', login: 'demo' });

    await waitForTradeFollower();
    await simControl('/_control/stream/resume', { symbol: SYMBOL });
    await page.waitForSelector(`#fills li[data-via="websocket"][data-order="${liveOrderId}"][data-event="fill"]`, { timeout: STEP_MS });
    await expectText('#order-status', (t) => t === 'filled', 'the filled order');
    expect(await text('#order-filled')).toMatch(/^1(\.0+)? @ \d+(\.\d+)?$/);

    const after = (await simOrders()).filter((o) => o.client_order_id === clientOrderId);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ status: 'filled', filled_qty: '1' });
    expect((await simOrders()).length).toBe(before.length + 1);
  });

  it('without user verification the browser refuses (NotAllowedError) and nothing reaches the server', async () => {
    const page = browser!.page;
    const ordersBefore = (await simOrders()).length;
    const consumedBefore = await consumedChallenges();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));

    await browser!.setUserVerified(false);
    await page.fill('#f-qty', '2');
    await click('#review');
    expect(await text('#draft-summary')).toBe(`BUY 2 ${SYMBOL} at market, time in force day`);
    const draftId = await text('#order-id');
    expect(draftId).not.toBe(liveOrderId);
    const issued = await allChallenges();

    const started = Date.now();
    await click('#submit-order');
    await page.waitForSelector('#error[data-code="NotAllowedError"]', { timeout: STEP_MS });
    expect(Date.now() - started).toBeLessThan(STEP_MS);
    expect(await text('#error')).toMatch(/^NotAllowedError: .*nothing was sent to the server/);

    expect(requests.filter((r) => r.endsWith('/submit'))).toEqual([]);
    expect(await consumedChallenges()).toBe(consumedBefore);
    expect(await allChallenges()).toBe(issued);
    expect((await simOrders()).length).toBe(ordersBefore);
    const [row] = await batch<{ status: string; submit_attempts: number }[]>`select status, submit_attempts from live_orders where id = ${draftId}`;
    expect(row).toEqual({ status: 'draft', submit_attempts: 0 });
    await browser!.setUserVerified(true);
  });

  it('shows the callback error with its code when the user denies on the consent page; the connection stays', async () => {
    const page = browser!.page;
    await page.click('#connect');
    await page.waitForURL((u) => u.toString().startsWith(`${sim.url}/oauth/authorize?`), { timeout: STEP_MS });
    await page.click('button[name="decision"][value="deny"]');
    await page.waitForURL((u) => u.toString() === `${origin}/live/`, { timeout: STEP_MS });
    await page.waitForSelector('#error[data-code="oauth_exchange_failed"]', { timeout: STEP_MS });
    expect(await text('#error')).toMatch(/^oauth_exchange_failed: Alpaca did not issue a token/);
    await expectText('#st-connection', (t) => t.startsWith('connected ('), 'the earlier connection');
    expect(await text('#st-mode')).toBe('live');
  });

  it('disconnects Alpaca', async () => {
    await click('#disconnect');
    await expectText('#notice', (t) => t === 'Alpaca disconnected', 'the disconnect');
    await expectText('#st-connection', (t) => t === 'not connected', 'the status after the disconnect');
    expect(await text('#st-mode')).toBe('paper');
  });

  it('leaks no secret: the OAuth client secret and the issued access token appear in no log, audit row or page', async () => {
    const tokens = (await (await fetch(`${sim.url}/_control/oauth/tokens`)).json()) as Array<{ access_token: string; client_id: string }>;
    const issued = tokens.filter((t) => t.client_id === CLIENT_ID).map((t) => t.access_token);
    expect(issued.length).toBeGreaterThan(0);
    const audit = await batch<{ row: string }[]>`select row_to_json(a)::text as row from audit_log a`;
    expect(audit.length).toBeGreaterThan(0);
    const sealed = await batch<{ row: string }[]>`select row_to_json(c)::text as row from alpaca_live_connections c`;
    const haystacks = [
      ...roles.flatMap((r) => r.lines),
      ...audit.map((a) => a.row),
      ...sealed.map((s) => s.row),
      await browser!.page.content(),
      ...browser!.console,
    ].join('\n');
    for (const secret of [CLIENT_SECRET, ...issued]) expect(haystacks.includes(secret)).toBe(false);
  });
});

/** SIGTERM (graceful shutdown), then SIGKILL for a role that has not exited 15 s later. */
async function stopRole(role: RoleProcess): Promise<void> {
  const kill = setTimeout(() => void role.stop('SIGKILL'), 15_000);
  try {
    await role.stop('SIGTERM');
  } finally {
    clearTimeout(kill);
  }
}

/** The accounts role logs each state of a user's trade-updates follower; `authorized` comes after the broker confirmed `listen`. */
async function waitForTradeFollower(): Promise<void> {
  const accounts = roles[1]!;
  const following = () =>
    accounts.lines.some((line) => {
      try {
        const o = JSON.parse(line) as { msg?: string; user?: string; state?: string };
        return o.msg === 'live trade updates' && o.user === USER && o.state === 'authorized';
      } catch {
        return false;
      }
    });
  await waitFor(following, STEP_MS, 'the accounts role following the trade updates');
}
