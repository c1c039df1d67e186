// Typed errors of the Alpaca OAuth connect flow. Messages name what failed, never a state, code, verifier, token or
// client secret; the authorization server's `error` is kept only as its short RFC 6749 name.
import type { LiveErrorCode } from '../../contracts/live.js';

/** The callback's `state` was missing, unknown, used, expired, or began by another user or browser session. */
export class OAuthStateError extends Error {
  override readonly name = 'OAuthStateError';
  readonly code = 'oauth_state_invalid' satisfies LiveErrorCode;
}

export interface OAuthExchangeErrorOptions {
  /** The AS's `error` name (e.g. `access_denied`, `invalid_grant`), or our own name for a transport failure. */
  asError: string;
  /** HTTP status of the token endpoint, when it answered. */
  status?: number;
  /** The grant is gone (refresh token rejected): the user must connect again. */
  needsReauth?: boolean;
  /** A later attempt may succeed (5xx, 429, timeout, network): keep the old token and back off. */
  retryable?: boolean;
}

/** The authorization server refused (or could not be asked) to issue a token. */
export class OAuthExchangeError extends Error {
  override readonly name = 'OAuthExchangeError';
  readonly code: Extract<LiveErrorCode, 'oauth_exchange_failed' | 'needs_reauth'>;
  readonly asError: string;
  readonly status: number | undefined;
  readonly needsReauth: boolean;
  readonly retryable: boolean;

  constructor(what: string, o: OAuthExchangeErrorOptions) {
    const asError = safeErrorName(o.asError);
    super(`${what}: ${asError}${o.status !== undefined ? ` (HTTP ${o.status})` : ''}`);
    this.asError = asError;
    this.status = o.status;
    this.needsReauth = o.needsReauth ?? false;
    this.retryable = o.retryable ?? false;
    this.code = this.needsReauth ? 'needs_reauth' : 'oauth_exchange_failed';
  }
}

/** Raised at construction for options that would weaken the flow (plain-HTTP token URL, state TTL over 10 min, …). */
export class OAuthConfigError extends Error {
  override readonly name = 'OAuthConfigError';
  readonly code = 'OAUTH_CONFIG_INVALID' as const;
}

// RFC 6749 §5.2: error names are %x20-21 / %x23-5B / %x5D-7E; we accept only the short snake_case ones every AS
// uses, so a hostile or buggy AS cannot smuggle a code or token into our messages through this field.
const ERROR_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export function safeErrorName(value: unknown): string {
  return typeof value === 'string' && ERROR_NAME.test(value) ? value : 'unrecognized_error';
}
