// The simulated Alpaca Connect OAuth server: code flow, PKCE, refresh rotation, revocation reaching REST and the stream.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { serveHandlers } from '../../support/sim-server.js';
import WebSocket from 'ws';
import { Alpaca } from '@alpacahq/alpaca-trade-api';
import type { MarketClock } from '../../../src/sim/clock/types.js';
import type { MarketState } from '../../../src/sim/market/types.js';
import { createOAuthServer, type OAuthServerOptions } from '../../../src/sim/oauth/index.js';
import { createTradingApi } from '../../../src/sim/trading/index.js';

const REDIRECT = 'http://localhost:5173/callback';
const CLIENT = { clientId: 'raxx', clientSecret: 'raxx-secret', redirectUris: [REDIRECT] };

const market: MarketState = {
  symbols: () => [{ symbol: 'AAPL', name: 'Apple Inc.', exchange: 'NASDAQ', basePrice: 100, fractionable: true }],
  hasSymbol: (s) => s === 'AAPL',
  latestQuote: () => undefined,
  latestTrade: () => undefined,
  latestMinuteBar: () => undefined,
  dailyBar: () => undefined,
  prevDailyBar: () => undefined,
  isHalted: () => false,
  historicalBars: () => [],
  subscribe: () => () => {},
};
const clock: MarketClock = {
  now: () => new Date(),
  isOpen: () => true,
  session: () => undefined,
  calendar: () => [],
  nextOpen: () => new Date(Date.now() + 60_000),
  nextClose: () => new Date(Date.now() + 3_600_000),
};

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (running.length) await running.pop()?.();
});

async function start(options: OAuthServerOptions) {
  const oauth = createOAuthServer({ clients: [CLIENT], ...options });
  const api = createTradingApi({ market, clock, oauth });
  const served = await serveHandlers([oauth.handle, oauth.control, api.handle, api.control], [api.handleUpgrade]);
  const base = served.base;
  running.push(async () => {
    await api.close();
    await served.close();
  });
  return { base, oauth };
}

async function authorize(base: string, params: Record<string, string>): Promise<Response> {
  const q = new URLSearchParams({ response_type: 'code', client_id: CLIENT.clientId, redirect_uri: REDIRECT, state: 'st-1', scope: 'account:write trading', ...params });
  return fetch(`${base}/oauth/authorize?${q.toString()}`, { redirect: 'manual' });
}

async function codeFrom(res: Response): Promise<string> {
  expect(res.status).toBe(302);
  const loc = new URL(res.headers.get('location') ?? '');
  expect(`${loc.origin}${loc.pathname}`).toBe(REDIRECT);
  expect(loc.searchParams.get('state')).toBe('st-1');
  return loc.searchParams.get('code') ?? '';
}

async function token(base: string, params: Record<string, string>) {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret, redirect_uri: REDIRECT, grant_type: 'authorization_code', ...params }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const bearer = (base: string, t: string) => fetch(`${base}/v2/account`, { headers: { authorization: `Bearer ${t}` } });

