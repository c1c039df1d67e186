// Live-handoff state besides the sealed connection (live.ts): OAuth states, WebAuthn challenges, live orders, switches.
import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, numeric, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, oneOf, tstz, updatedAt } from './columns.js';
import { tenantPolicies } from './roles.js';
import { userIdRef, users } from './users.js';

/**
 * One pending OAuth authorization: the state is single-use and bound to the browser session that started it.
 * Only hashes are stored, so a database reader cannot complete someone else's flow.
 */
export const oauthStates = pgTable(
  'oauth_states',
  {
    /** SHA-256 (hex) of the `state` parameter. */
    stateHash: text('state_hash').primaryKey(),
    userId: userIdRef(),
    /** SHA-256 (hex) of the session (JWT `jti`, else the token) that began the flow. */
    sessionHash: text('session_hash').notNull(),
    /** PKCE code verifier (RFC 7636), sent once at the token request; useless without the code. */
    codeVerifier: text('code_verifier'),
    redirectUri: text('redirect_uri').notNull(),
    scope: text('scope').notNull(),
    expiresAt: tstz('expires_at').notNull(),
    usedAt: tstz('used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('oauth_states_user_idx').on(t.userId), ...tenantPolicies('oauth_states', t.userId)],
);

export const WEBAUTHN_CHALLENGE_PURPOSES = ['register', 'step_up', 'live_submit'] as const;
export type WebauthnChallengePurpose = (typeof WEBAUTHN_CHALLENGE_PURPOSES)[number];

/**
 * WebAuthn challenges, consumed exactly once by an atomic `UPDATE … WHERE used_at IS NULL RETURNING`.
 * A `live_submit` challenge is bound to one stored order draft by its hash.
 */
export const webauthnChallenges = pgTable(
  'webauthn_challenges',
  {
    id: text('id')
      .primaryKey()
      .default(sql`gen_random_uuid()::text`),
    userId: userIdRef(),
    purpose: text('purpose').$type<WebauthnChallengePurpose>().notNull(),
    /** base64url, as the browser echoes it in clientDataJSON. */
    challenge: text('challenge').notNull(),
    liveOrderId: text('live_order_id'),
    draftHash: text('draft_hash'),
    expiresAt: tstz('expires_at').notNull(),
    usedAt: tstz('used_at'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('webauthn_challenges_challenge_uq').on(t.challenge),
    index('webauthn_challenges_user_idx').on(t.userId, t.purpose),
    check('webauthn_challenges_purpose_check', oneOf(t.purpose, WEBAUTHN_CHALLENGE_PURPOSES)),
    ...tenantPolicies('webauthn_challenges', t.userId),
  ],
);

export const LIVE_ORDER_STATUSES = ['draft', 'submitting', 'submitted', 'in_doubt', 'rejected', 'failed', 'filled', 'partially_filled', 'canceled', 'expired'] as const;
export type LiveOrderStatus = (typeof LIVE_ORDER_STATUSES)[number];

/**
 * A live order from draft to broker outcome. The server submits the stored draft (never what the browser resends);
 * `client_order_id` is the idempotency key at the broker, so an in-doubt submit is reconciled, never resent blindly.
 */
export const liveOrders = pgTable(
  'live_orders',
  {
    id: text('id')
      .primaryKey()
      .default(sql`gen_random_uuid()::text`),
    userId: userIdRef(),
    clientOrderId: text('client_order_id').notNull(),
    /** The canonical draft {symbol, side, qty, type, time_in_force, limit_price?, stop_price?}. */
    draft: jsonb('draft').$type<Record<string, unknown>>().notNull(),
    /** SHA-256 (hex) of the canonical draft JSON bound to the user: what the step-up challenge commits to. */
    draftHash: text('draft_hash').notNull(),
    status: text('status').$type<LiveOrderStatus>().notNull().default('draft'),
    connectionId: text('connection_id'),
    brokerOrderId: text('broker_order_id'),
    brokerStatus: text('broker_status'),
    /** The broker's own words when it refused the order. */
    rejectReason: text('reject_reason'),
    submitAttempts: integer('submit_attempts').notNull().default(0),
    filledQty: numeric('filled_qty', { precision: 20, scale: 8 }).notNull().default('0'),
    filledAvgPrice: numeric('filled_avg_price', { precision: 20, scale: 8 }),
    submittedAt: tstz('submitted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('live_orders_client_order_id_uq').on(t.userId, t.clientOrderId),
    uniqueIndex('live_orders_broker_order_id_uq').on(t.brokerOrderId),
    check('live_orders_status_check', oneOf(t.status, LIVE_ORDER_STATUSES)),
    ...tenantPolicies('live_orders', t.userId),
  ],
);

/** Operator switches read per command (never cached at boot), e.g. `live_handoff_disabled`. Not a tenant table. */
export const runtimeSwitches = pgTable('runtime_switches', {
  name: text('name').primaryKey(),
  enabled: boolean('enabled').notNull().default(false),
  setBy: text('set_by').notNull(),
  reason: text('reason'),
  updatedAt: updatedAt(),
});

/**
 * An operator's audited override of the paper-profitable gate for one user (it needs the operator's fresh step-up).
 * Revoking it sets `revoked_at`; the row stays for the record.
 */
export const liveGateOverrides = pgTable(
  'live_gate_overrides',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    grantedBy: text('granted_by').notNull(),
    reason: text('reason').notNull(),
    createdAt: createdAt(),
    revokedAt: tstz('revoked_at'),
  },
  (t) => [...tenantPolicies('live_gate_overrides', t.userId)],
);
