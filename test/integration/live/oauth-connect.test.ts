// The Alpaca OAuth connect client against real PostgreSQL (RLS, app role) and the real simulator's OAuth server:
// state binding and single use (T13), PKCE, refresh rotation, transport failures, and no secret in any error (T11).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthConfigError, OAuthConnect, OAuthExchangeError, OAuthStateError, type OAuthConnectOptions, type TokenSet } from '../../../src/infra/alpaca/index.js';
import { createDb, DbError, oauthStates, users, type DbHandle } from '../../../src/infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { errorText, rejection } from '../../support/canary.js';
import { startTestSimulator } from '../../support/simulator.js';

const CID = 'cid';
const CSECRET = 'csecret-CANARY-7b3e91d0a4';
const REDIRECT = 'http://127.0.0.1:1/cb';
const CLIENTS = `${CID}:${CSECRET}:${REDIRECT}`;
const QUIET = { SIM_SYMBOLS: '5', SIM_RATE: '0', SIM_OAUTH_CLIENTS: CLIENTS };
const A = 'oauth-user-a';
const B = 'oauth-user-b';
const SESSION = 'session-jti-a';

type Sim = Awaited<ReturnType<typeof startTestSimulator>>;

let t: TestDatabase;
let app: DbHandle;
let batch: DbHandle;
/** Alpaca-like: auto-approve, no PKCE required, no refresh tokens. */
let plain: Sim;
/** Consent page (no auto-approve). */
let consent: Sim;
let pkceSim: Sim;
let refreshSim: Sim;
const faultServers: Server[] = [];

// T11: every error our client throws, and every secret value the flows handled.
const thrown: unknown[] = [];
const secrets = new Set<string>([CSECRET]);

beforeAll(async () => {
  [t, plain, consent, pkceSim, refreshSim] = await Promise.all([
    createTestDatabase('raxx_oauth'),
    startTestSimulator({ ...QUIET, SIM_OAUTH_AUTO_APPROVE: '1' }),
    startTestSimulator({ ...QUIET }),
    startTestSimulator({ ...QUIET, SIM_OAUTH_AUTO_APPROVE: '1', SIM_OAUTH_PKCE: '1' }),
    startTestSimulator({ ...QUIET, SIM_OAUTH_AUTO_APPROVE: '1', SIM_OAUTH_REFRESH_TOKENS: '1' }),
  ]);
  batch = createDb(t.batchUrl, { max: 2 });
  app = createDb(t.appUrl, { max: 3 });
  await batch.db.insert(users).values([
    { id: A, tier: 'pro' },
    { id: B, tier: 'pro_plus' },
  ]);
});

