// An Alpaca Connect OAuth token from the simulator (started with SIM_OAUTH_AUTO_APPROVE: '1'), and its revocation.
import { randomUUID } from 'node:crypto';
import { loadSimConfig, type SimOAuthClient } from '../../src/sim/config.js';

/**
 * Runs the code flow as `login` (each login is its own simulated brokerage account) and returns the access token.
 * `client` defaults to the simulator's default SIM_OAUTH_CLIENTS entry.
 */
export async function simOAuthToken(simUrl: string, login: string = `user-${randomUUID()}`, client?: SimOAuthClient): Promise<string> {
  const c = client ?? loadSimConfig({}).oauthClients[0];
  if (!c) throw new Error('the simulator has no OAuth client');
  const CLIENT = { id: c.clientId, secret: c.clientSecret, redirect: c.redirectUris[0] ?? '' };
  const state = randomUUID();
  const q = new URLSearchParams({ response_type: 'code', client_id: CLIENT.id, redirect_uri: CLIENT.redirect, scope: 'account:write trading', state, login });
  const auth = await fetch(`${simUrl}/oauth/authorize?${q.toString()}`, { redirect: 'manual' });
  const location = new URL(auth.headers.get('location') ?? 'about:blank');
  const code = location.searchParams.get('code');
  if (auth.status !== 302 || !code || location.searchParams.get('state') !== state) {
    throw new Error(`authorize did not redirect with a code (HTTP ${auth.status}; is SIM_OAUTH_AUTO_APPROVE on?)`);
  }
  const res = await fetch(`${simUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, client_id: CLIENT.id, client_secret: CLIENT.secret, redirect_uri: CLIENT.redirect }).toString(),
  });
  const body = (await res.json()) as { access_token?: unknown };
  if (res.status !== 200 || typeof body.access_token !== 'string') throw new Error(`token exchange failed (HTTP ${res.status})`);
  return body.access_token;
}

/** Revokes a token at the simulator (REST then answers 401, its open streams get `unauthorized`). Returns how many died. */
export async function revokeSimToken(simUrl: string, token: string): Promise<number> {
  const res = await fetch(`${simUrl}/_control/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  return ((await res.json()) as { revoked: number }).revoked;
}