function streamAuth(base: string, t: string): Promise<{ status: string; ws: WebSocket }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/stream`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ action: 'authenticate', data: { oauth_token: t } })));
    ws.once('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString('utf8')) as { stream: string; data: { status: string } };
      resolve({ status: frame.data.status, ws });
    });
    ws.once('error', reject);
  });
}

describe('OAuth code flow', () => {
  it('auto-approves, issues Alpaca-shaped tokens that work as Bearer through the SDK, and rejects replays', async () => {
    const { base } = await start({ autoApprove: true });
    const code = await codeFrom(await authorize(base, { login: 'alice' }));
    const t = await token(base, { code });
    expect(t.status).toBe(200);
    expect(Object.keys(t.body).sort()).toEqual(['access_token', 'scope', 'token_type']);
    expect(t.body).toMatchObject({ token_type: 'bearer', scope: 'account:write trading' });
    const accessToken = String(t.body.access_token);

    const alpaca = new Alpaca({
      accessToken,
      paper: true,
      retry: false,
      fetchApi: (url, init) => fetch(String(url).replace(/^https:\/\/(paper-api|api|data)\.alpaca\.markets/, base), init),
    });
    const account = await alpaca.trading.account.getAccount();
    expect(account.cash).toBe('100000');

    expect(await token(base, { code })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // Replaying a code revokes what it issued.
    expect((await bearer(base, accessToken)).status).toBe(401);
  });

  it('rejects a wrong redirect_uri, a wrong client secret and an expired code', async () => {
    let now = 1_000_000;
    const { base } = await start({ autoApprove: true, codeTtlMs: 1000, now: () => now });
    const bad = await authorize(base, { redirect_uri: 'http://evil.example/cb' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('location')).toBeNull();

    const code = await codeFrom(await authorize(base, {}));
    expect(await token(base, { code, redirect_uri: 'http://localhost:5173/other' })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await token(base, { code, client_secret: 'nope' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });

    const late = await codeFrom(await authorize(base, {}));
    now += 1001;
    expect(await token(base, { code: late })).toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'authorization code expired' } });
    expect(await token(base, { code: 'x', grant_type: 'password' })).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
  });

  it('serves an HTML consent page whose Approve / Deny form posts back', async () => {
    const { base } = await start({});
    const page = await authorize(base, {});
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('<form method="post" action="/oauth/authorize">');
    expect(html).toContain('value="approve"');
    expect(html).toContain('value="deny"');

    const form = { response_type: 'code', client_id: CLIENT.clientId, redirect_uri: REDIRECT, state: 'st-1', scope: 'account:write trading', login: 'bob' };
    const post = (decision: string) =>
      fetch(`${base}/oauth/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...form, decision }).toString(),
      });
    const code = await codeFrom(await post('approve'));
    expect((await token(base, { code })).status).toBe(200);
    const denied = new URL((await post('deny')).headers.get('location') ?? '');
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('error_description')).toBeTruthy();
  });
});

describe('OAuth options', () => {
  it('PKCE: a missing or wrong verifier is rejected, the right one accepted', async () => {
    const { base } = await start({ autoApprove: true, requirePkce: true });
    const noChallenge = new URL((await authorize(base, {})).headers.get('location') ?? '');
    expect(noChallenge.searchParams.get('error')).toBe('invalid_request');

    const verifier = 'v'.repeat(50);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const pkce = { code_challenge: challenge, code_challenge_method: 'S256' };
    expect(await token(base, { code: await codeFrom(await authorize(base, pkce)) })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await token(base, { code: await codeFrom(await authorize(base, pkce)), code_verifier: 'w'.repeat(50) })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await token(base, { code: await codeFrom(await authorize(base, pkce)), code_verifier: verifier })).status).toBe(200);
  });

  it('refresh mode: expiring tokens, rotation, and reuse of a rotated refresh token revokes the family', async () => {
    let now = 5_000_000;
    const { base } = await start({ autoApprove: true, refreshTokens: true, accessTokenTtlMs: 60_000, now: () => now });
    const first = await token(base, { code: await codeFrom(await authorize(base, {})) });
    expect(first.body).toMatchObject({ token_type: 'bearer', expires_in: 60 });
    expect(typeof first.body.refresh_token).toBe('string');
    now += 61_000;
    expect((await bearer(base, String(first.body.access_token))).status).toBe(401);

    const second = await token(base, { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect((await bearer(base, String(second.body.access_token))).status).toBe(200);

    const reuse = await token(base, { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) });
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await bearer(base, String(second.body.access_token))).status).toBe(401);
    expect((await token(base, { grant_type: 'refresh_token', refresh_token: String(second.body.refresh_token) })).status).toBe(400);
  });

  it('revocation through the control route: 401 on REST, unauthorized on the stream', async () => {
    const { base } = await start({ autoApprove: true });
    const t = String((await token(base, { code: await codeFrom(await authorize(base, {})) })).body.access_token);
    expect((await bearer(base, t)).status).toBe(200);
    const live = await streamAuth(base, t);
    expect(live.status).toBe('authorized');
    const kicked = new Promise<string>((resolve) => live.ws.once('message', (raw: Buffer) => resolve(JSON.parse(raw.toString('utf8')).data.status as string)));
    const closed = new Promise<void>((resolve) => live.ws.once('close', () => resolve()));

    const revoke = await fetch(`${base}/_control/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: t }) });
    expect(await revoke.json()).toEqual({ revoked: 1 });
    expect(await kicked).toBe('unauthorized');
    await closed;

    const r = await bearer(base, t);
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ code: 40110000, message: 'request is not authorized' });
    const again = await streamAuth(base, t);
    expect(again.status).toBe('unauthorized');
    again.ws.terminate();
  });
});