afterAll(async () => {
  await Promise.allSettled([plain?.close(), consent?.close(), pkceSim?.close(), refreshSim?.close()]);
  await Promise.allSettled(
    faultServers.map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
  await app?.close();
  await batch?.close();
  await t?.drop();
});

/** A fetch that records every token-endpoint request (the only requests OAuthConnect makes). */
function countingFetch() {
  const bodies: URLSearchParams[] = [];
  const f: typeof fetch = (input, init) => {
    bodies.push(new URLSearchParams(String(init?.body ?? '')));
    return fetch(input, init);
  };
  return { fetch: f, bodies };
}

function client(sim: { url: string }, over: Partial<OAuthConnectOptions> = {}) {
  const counter = countingFetch();
  const c = new OAuthConnect(app.db, {
    authorizeUrl: `${sim.url}/oauth/authorize`,
    tokenUrl: `${sim.url}/oauth/token`,
    clientId: CID,
    clientSecret: () => CSECRET,
    redirectUri: REDIRECT,
    scopes: 'trading',
    pkce: false,
    fetch: counter.fetch,
    ...over,
  });
  return { c, calls: counter.bodies };
}

/** Follows the authorize URL like a browser on an auto-approving AS; returns the callback's query. */
async function authorize(authorizeUrl: string): Promise<Record<string, string>> {
  secrets.add(new URL(authorizeUrl).searchParams.get('state') ?? '');
  const res = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return callbackQuery(res);
}

function callbackQuery(res: Response): Record<string, string> {
  const loc = new URL(res.headers.get('location') ?? '');
  expect(`${loc.origin}${loc.pathname}`).toBe(REDIRECT);
  const q = Object.fromEntries(loc.searchParams);
  if (q.code) secrets.add(q.code);
  return q;
}

/** Runs the call, records what it throws for the canary check, and returns the error. */
const failure = (p: Promise<unknown>) => rejection(p, thrown);

function keep(tokens: TokenSet): TokenSet {
  secrets.add(tokens.accessToken);
  if (tokens.refreshToken) secrets.add(tokens.refreshToken);
  return tokens;
}

const account = (sim: { url: string }, token: string) => fetch(`${sim.url}/v2/account`, { headers: { authorization: `Bearer ${token}` } });
const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');
function stateOf(url: string): string {
  const state = new URL(url).searchParams.get('state') ?? '';
  secrets.add(state);
  return state;
}
const stateRow = async (state: string) => (await batch.db.select().from(oauthStates).where(eq(oauthStates.stateHash, sha256Hex(state))))[0];

describe('OAuthConnect happy path', () => {
  it('begin stores only hashes and builds the authorize URL; complete yields a token the trading API accepts', async () => {
    const { c, calls } = client(plain);
    const started = await c.begin(A, SESSION);
    const u = new URL(started.authorizeUrl);
    expect(`${u.origin}${u.pathname}`).toBe(`${plain.url}/oauth/authorize`);
    const state = u.searchParams.get('state') ?? '';
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 CSPRNG bytes
    expect(Object.fromEntries(u.searchParams)).toEqual({ response_type: 'code', client_id: CID, redirect_uri: REDIRECT, scope: 'trading', state });

    const row = await stateRow(state);
    expect(row).toMatchObject({ userId: A, sessionHash: sha256Hex(SESSION), codeVerifier: null, redirectUri: REDIRECT, scope: 'trading', usedAt: null });
    expect(row!.expiresAt.getTime()).toBe(started.expiresAt.getTime());
    expect(started.expiresAt.getTime() - Date.now()).toBeGreaterThan(590_000);
    expect(started.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(600_000);
    const raw = JSON.stringify(await batch.sql`select * from oauth_states`);
    expect(raw).not.toContain(state);
    expect(raw).not.toContain(SESSION);

    const q = await authorize(started.authorizeUrl);
    expect(q.state).toBe(state);
    const tokens = keep(await c.complete(A, SESSION, q));
    expect(tokens).toEqual({ accessToken: expect.any(String), scope: 'trading' }); // Alpaca's shape: no expiry, no refresh
    expect((await account(plain, tokens.accessToken)).status).toBe(200);
    expect((await account(plain, `${tokens.accessToken}x`)).status).toBe(401);

    // O3: the token request carries the stored redirect_uri byte for byte, and exactly these fields.
    expect(calls).toHaveLength(1);
    expect([...calls[0]!.keys()].sort()).toEqual(['client_id', 'client_secret', 'code', 'grant_type', 'redirect_uri']);
    expect(calls[0]!.get('redirect_uri')).toBe(REDIRECT);
    expect(calls[0]!.get('grant_type')).toBe('authorization_code');
    expect((await stateRow(state))!.usedAt).toBeInstanceOf(Date);
  });

  it('works through the consent page like a browser: GET the page, POST its form with decision=approve', async () => {
    const { c } = client(consent);
    const { authorizeUrl } = await c.begin(A, SESSION);
    const page = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(page.status).toBe(200);
    const html = await page.text();
    const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(html);
    expect(form?.[1]).toBe('/oauth/authorize');
    const inputs = [...form![2]!.matchAll(/<input type="(hidden|text)" name="([^"]+)" value="([^"]*)">/g)].map((m) => ({ type: m[1], name: m[2], value: m[3] }));
    // The shape the browser test relies on.
    expect(inputs.map((i) => `${i.type}:${i.name}`)).toEqual(['hidden:response_type', 'hidden:client_id', 'hidden:redirect_uri', 'hidden:state', 'hidden:scope', 'text:login']);
    const buttons = [...form![2]!.matchAll(/<button type="submit" name="([^"]+)" value="([^"]+)">/g)].map((m) => `${m[1]}=${m[2]}`);
    expect(buttons).toEqual(['decision=approve', 'decision=deny']);

    const unescape = (v: string) => v.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
    const body = new URLSearchParams(inputs.map((i): [string, string] => [i.name!, unescape(i.value!)]));
    body.set('decision', 'approve');
    const res = await fetch(new URL(form![1]!, authorizeUrl), { method: 'POST', body, redirect: 'manual' });
    expect(res.status).toBe(302);
    const q = callbackQuery(res);
    expect(q.state).toBe(stateOf(authorizeUrl));
    const tokens = keep(await c.complete(A, SESSION, q));
    expect((await account(consent, tokens.accessToken)).status).toBe(200);
  });
});

describe('T13: the callback is refused before any token request unless its state is ours, fresh and unused', () => {
  it('missing state', async () => {
    const { c, calls } = client(plain);
    const q = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    const err = await failure(c.complete(A, SESSION, { code: q.code }));
    expect(err).toBeInstanceOf(OAuthStateError);
    expect((err as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(calls).toHaveLength(0);
  });

  it('a mismatched (random) state; the real one is left untouched and still completes', async () => {
    const { c, calls } = client(plain);
    const q = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    const err = await failure(c.complete(A, SESSION, { ...q, state: randomBytes(32).toString('base64url') }));
    expect((err as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(calls).toHaveLength(0);
    keep(await c.complete(A, SESSION, q));
    expect(calls).toHaveLength(1);
  });

  it('a reused state: the second callback makes no second token request', async () => {
    const { c, calls } = client(plain);
    const q = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    keep(await c.complete(A, SESSION, q));
    const err = await failure(c.complete(A, SESSION, q));
    expect((err as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(calls).toHaveLength(1);
  });

  it('two concurrent callbacks with the same state: exactly one reaches the token endpoint', async () => {
    const { c, calls } = client(plain);
    const q = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    const results = await Promise.allSettled([c.complete(A, SESSION, q), c.complete(A, SESSION, q), c.complete(A, SESSION, q)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') thrown.push(r.reason);
    for (const r of results) if (r.status === 'fulfilled') keep(r.value);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['oauth_state_invalid', 'oauth_state_invalid']);
    expect(calls).toHaveLength(1);
  });

  it('code replay through a second begin: the AS refuses the used code and revokes what it issued', async () => {
    const { c, calls } = client(plain);
    const q1 = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    const first = keep(await c.complete(A, SESSION, q1));
    const second = await c.begin(A, SESSION);
    const err = await failure(c.complete(A, SESSION, { state: stateOf(second.authorizeUrl), code: q1.code }));
    expect(err).toBeInstanceOf(OAuthExchangeError);
    expect(err).toMatchObject({ code: 'oauth_exchange_failed', asError: 'invalid_grant', status: 400, needsReauth: false, retryable: false });
    expect(calls).toHaveLength(2);
    // RFC 6749 §4.1.2: a replayed code revokes the tokens issued for it.
    expect((await account(plain, first.accessToken)).status).toBe(401);
  });

  it('another browser session of the same user is refused; the right session still completes', async () => {
    const { c, calls } = client(plain);
    const q = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    expect(((await failure(c.complete(A, 'session-jti-other', q))) as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(((await failure(c.complete(A, '', q))) as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(calls).toHaveLength(0);
    keep(await c.complete(A, SESSION, q));
  });

  it('another user is refused, even with the same session key', async () => {
    const { c, calls } = client(plain);
    const q = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    expect(((await failure(c.complete(B, SESSION, q))) as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(calls).toHaveLength(0);
    expect((await stateRow(q.state!))!.usedAt).toBeNull();
  });

  it('an expired state is refused; one just inside its TTL completes', async () => {
    let clock = new Date('2026-03-02T15:00:00Z');
    const { c, calls } = client(plain, { now: () => clock, stateTtlMs: 120_000 });
    const late = await c.begin(A, SESSION);
    expect(late.expiresAt.toISOString()).toBe('2026-03-02T15:02:00.000Z');
    const onTime = await c.begin(A, SESSION);
    const qLate = await authorize(late.authorizeUrl);
    const qOnTime = await authorize(onTime.authorizeUrl);
    clock = new Date('2026-03-02T15:01:59.999Z');
    keep(await c.complete(A, SESSION, qOnTime));
    clock = new Date('2026-03-02T15:02:00.000Z');
    expect(((await failure(c.complete(A, SESSION, qLate))) as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(calls).toHaveLength(1);
  });

  it('a redirect_uri the AS does not know exactly: refused at authorize, so our flow never gets a code', async () => {
    for (const variant of [`${REDIRECT}/`, `${REDIRECT}?next=/x`, 'http://127.0.0.1:2/cb', 'http://localhost:1/cb']) {
      const { c } = client(plain, { redirectUri: variant });
      const { authorizeUrl } = await c.begin(A, SESSION);
      expect(new URL(authorizeUrl).searchParams.get('redirect_uri')).toBe(variant);
      const res = await fetch(authorizeUrl, { redirect: 'manual' });
      expect({ variant, status: res.status, location: res.headers.get('location') }).toEqual({ variant, status: 400, location: null });
      expect(await res.text()).toContain('redirect_uri does not match');
    }
    // And a code issued to the registered redirect cannot be redeemed by a flow that began with a variant.
    const good = client(plain);
    const q = await authorize((await good.c.begin(A, SESSION)).authorizeUrl);
    const bad = client(plain, { redirectUri: `${REDIRECT}/` });
    const badState = stateOf((await bad.c.begin(A, SESSION)).authorizeUrl);
    const err = await failure(bad.c.complete(A, SESSION, { state: badState, code: q.code }));
    expect(err).toMatchObject({ code: 'oauth_exchange_failed', asError: 'invalid_grant' });
    expect(bad.calls[0]!.get('redirect_uri')).toBe(`${REDIRECT}/`);
  });

  it('the user denies at the consent page: oauth_exchange_failed (access_denied), state consumed, no token request', async () => {
    const { c, calls } = client(consent);
    const { authorizeUrl } = await c.begin(A, SESSION);
    const hidden = new URL(authorizeUrl).searchParams;
    hidden.set('decision', 'deny');
    const res = await fetch(`${consent.url}/oauth/authorize`, { method: 'POST', body: hidden, redirect: 'manual' });
    expect(res.status).toBe(302);
    const q = callbackQuery(res);
    expect(q).toMatchObject({ error: 'access_denied', state: stateOf(authorizeUrl) });
    const err = await failure(c.complete(A, SESSION, q));
    expect(err).toBeInstanceOf(OAuthExchangeError);
    expect(err).toMatchObject({ code: 'oauth_exchange_failed', asError: 'access_denied', needsReauth: false });
    expect((await stateRow(q.state!))!.usedAt).toBeInstanceOf(Date);
    expect(((await failure(c.complete(A, SESSION, { state: q.state, code: 'anything' }))) as OAuthStateError).code).toBe('oauth_state_invalid');
    expect(calls).toHaveLength(0);
  });

  it('never echoes error_description or an odd error name from the callback', async () => {
    const { c } = client(plain);
    const { authorizeUrl } = await c.begin(A, SESSION);
    const leak = 'code=CANARY-desc-5d0b2c';
    secrets.add(leak);
    const err = await failure(c.complete(A, SESSION, { state: stateOf(authorizeUrl), error: `access_denied ${leak}`, error_description: leak }));
    expect(err).toMatchObject({ code: 'oauth_exchange_failed', asError: 'unrecognized_error' });
  });
});

describe('PKCE (S256)', () => {
  it('with an AS that requires PKCE: pkce:true sends the S256 challenge of the stored verifier and completes', async () => {
    const { c, calls } = client(pkceSim, { pkce: true });
    const { authorizeUrl } = await c.begin(A, SESSION);
    const u = new URL(authorizeUrl).searchParams;
    const verifier = (await stateRow(u.get('state')!))!.codeVerifier!;
    secrets.add(verifier);
    expect(verifier).toMatch(/^[A-Za-z0-9._~-]{43,128}$/);
    expect(u.get('code_challenge_method')).toBe('S256');
    expect(u.get('code_challenge')).toBe(createHash('sha256').update(verifier).digest('base64url'));
    const tokens = keep(await c.complete(A, SESSION, await authorize(authorizeUrl)));
    expect((await account(pkceSim, tokens.accessToken)).status).toBe(200);
    expect(calls[0]!.get('code_verifier')).toBe(verifier);
  });

  it('with an AS that requires PKCE: pkce:false gets no code (invalid_request) and makes no token request', async () => {
    const { c, calls } = client(pkceSim, { pkce: false });
    const q = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    expect(q.code).toBeUndefined();
    expect(q.error).toBe('invalid_request');
    const err = await failure(c.complete(A, SESSION, q));
    expect(err).toMatchObject({ code: 'oauth_exchange_failed', asError: 'invalid_request' });
    expect(calls).toHaveLength(0);
  });

  it('binds the code to its flow: an unredeemed code injected into another flow fails, its own flow still completes', async () => {
    const { c } = client(pkceSim, { pkce: true });
    const q1 = await authorize((await c.begin(A, SESSION)).authorizeUrl);
    const state2 = stateOf((await c.begin(A, SESSION)).authorizeUrl);
    const err = await failure(c.complete(A, SESSION, { state: state2, code: q1.code }));
    expect(err).toMatchObject({ code: 'oauth_exchange_failed', asError: 'invalid_grant' });
    keep(await c.complete(A, SESSION, q1));
  });
});

describe('refresh', () => {
  it('refresh-token AS: TokenSet has refreshToken + expiresAt; refresh rotates; reusing the old one ⇒ needs_reauth', async () => {
    const clock = new Date('2026-03-02T15:00:00Z');
    const { c, calls } = client(refreshSim, { now: () => clock });
    const first = keep(await c.complete(A, SESSION, await authorize((await c.begin(A, SESSION)).authorizeUrl)));
    expect(first.refreshToken).toEqual(expect.any(String));
    expect(first.expiresAt?.toISOString()).toBe('2026-03-02T16:00:00.000Z'); // sim default: expires_in 3600
    expect(first.scope).toBe('trading');

    const second = keep(await c.refresh(first.refreshToken!));
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.expiresAt).toEqual(first.expiresAt);
    expect((await account(refreshSim, second.accessToken)).status).toBe(200);
    expect(calls.at(-1)!.get('grant_type')).toBe('refresh_token');
    expect([...calls.at(-1)!.keys()].sort()).toEqual(['client_id', 'client_secret', 'grant_type', 'refresh_token']);

    const err = await failure(c.refresh(first.refreshToken!));
    expect(err).toBeInstanceOf(OAuthExchangeError);
    expect(err).toMatchObject({ code: 'needs_reauth', needsReauth: true, retryable: false, asError: 'invalid_grant' });
    // Reuse revoked the family (RFC 9700 §4.14.2): the rotated token is dead too.
    expect(await failure(c.refresh(second.refreshToken!))).toMatchObject({ code: 'needs_reauth' });
    expect((await account(refreshSim, second.accessToken)).status).toBe(401);
  });

  it('Alpaca-like AS without refresh tokens: refresh is refused, not retryable, not needs_reauth', async () => {
    const { c } = client(plain);
    const err = await failure(c.refresh('rt-CANARY-none-3f9a'));
    secrets.add('rt-CANARY-none-3f9a');
    expect(err).toMatchObject({ code: 'oauth_exchange_failed', asError: 'unsupported_grant_type', needsReauth: false, retryable: false });
  });

  it('5xx, 429, timeout and an unreachable endpoint are retryable oauth_exchange_failed; a redirect is not followed', async () => {
    const hits: string[] = [];
    const fault = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/503') res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
      else if (req.url === '/429') res.writeHead(429).end('slow down');
      else if (req.url === '/302') res.writeHead(307, { location: `http://127.0.0.1:1/steal` }).end();
      else if (req.url === '/200-bad') res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"at-CANARY-bad","token_type":"mac"}');
      // '/hang': never answers.
    });
    faultServers.push(fault);
    await new Promise<void>((r) => fault.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(fault.address() as AddressInfo).port}`;
    secrets.add('at-CANARY-bad');
    const at = (path: string) => client(plain, { tokenUrl: `${base}${path}`, timeoutMs: 300 }).c;

    expect(await failure(at('/503').refresh('rt-1'))).toMatchObject({ code: 'oauth_exchange_failed', asError: 'temporarily_unavailable', status: 503, retryable: true, needsReauth: false });
    expect(await failure(at('/429').refresh('rt-1'))).toMatchObject({ code: 'oauth_exchange_failed', asError: 'http_429', retryable: true });
    expect(await failure(at('/hang').refresh('rt-1'))).toMatchObject({ code: 'oauth_exchange_failed', asError: 'timeout', retryable: true });
    expect(await failure(client(plain, { tokenUrl: 'http://127.0.0.1:1/oauth/token' }).c.refresh('rt-1'))).toMatchObject({ asError: 'network_error', retryable: true });
    expect(await failure(at('/302').refresh('rt-1'))).toMatchObject({ code: 'oauth_exchange_failed', status: 307, retryable: false });
    expect(await failure(at('/200-bad').refresh('rt-1'))).toMatchObject({ code: 'oauth_exchange_failed', asError: 'invalid_token_response' });
    expect(hits.filter((h) => h === '/steal')).toEqual([]);
  });
});

describe('configuration', () => {
  it('refuses options that would weaken the flow', () => {
    const base: OAuthConnectOptions = {
      authorizeUrl: 'https://app.alpaca.markets/oauth/authorize',
      tokenUrl: 'https://api.alpaca.markets/oauth/token',
      clientId: CID,
      clientSecret: () => CSECRET,
      redirectUri: 'https://raxx.example/live/oauth/callback',
      scopes: 'trading',
      pkce: true,
    };
    expect(() => new OAuthConnect(app.db, base)).not.toThrow();
    for (const bad of [
      { tokenUrl: 'http://api.alpaca.markets/oauth/token' },
      { authorizeUrl: 'http://app.alpaca.markets/oauth/authorize' },
      { redirectUri: 'http://raxx.example/cb' },
      { redirectUri: 'https://raxx.example/cb#frag' },
      { stateTtlMs: 600_001 },
      { stateTtlMs: 0 },
      { scopes: 'trading,data' },
      { clientId: '' },
    ]) {
      expect(() => new OAuthConnect(app.db, { ...base, ...bad }), JSON.stringify(bad)).toThrow(OAuthConfigError);
    }
  });

  it('keeps parameters of the configured authorize URL (e.g. env=live)', async () => {
    const { c } = client(plain, { authorizeUrl: `${plain.url}/oauth/authorize?env=live` });
    const u = new URL((await c.begin(A, SESSION)).authorizeUrl);
    expect(u.searchParams.get('env')).toBe('live');
    expect(u.searchParams.get('response_type')).toBe('code');
  });

  it('a database failure in begin comes out as DbError without the state or verifier', async () => {
    const { c } = client(pkceSim, { pkce: true });
    const err = await failure(c.begin('no-such-user', SESSION)); // FK violation: the params held the verifier
    expect(err).toBeInstanceOf(DbError);
    expect((err as DbError).sqlstate).toBe('23503');
  });
});

describe('T11 canary', () => {
  it('no thrown error carries the client secret, a code, a state, a verifier or a token', () => {
    expect(thrown.length).toBeGreaterThanOrEqual(20);
    expect(secrets.size).toBeGreaterThanOrEqual(20);
    for (const err of thrown) {
      const e = err as Error & { cause?: unknown };
      expect(e.cause).toBeUndefined();
      const text = errorText(e);
      for (const s of secrets) if (s) expect(text.includes(s), `${e.name} leaks a secret`).toBe(false);
      // Catch-all for values we never saw (the DbError's verifier): no long base64url/hex run at all.
      expect(e.message).not.toMatch(/[A-Za-z0-9_-]{40,}/);
    }
  });
});
