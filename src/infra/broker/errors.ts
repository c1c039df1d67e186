// The broker adapter's one error type: a stable `code` that tells the account actor what to do next.
import type { LiveErrorCode } from '../../contracts/live.js';

/**
 * - `broker_rejected`: the broker answered and refused (403/422/400/404…); nothing was placed; `reason` is its words.
 * - `needs_reauth`: 401, the OAuth grant is gone (Alpaca tokens never expire, so 401 means revoked).
 * - `broker_unavailable`: nothing reached the broker (connect error), or a read/cancel failed; safe to try again later.
 * - `broker_in_doubt`: a submit was sent and no usable answer came back; the order may exist. Reconcile by
 *   client_order_id, never resend blindly.
 * - `broker_rate_limited`: 429; wait `retryAfterMs` (nothing was placed).
 */
export type BrokerErrorCode =
  | Extract<LiveErrorCode, 'broker_rejected' | 'needs_reauth' | 'broker_unavailable' | 'broker_in_doubt'>
  | 'broker_rate_limited';

export interface BrokerErrorDetails {
  /** HTTP status the broker answered with (absent when no answer came). */
  status?: number;
  /** The broker's own 8-digit error code (Alpaca's `code`). */
  brokerCode?: number;
  /** The broker's own words, safe to show the user (e.g. "insufficient buying power"). */
  reason?: string;
  retryAfterMs?: number;
}

/** Messages are built from fixed text, status and the broker's words only: never a token, header or URL query. */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  readonly status?: number;
  readonly brokerCode?: number;
  readonly reason?: string;
  readonly retryAfterMs?: number;

  constructor(
    readonly code: BrokerErrorCode,
    message: string,
    details: BrokerErrorDetails = {},
  ) {
    super(message);
    if (details.status !== undefined) this.status = details.status;
    if (details.brokerCode !== undefined) this.brokerCode = details.brokerCode;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }
}

export function isBrokerError(err: unknown, code?: BrokerErrorCode): err is BrokerError {
  return err instanceof BrokerError && (code === undefined || err.code === code);
}
