// Live-broker handoff: the order draft a step-up assertion is bound to, the live commands a user's partition carries,
// and the stable error codes every layer (gateway, actor, browser page) speaks.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Envelope `type`s of the live commands (all in the user's own partition, so they serialise with everything else). */
export const LIVE_COMMAND_TYPES = {
  /** Submit one stored draft whose step-up challenge the gateway has just consumed. */
  submit: 'live.submit',
  cancel: 'live.cancel',
  /** Refresh the access token before it expires (brokers that issue refresh tokens). */
  refresh: 'live.refresh',
  /** Disconnect: crypto-shred the sealed token, drop the cached one. */
  revoke: 'live.revoke',
} as const;
export type LiveCommandType = (typeof LIVE_COMMAND_TYPES)[keyof typeof LIVE_COMMAND_TYPES];

const DECIMAL = /^(0|[1-9]\d{0,11})(\.\d{1,9})?$/;
const PRICE = /^(0|[1-9]\d{0,9})(\.\d{1,4})?$/;
const positive = (s: string) => !/^0(\.0+)?$/.test(s);

/** One live order as the user drafted it. Stored server-side; the browser only ever names it by id. */
export const liveOrderDraftSchema = z
  .strictObject({
    symbol: z
      .string()
      .regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'must be an upper-case ticker such as AAPL'),
    side: z.enum(['buy', 'sell']),
    qty: z.string().regex(DECIMAL, 'must be a decimal string such as "10" or "0.5"').refine(positive, 'must be greater than zero'),
    type: z.enum(['market', 'limit', 'stop', 'stop_limit']),
    time_in_force: z.enum(['day', 'gtc', 'ioc', 'fok']),
    limit_price: z.string().regex(PRICE, 'must be a price such as "187.25"').refine(positive, 'must be greater than zero').optional(),
    stop_price: z.string().regex(PRICE, 'must be a price such as "187.25"').refine(positive, 'must be greater than zero').optional(),
  })
  .superRefine((d, ctx) => {
    const needsLimit = d.type === 'limit' || d.type === 'stop_limit';
    const needsStop = d.type === 'stop' || d.type === 'stop_limit';
    if (needsLimit !== (d.limit_price !== undefined)) ctx.addIssue({ code: 'custom', path: ['limit_price'], message: needsLimit ? `required for ${d.type} orders` : `not allowed for ${d.type} orders` });
    if (needsStop !== (d.stop_price !== undefined)) ctx.addIssue({ code: 'custom', path: ['stop_price'], message: needsStop ? `required for ${d.type} orders` : `not allowed for ${d.type} orders` });
  });
export type LiveOrderDraft = z.infer<typeof liveOrderDraftSchema>;

const DRAFT_KEYS = ['symbol', 'side', 'qty', 'type', 'time_in_force', 'limit_price', 'stop_price'] as const;

/** The draft's canonical JSON: fixed key order, absent keys left out. */
export function canonicalDraftJson(draft: LiveOrderDraft): string {
  const out: Record<string, string> = {};
  for (const k of DRAFT_KEYS) if (draft[k] !== undefined) out[k] = draft[k]!;
  return JSON.stringify(out);
}

/**
 * SHA-256 (hex) binding a draft to its user, its live order id and its client_order_id: what a `live_submit` step-up
 * challenge commits to. Any change to any of them gives another hash.
 */
export function liveDraftHash(b: { userId: string; liveOrderId: string; clientOrderId: string; draft: LiveOrderDraft }): string {
  return createHash('sha256')
    .update(JSON.stringify(['raxx-live-draft-v1', b.userId, b.liveOrderId, b.clientOrderId, canonicalDraftJson(b.draft)]))
    .digest('hex');
}

/** The client_order_id sent to the broker: a function of the live order id, so a retry reuses it (≤ 48 chars). */
export const liveClientOrderId = (liveOrderId: string): string => `raxx-${liveOrderId}`;

export const liveSubmitPayloadSchema = z.strictObject({ liveOrderId: z.uuid() });
export const liveCancelPayloadSchema = z.strictObject({ liveOrderId: z.uuid() });
export const liveRefreshPayloadSchema = z.strictObject({ connectionId: z.uuid() });
export const liveRevokePayloadSchema = z.strictObject({
  /** Absent: whatever connection is active. */
  connectionId: z.uuid().optional(),
  /** Who asked: the user, or an operator's id for a mass revoke. */
  requestedBy: z.string().min(1).max(200),
  reason: z.string().trim().min(1).max(200),
});
export type LiveSubmitPayload = z.infer<typeof liveSubmitPayloadSchema>;
export type LiveRevokePayload = z.infer<typeof liveRevokePayloadSchema>;

/** Stable error codes of the live handoff (HTTP bodies `{code, message}`, actor rejections, audit details). */
export const LIVE_ERROR_CODES = [
  'live_disabled', // kill switch (env or runtime toggle)
  'tier_not_eligible', // Free tier
  'gate_not_passed', // paper-profitable gate not met and no override
  'step_up_required', // no fresh step-up (enrollment, override)
  'step_up_failed', // assertion did not verify, or challenge unknown/used/expired/other user/other draft
  'passkey_required', // no registered passkey
  'not_connected', // no active connection
  'needs_reauth', // broker said 401, or the 90-day re-consent cap passed
  'oauth_state_invalid', // missing, unknown, used, expired or other-session state
  'oauth_exchange_failed', // the token endpoint refused the code
  'kms_unavailable', // KMS error or timeout: fail closed
  'sealed_token_invalid', // the sealed token did not open (tampered, swapped, wrong key)
  'broker_rejected', // the broker refused the order (its reason in the message)
  'broker_unavailable', // broker unreachable before sending: nothing was sent
  'broker_in_doubt', // sent but no answer: reconciled by client_order_id, never resent blindly
  'draft_invalid',
  'draft_not_found',
  'draft_already_submitted',
] as const;
export type LiveErrorCode = (typeof LIVE_ERROR_CODES)[number];

/** The encryption context every sealed live token carries (AWS KMS checks it on Decrypt, exact match). */
export function liveTokenEncryptionContext(userId: string, connectionId: string): Record<string, string> {
  return { app: 'raxx-stream', purpose: 'alpaca-live-token', user_id: userId, connection_id: connectionId };
}

/** A refreshable access token is refreshed once it expires within this window (workers schedule, actor check). */
export const LIVE_REFRESH_WINDOW_MS = 10 * 60_000;

/** Name of the runtime kill-switch row in `runtime_switches`. */
export const LIVE_HANDOFF_SWITCH = 'live_handoff_disabled';
