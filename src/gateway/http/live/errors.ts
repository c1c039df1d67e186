// HTTP statuses of the live handoff's error codes (docs/live-handoff.md lists them with their meaning).
import type { LiveErrorCode } from '../../../contracts/index.js';

const STATUS: Record<LiveErrorCode | 'invalid_request' | 'internal' | 'rate_limited' | 'decision_pending', number> = {
  invalid_request: 400,
  draft_invalid: 422,
  step_up_failed: 400,
  oauth_state_invalid: 400,
  step_up_required: 403,
  passkey_required: 403,
  tier_not_eligible: 403,
  gate_not_passed: 403,
  draft_not_found: 404,
  draft_already_submitted: 409,
  not_connected: 409,
  needs_reauth: 409,
  sealed_token_invalid: 409,
  broker_rejected: 422,
  rate_limited: 429,
  internal: 500,
  oauth_exchange_failed: 502,
  live_disabled: 503,
  kms_unavailable: 503,
  broker_unavailable: 503,
  // Sent, not confirmed: accepted for reconciliation by client_order_id, never to be resubmitted by the client.
  broker_in_doubt: 202,
  decision_pending: 504,
};

export function liveErrorStatus(code: string): number {
  return STATUS[code as keyof typeof STATUS] ?? 500;
}
