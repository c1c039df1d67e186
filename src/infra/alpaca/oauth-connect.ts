// Alpaca Connect OAuth client (authorization-code flow): a single-use, session-bound `state`, PKCE S256, the code
// exchange at the token endpoint, and refresh for authorization servers that issue refresh tokens.
import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { oauthStates, withTenant, type Db } from '../db/index.js';
import { OAuthConfigError, OAuthExchangeError, OAuthStateError, safeErrorName } from './oauth-errors.js';

export { OAuthConfigError, OAuthExchangeError, OAuthStateError, type OAuthExchangeErrorOptions } from './oauth-errors.js';

export interface OAuthConnectOptions {
  authorizeUrl: string;
  tokenUrl: string;
  clientId: string;
  /** Read on every token request (the secret file rotates without a restart). */
  clientSecret: () => string;
  /** Sent byte-identical at authorize and token time; must be registered exactly at the AS. */
  redirectUri: string;
  /** Space separated, minimal ('trading' by default). */
  scopes: string;
  /** Send S256 PKCE (never 'plain'). */
  pkce: boolean;
  /** How long a begun flow may take; default 600_000, at most 600_000 (10 min). */
  stateTtlMs?: number;
  /** Token endpoint timeout; default 5000. */
  timeoutMs?: number;
  now?: () => Date;
  /** Injectable so tests can count token-endpoint requests. */
  fetch?: typeof fetch;
}

/** Structurally identical to the TokenSet of src/infra/live/connections.ts. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  expiresAt?: Date;
  scope: string;
}

export interface CallbackQuery {
  state?: string;
  code?: string;
  error?: string;
  error_description?: string;
}

const MAX_STATE_TTL_MS = 600_000;
/** Longer inputs are no state or code of ours: refuse before hashing or sending them anywhere. */
const MAX_PARAM_LENGTH = 512;
const MAX_TOKEN_BODY = 64 * 1024;

// Alpaca answers {access_token, token_type, scope}; ASes with refresh (the simulator's refresh mode) add
// expires_in and refresh_token. Unknown fields are ignored.
const tokenResponseSchema = z.object({
  access_token: z.string().min(1).max(4096),
  token_type: z.string().refine((t) => t.toLowerCase() === 'bearer', 'only bearer tokens are usable'),
  scope: z.string().max(1024).optional(),
  expires_in: z.number().int().positive().optional(),
  refresh_token: z.string().min(1).max(4096).optional(),
});
const tokenErrorSchema = z.object({ error: z.string() });

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

function isLoopbackHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

