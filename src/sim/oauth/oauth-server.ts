// Alpaca Connect's OAuth 2.0 authorization-code flow: consent page, single-use codes, tokens, optional PKCE and refresh rotation.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, isLoopbackAddress, readBody, sendJson, type RouteHandler } from '../http/util.js';

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  /** Exact-match allow list of redirect URIs. */
  redirectUris: string[];
}

export interface OAuthServerOptions {
  /** Registered apps. Default one: sim-client / sim-secret / http://localhost:3000/oauth/callback. */
  clients?: OAuthClient[];
  /** Skip the consent page: /oauth/authorize redirects with a code at once (for tests). Default false. */
  autoApprove?: boolean;
  /** The user approving when no `login` is given. Default 'demo'. */
  defaultLogin?: string;
  /** Authorization code lifetime. Default 600000 ms (10 min). */
  codeTtlMs?: number;
  /** Require PKCE (S256 code_challenge at authorize, code_verifier at token). Default false. A challenge sent anyway is always checked. */
  requirePkce?: boolean;
  /**
   * Default false: Alpaca's real token shape `{access_token, token_type, scope}` that never expires.
   * True: access tokens expire (`expires_in`) and come with a `refresh_token`; grant_type=refresh_token rotates it,
   * and reusing a rotated refresh token revokes the whole family.
   */
  refreshTokens?: boolean;
  /** Access token lifetime when refreshTokens is on. Default 3600000 ms. */
  accessTokenTtlMs?: number;
  /** Scope granted when the request names none. Default 'account:write trading'. */
  defaultScope?: string;
  /** Time source (epoch ms). Default Date.now. */
  now?: () => number;
}

export interface TokenInfo {
  login: string;
  clientId: string;
  scope: string;
  env: string;
  issuedAt: number;
  expiresAt?: number;
}

export interface OAuthServer {
  /** `/oauth/authorize` (GET consent page, POST decision) and `/oauth/token`. */
  handle: RouteHandler;
  /** Loopback-only `/_control/oauth/...`: revoke, list tokens. */
  control: RouteHandler;
  validateToken(token: string): TokenInfo | undefined;
  /** Revokes one access or refresh token (and the family it belongs to). Returns how many access tokens died. */
  revokeToken(token: string): number;
  onRevoke(listener: (accessToken: string) => void): () => void;
}

const SCOPES = new Set(['account:write', 'trading', 'data']);

interface Code {
  clientId: string;
  redirectUri: string;
  login: string;
  scope: string;
  env: string;
  expiresAt: number;
  challenge?: string;
  used: boolean;
  family?: string;
}

interface AccessToken extends TokenInfo {
  family: string;
  revoked: boolean;
}

interface RefreshToken {
  family: string;
  used: boolean;
}

interface Family {
  clientId: string;
  login: string;
  scope: string;
  env: string;
  access: Set<string>;
  refresh: Set<string>;
}

class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(description);
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const token = () => randomBytes(32).toString('base64url');

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function redirect(res: ServerResponse, uri: string, params: Record<string, string | undefined>): void {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.searchParams.set(k, v);
  res.writeHead(302, { location: u.toString(), 'cache-control': 'no-store' });
  res.end();
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' });
  res.end(html);
}

async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
  const raw = (await readBody(req, 16 * 1024)).toString('utf8');
  const type = String(req.headers['content-type'] ?? '');
  if (type.includes('application/json')) {
    try {
      const obj = JSON.parse(raw) as Record<string, unknown>;
      return new URLSearchParams(Object.entries(obj).map(([k, v]): [string, string] => [k, String(v)]));
    } catch {
      throw new OAuthError(400, 'invalid_request', 'malformed JSON body');
    }
  }
  return new URLSearchParams(raw);
}