/** HTTPS, or plain HTTP to this machine only (the simulator in dev and tests). */
function checkUrl(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OAuthConfigError(`${name} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new OAuthConfigError(`${name} must be https (plain http only on loopback)`);
  }
  if (url.hash) throw new OAuthConfigError(`${name} must not have a fragment`);
  return url;
}

export class OAuthConnect {
  private readonly authorizeUrl: URL;
  private readonly stateTtlMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => Date;
  private readonly fetch: typeof fetch;

  constructor(
    private readonly db: Db,
    private readonly o: OAuthConnectOptions,
  ) {
    this.authorizeUrl = checkUrl('authorizeUrl', o.authorizeUrl);
    checkUrl('tokenUrl', o.tokenUrl);
    checkUrl('redirectUri', o.redirectUri);
    if (!o.clientId) throw new OAuthConfigError('clientId is empty');
    if (!/^[a-z:]+( [a-z:]+)*$/.test(o.scopes)) throw new OAuthConfigError('scopes must be space-separated names such as "trading"');
    this.stateTtlMs = o.stateTtlMs ?? MAX_STATE_TTL_MS;
    if (!(this.stateTtlMs > 0 && this.stateTtlMs <= MAX_STATE_TTL_MS)) throw new OAuthConfigError('stateTtlMs must be in (0, 600000]');
    this.timeoutMs = o.timeoutMs ?? 5_000;
    this.now = o.now ?? (() => new Date());
    this.fetch = o.fetch ?? fetch;
  }

  /** RFC 7636 §4.2 S256: base64url(SHA-256(ASCII(verifier))), no padding. */
  static pkceChallenge(verifier: string): string {
    return createHash('sha256').update(verifier, 'ascii').digest('base64url');
  }

  /**
   * Starts a flow for `userId` in the browser session `sessionKey`: stores only hashes of the state and the session
   * (a database reader cannot finish someone's flow) and returns the URL to send the browser to.
   */
  async begin(userId: string, sessionKey: string): Promise<{ authorizeUrl: string; expiresAt: Date }> {
    if (!sessionKey) throw new OAuthStateError('a browser session is required to begin an OAuth flow');
    const state = randomBytes(32).toString('base64url');
    // 32 random bytes give a 43-char verifier of [A-Za-z0-9_-], inside RFC 7636's 43–128 unreserved characters.
    const verifier = this.o.pkce ? randomBytes(32).toString('base64url') : null;
    const expiresAt = new Date(this.now().getTime() + this.stateTtlMs);
    await withTenant(this.db, [userId], (tx) =>
      tx.insert(oauthStates).values({
        stateHash: sha256Hex(state),
        userId,
        sessionHash: sha256Hex(sessionKey),
        codeVerifier: verifier,
        redirectUri: this.o.redirectUri,
        scope: this.o.scopes,
        expiresAt,
      }),
    );
    // Parameters the configured URL already carries (e.g. Alpaca's `env=live`) are kept.
    const url = new URL(this.authorizeUrl);
    const q = url.searchParams;
    q.set('response_type', 'code');
    q.set('client_id', this.o.clientId);
    q.set('redirect_uri', this.o.redirectUri);
    q.set('scope', this.o.scopes);
    q.set('state', state);
    if (verifier) {
      q.set('code_challenge', OAuthConnect.pkceChallenge(verifier));
      q.set('code_challenge_method', 'S256');
    }
    return { authorizeUrl: url.toString(), expiresAt };
  }

  /**
   * Handles the callback: consumes the state (once, for this user and session, before any token request), then
   * exchanges the code. A consumed state stays consumed whatever the exchange does, so a retry needs a new begin().
   */
  async complete(userId: string, sessionKey: string, query: CallbackQuery): Promise<TokenSet> {
    const { state } = query;
    if (!state || state.length > MAX_PARAM_LENGTH || !sessionKey) {
      throw new OAuthStateError('the OAuth callback has no valid state');
    }
    const at = this.now();
    // Comparing hashes in SQL: the secret values never meet a data-dependent comparison of ours.
    const [row] = await withTenant(this.db, [userId], (tx) =>
      tx
        .update(oauthStates)
        .set({ usedAt: at })
        .where(
          and(
            eq(oauthStates.stateHash, sha256Hex(state)),
            eq(oauthStates.userId, userId),
            eq(oauthStates.sessionHash, sha256Hex(sessionKey)),
            isNull(oauthStates.usedAt),
            gt(oauthStates.expiresAt, at),
          ),
        )
        .returning({ codeVerifier: oauthStates.codeVerifier, redirectUri: oauthStates.redirectUri, scope: oauthStates.scope }),
    );
    if (!row) throw new OAuthStateError('the OAuth state is unknown, used, expired or belongs to another session');
    if (query.error !== undefined) {
      throw new OAuthExchangeError('the authorization server did not grant access', { asError: query.error });
    }
    const code = query.code;
    if (!code || code.length > MAX_PARAM_LENGTH) {
      throw new OAuthExchangeError('the OAuth callback has no usable code', { asError: 'invalid_request' });
    }
    const form: Record<string, string> = {
      grant_type: 'authorization_code',
      code,
      client_id: this.o.clientId,
      client_secret: this.o.clientSecret(),
      redirect_uri: row.redirectUri,
    };
    if (row.codeVerifier) form.code_verifier = row.codeVerifier;
    return this.tokenRequest(form, row.scope, 'the token endpoint refused the authorization code', false);
  }

  /** Exchanges a refresh token (rotated by the AS: the caller must persist the new one before using the new access token). */
  async refresh(refreshToken: string): Promise<TokenSet> {
    if (!refreshToken) throw new OAuthExchangeError('no refresh token to use', { asError: 'invalid_grant', needsReauth: true });
    const form = {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: this.o.clientId,
      client_secret: this.o.clientSecret(),
    };
    return this.tokenRequest(form, this.o.scopes, 'the token endpoint refused the refresh token', true);
  }

  private async tokenRequest(form: Record<string, string>, requestedScope: string, refusal: string, isRefresh: boolean): Promise<TokenSet> {
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(this.o.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(form).toString(),
        // A redirect would re-send the client secret and the code elsewhere: treat it as a failure.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      // No `cause`: loggers serialise it, and nothing in it helps beyond its name.
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new OAuthExchangeError('the token endpoint could not be reached', { asError: timedOut ? 'timeout' : 'network_error', retryable: true });
    }
    const body = text.length <= MAX_TOKEN_BODY ? parseJson(text) : undefined;
    if (!res.ok) {
      const parsed = tokenErrorSchema.safeParse(body);
      const asError = parsed.success ? safeErrorName(parsed.data.error) : `http_${res.status}`;
      const retryable = res.status >= 500 || res.status === 429;
      throw new OAuthExchangeError(refusal, { asError, status: res.status, retryable, needsReauth: isRefresh && asError === 'invalid_grant' });
    }
    const parsed = tokenResponseSchema.safeParse(body);
    if (!parsed.success) throw new OAuthExchangeError('the token endpoint answered an unexpected shape', { asError: 'invalid_token_response', status: res.status });
    const t = parsed.data;
    const tokens: TokenSet = { accessToken: t.access_token, scope: t.scope?.trim() || requestedScope };
    if (t.refresh_token !== undefined) tokens.refreshToken = t.refresh_token;
    if (t.expires_in !== undefined) tokens.expiresAt = new Date(this.now().getTime() + t.expires_in * 1000);
    return tokens;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