export function createOAuthServer(options: OAuthServerOptions = {}): OAuthServer {
  const clients = new Map(
    (options.clients ?? [{ clientId: 'sim-client', clientSecret: 'sim-secret', redirectUris: ['http://localhost:3000/oauth/callback'] }]).map((c) => [c.clientId, c]),
  );
  const now = options.now ?? Date.now;
  const codeTtlMs = options.codeTtlMs ?? 600_000;
  const accessTtlMs = options.accessTokenTtlMs ?? 3_600_000;
  const defaultLogin = options.defaultLogin ?? 'demo';
  const defaultScope = options.defaultScope ?? 'account:write trading';
  const codes = new Map<string, Code>();
  const access = new Map<string, AccessToken>();
  const refresh = new Map<string, RefreshToken>();
  const families = new Map<string, Family>();
  const listeners = new Set<(t: string) => void>();

  function revokeFamily(id: string): number {
    const f = families.get(id);
    if (!f) return 0;
    let n = 0;
    for (const t of f.access) {
      const a = access.get(t);
      if (a && !a.revoked) {
        a.revoked = true;
        n++;
        for (const l of listeners) l(t);
      }
    }
    for (const r of f.refresh) refresh.delete(r);
    return n;
  }

  function issue(familyId: string): Record<string, unknown> {
    const f = families.get(familyId);
    if (!f) throw new OAuthError(400, 'invalid_grant', 'grant revoked');
    const t = token();
    const issuedAt = now();
    const expiresAt = options.refreshTokens ? issuedAt + accessTtlMs : undefined;
    access.set(t, { login: f.login, clientId: f.clientId, scope: f.scope, env: f.env, issuedAt, expiresAt, family: familyId, revoked: false });
    f.access.add(t);
    const body: Record<string, unknown> = { access_token: t, token_type: 'bearer', scope: f.scope };
    if (options.refreshTokens) {
      const r = token();
      refresh.set(r, { family: familyId, used: false });
      f.refresh.add(r);
      body.expires_in = Math.round(accessTtlMs / 1000);
      body.refresh_token = r;
    }
    return body;
  }

  /** Validates client_id + redirect_uri before anything may be redirected (RFC 6749 §4.1.2.1). */
  function checkClient(params: URLSearchParams): { client: OAuthClient; redirectUri: string } | string {
    const client = clients.get(params.get('client_id') ?? '');
    if (!client) return 'unknown client_id';
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!client.redirectUris.includes(redirectUri)) return 'redirect_uri does not match a registered redirect URI';
    return { client, redirectUri };
  }

  function errorPage(res: ServerResponse, message: string): void {
    sendHtml(res, 400, `<!doctype html><html><head><title>Authorization error</title></head><body><h1>Authorization error</h1><p>${esc(message)}</p></body></html>`);
  }

  /** Checks the request's own parameters; returns an OAuth error to redirect with, or the granted scope. */
  function checkRequest(params: URLSearchParams): { error: string; description: string } | { scope: string } {
    if (params.get('response_type') !== 'code') return { error: 'unsupported_response_type', description: 'response_type must be code' };
    const scope = (params.get('scope') ?? '').trim() || defaultScope;
    if (scope.split(/\s+/).some((s) => !SCOPES.has(s))) return { error: 'invalid_scope', description: `unknown scope in "${scope}"` };
    const challenge = params.get('code_challenge');
    const method = params.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
    if (challenge && method !== 'S256') return { error: 'invalid_request', description: 'code_challenge_method must be S256' };
    if (options.requirePkce && !challenge) return { error: 'invalid_request', description: 'code_challenge is required' };
    return { scope };
  }

  function approve(res: ServerResponse, params: URLSearchParams, redirectUri: string, clientId: string, scope: string): void {
    const code = randomUUID();
    codes.set(code, {
      clientId,
      redirectUri,
      login: (params.get('login') ?? '').trim() || defaultLogin,
      scope,
      env: params.get('env') ?? 'paper',
      expiresAt: now() + codeTtlMs,
      challenge: params.get('code_challenge') ?? undefined,
      used: false,
    });
    redirect(res, redirectUri, { code, state: params.get('state') ?? undefined });
  }

  function consentPage(params: URLSearchParams, client: OAuthClient, scope: string): string {
    const hidden = ['response_type', 'client_id', 'redirect_uri', 'state', 'scope', 'env', 'code_challenge', 'code_challenge_method']
      .filter((k) => params.get(k) !== null)
      .map((k) => `<input type="hidden" name="${k}" value="${esc(params.get(k) ?? '')}">`)
      .join('\n      ');
    return `<!doctype html>
<html>
  <head><meta charset="utf-8"><title>Alpaca (simulated) — authorize ${esc(client.clientId)}</title></head>
  <body>
    <h1>Authorize ${esc(client.clientId)}</h1>
    <p>The application <strong>${esc(client.clientId)}</strong> asks for access to your account with scope <code>${esc(scope)}</code> (${esc(params.get('env') ?? 'paper')}).</p>
    <form method="post" action="/oauth/authorize">
      ${hidden}
      <label>Simulated user <input type="text" name="login" value="${esc(params.get('login') ?? defaultLogin)}"></label>
      <button type="submit" name="decision" value="approve">Approve</button>
      <button type="submit" name="decision" value="deny">Deny</button>
    </form>
  </body>
</html>`;
  }

  async function authorize(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const params = req.method === 'POST' ? await formBody(req) : url.searchParams;
    const checked = checkClient(params);
    if (typeof checked === 'string') return errorPage(res, checked);
    const request = checkRequest(params);
    const state = params.get('state') ?? undefined;
    if ('error' in request) return redirect(res, checked.redirectUri, { error: request.error, error_description: request.description, state });
    if (req.method === 'POST') {
      if (params.get('decision') !== 'approve') {
        return redirect(res, checked.redirectUri, { error: 'access_denied', error_description: 'The user denied the request', state });
      }
      return approve(res, params, checked.redirectUri, checked.client.clientId, request.scope);
    }
    if (options.autoApprove) return approve(res, params, checked.redirectUri, checked.client.clientId, request.scope);
    sendHtml(res, 200, consentPage(params, checked.client, request.scope));
  }

  function authenticateClient(req: IncomingMessage, params: URLSearchParams): OAuthClient {
    let id = params.get('client_id') ?? '';
    let secret = params.get('client_secret') ?? '';
    const basic = /^basic\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (basic?.[1]) {
      const [u, p] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
      id = decodeURIComponent(u ?? '');
      secret = decodeURIComponent(p ?? '');
    }
    const client = clients.get(id);
    if (!client || client.clientSecret !== secret) throw new OAuthError(401, 'invalid_client', 'client authentication failed');
    return client;
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = await formBody(req);
    const grant = params.get('grant_type');
    if (grant !== 'authorization_code' && grant !== 'refresh_token') throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
    const client = authenticateClient(req, params);
    if (grant === 'refresh_token') {
      if (!options.refreshTokens) throw new OAuthError(400, 'unsupported_grant_type', 'refresh tokens are not issued');
      const r = refresh.get(params.get('refresh_token') ?? '');
      const f = r ? families.get(r.family) : undefined;
      if (!r || !f || f.clientId !== client.clientId) throw new OAuthError(400, 'invalid_grant', 'invalid refresh token');
      if (r.used) {
        revokeFamily(r.family);
        throw new OAuthError(400, 'invalid_grant', 'refresh token reused; grant revoked');
      }
      r.used = true;
      return sendJson(res, 200, issue(r.family), { 'cache-control': 'no-store' });
    }
    const codeValue = params.get('code') ?? '';
    const code = codes.get(codeValue);
    if (!code || code.clientId !== client.clientId) throw new OAuthError(400, 'invalid_grant', 'invalid authorization code');
    if (code.used) {
      if (code.family) revokeFamily(code.family);
      throw new OAuthError(400, 'invalid_grant', 'authorization code already used');
    }
    if (now() >= code.expiresAt) {
      codes.delete(codeValue);
      throw new OAuthError(400, 'invalid_grant', 'authorization code expired');
    }
    if ((params.get('redirect_uri') ?? '') !== code.redirectUri) throw new OAuthError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
    if (code.challenge) {
      const verifier = params.get('code_verifier');
      if (!verifier) throw new OAuthError(400, 'invalid_request', 'code_verifier is required');
      if (s256(verifier) !== code.challenge) throw new OAuthError(400, 'invalid_grant', 'code_verifier does not match code_challenge');
    }
    code.used = true;
    const family = randomUUID();
    families.set(family, { clientId: code.clientId, login: code.login, scope: code.scope, env: code.env, access: new Set(), refresh: new Set() });
    code.family = family;
    sendJson(res, 200, issue(family), { 'cache-control': 'no-store' });
  }

  const handle: RouteHandler = async (req, res, url) => {
    const path = url.pathname;
    if (path !== '/oauth/authorize' && path !== '/oauth/token') return false;
    try {
      if (path === '/oauth/authorize' && (req.method === 'GET' || req.method === 'POST')) await authorize(req, res, url);
      else if (path === '/oauth/token' && req.method === 'POST') await tokenEndpoint(req, res);
      else sendJson(res, 405, { error: 'invalid_request', error_description: 'method not allowed' });
    } catch (e) {
      if (e instanceof OAuthError) sendJson(res, e.status, { error: e.error, error_description: e.message }, { 'cache-control': 'no-store' });
      else if (e instanceof BodyTooLargeError) sendJson(res, 413, { error: 'invalid_request', error_description: 'request body too large' }, { connection: 'close' });
      else sendJson(res, 500, { error: 'server_error', error_description: 'internal error' });
    }
    return true;
  };

  function validateToken(t: string): TokenInfo | undefined {
    const a = access.get(t);
    if (!a || a.revoked) return undefined;
    if (a.expiresAt !== undefined && now() >= a.expiresAt) return undefined;
    return { login: a.login, clientId: a.clientId, scope: a.scope, env: a.env, issuedAt: a.issuedAt, expiresAt: a.expiresAt };
  }

  function revokeToken(t: string): number {
    const a = access.get(t);
    if (a) return revokeFamily(a.family);
    const r = refresh.get(t);
    return r ? revokeFamily(r.family) : 0;
  }

  const control: RouteHandler = async (req, res, url) => {
    if (!url.pathname.startsWith('/_control/oauth/')) return false;
    if (!isLoopbackAddress(req.socket.remoteAddress)) {
      sendJson(res, 403, { message: 'control endpoints answer loopback only' });
      return true;
    }
    try {
      if (url.pathname === '/_control/oauth/revoke' && req.method === 'POST') {
        const p = await formBody(req);
        let revoked = 0;
        const t = p.get('token');
        if (t) revoked += revokeToken(t);
        const login = p.get('login');
        const clientId = p.get('client_id') ?? p.get('clientId');
        if (login || clientId) {
          for (const [id, f] of families) if ((!login || f.login === login) && (!clientId || f.clientId === clientId)) revoked += revokeFamily(id);
        }
        sendJson(res, 200, { revoked });
      } else if (url.pathname === '/_control/oauth/tokens' && req.method === 'GET') {
        sendJson(
          res,
          200,
          [...access.entries()].map(([t, a]) => ({ access_token: t, login: a.login, client_id: a.clientId, scope: a.scope, revoked: a.revoked, expires_at: a.expiresAt ?? null })),
        );
      } else sendJson(res, 404, { message: 'unknown control route' });
    } catch (e) {
      sendJson(res, e instanceof OAuthError ? e.status : 500, { message: e instanceof Error ? e.message : 'error' });
    }
    return true;
  };

  return {
    handle,
    control,
    validateToken,
    revokeToken,
    onRevoke(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
