// Live-broker commands inside the account actor: submit, cancel, token refresh and revoke, each in the user's own
// partition (so one user's live actions are serialised with everything else they do, and a refresh is single-flight
// by construction). The decrypted token lives only in this replica's memory (TokenVault); trade updates from the
// broker arrive as signals and update the live order in a turn of its own.
import {
  LIVE_COMMAND_TYPES,
  LIVE_REFRESH_WINDOW_MS,
  liveCancelPayloadSchema,
  liveRefreshPayloadSchema,
  liveRevokePayloadSchema,
  liveSubmitPayloadSchema,
  type LiveErrorCode,
  type LiveOrderDraft,
} from '../../../contracts/live.js';
import { live } from '../../../domain/index.js';
import { appendAudit } from '../../../infra/audit/index.js';
import { BrokerError, type BrokerAdapter, type BrokerOrder, type TradeUpdate } from '../../../infra/broker/index.js';
import type { Db, Tx } from '../../../infra/db/index.js';
import { KmsUnavailableError, SealedTokenInvalidError } from '../../../infra/kms/index.js';
import {
  activeConnection,
  consentExpired,
  markNeedsReauth,
  replaceTokens,
  revokeConnection,
  sealTokens,
  touchLastUsed,
  type LiveConnection,
  type TokenSet,
} from '../../../infra/live/connections.js';
import { findByClientOrderId, getLiveOrder, liveOrderJson, markSubmitAttempt, recordOutcome, type BrokerOutcome, type LiveOrderRow } from '../../../infra/live/live-orders.js';
import { readStanding, setTradingMode, type StandingOptions } from '../../../infra/live/standing.js';
import { withTenant } from '../../../infra/db/tenant.js';
import type { Envelope as KmsEnvelope } from '../../../infra/kms/index.js';
import type { CommandDecision, Envelope, Signal } from '../../../runtime/index.js';
import { TokenVault } from './token-vault.js';

export interface LiveHostOptions {
  /** raxx_app handle for the writes that must commit on their own (submit-attempt marker, rotated tokens). */
  db: Db;
  envelope: KmsEnvelope;
  broker: BrokerAdapter;
  /** The OAuth client's refresh (brokers that issue refresh tokens). */
  refresh: (refreshToken: string) => Promise<TokenSet>;
  standing: StandingOptions;
  reconsentDays: number;
  now?: () => Date;
  /** Called after a turn that submitted or reconciled an order: follow this user's trade updates. */
  onLiveOrders?: (userId: string, token: () => string | undefined) => void;
  /** Called when a user's connection is gone (revoked, needs re-auth): stop following them. */
  onDisconnected?: (userId: string) => void;
}

const TYPES: ReadonlySet<string> = new Set(Object.values(LIVE_COMMAND_TYPES));
export const isLiveCommandType = (type: string) => TYPES.has(type);

/** The signal kind the trade-updates followers deliver. */
export const LIVE_TRADE_UPDATE_SIGNAL = 'live_trade_update';
/** A user with open live orders whose partition this replica just took over: open the token and follow them. */
export const LIVE_FOLLOW_SIGNAL = 'live_follow';

/** Private-log events of live trade updates, appended after the signal turn commits. */
export interface LiveSignalEffect {
  userId: string;
  events: Array<{ kind: string; data: unknown; at: string }>;
  key: string;
}

type Send = (write: PromiseLike<unknown>) => void;

/**
 * A fill the broker reported in its answer to the submit itself (a marketable order fills at once): the trade-updates
 * stream of a user who was not followed yet never shows it, so the decision carries it as the same event. Pure.
 */
export function liveFillEvents(result: Record<string, unknown> | undefined, commandId: string, at: string): Array<{ kind: string; commandId: string; data: unknown; at: string }> {
  const order = result?.order as { status?: string; filled_qty?: string; filled_avg_price?: string | null } | undefined;
  if (!order || (order.status !== 'filled' && order.status !== 'partially_filled')) return [];
  const event = order.status === 'filled' ? 'fill' : 'partial_fill';
  return [{ kind: 'live.trade_update', commandId, data: { event, order, price: order.filled_avg_price ?? null, qty: order.filled_qty ?? null }, at }];
}

class LiveRejection extends Error {
  constructor(
    readonly code: LiveErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const BROKER_FINAL: Record<string, LiveOrderRow['status']> = {
  filled: 'filled',
  partially_filled: 'partially_filled',
  canceled: 'canceled',
  expired: 'expired',
  rejected: 'rejected',
  done_for_day: 'submitted',
};

/** The live order status a broker order status maps to. */
function statusOf(o: Pick<BrokerOrder, 'status'>): LiveOrderRow['status'] {
  return BROKER_FINAL[o.status] ?? 'submitted';
}

function outcomeOf(o: BrokerOrder): BrokerOutcome {
  return {
    status: statusOf(o),
    brokerOrderId: o.id,
    brokerStatus: o.status,
    filledQty: o.filled_qty,
    filledAvgPrice: o.filled_avg_price,
    submittedAt: o.submitted_at ? new Date(o.submitted_at) : new Date(),
  };
}

export class LiveHost {
  readonly vault: TokenVault;
  private readonly now: () => Date;

  constructor(private readonly o: LiveHostOptions) {
    this.vault = new TokenVault(o.envelope);
    this.now = o.now ?? (() => new Date());
  }

  passivate(userId: string): void {
    this.vault.drop(userId);
  }

  async decide(tx: Tx, env: Envelope, send: Send, onRollback: (fn: () => void) => void): Promise<CommandDecision> {
    // A turn that does not commit must not leave a token the database does not know about.
    onRollback(() => this.vault.drop(env.userId));
    try {
      switch (env.type) {
        case LIVE_COMMAND_TYPES.submit:
          return await this.submit(tx, env, send);
        case LIVE_COMMAND_TYPES.cancel:
          return await this.cancel(tx, env, send);
        case LIVE_COMMAND_TYPES.refresh:
          return await this.refreshTokens(tx, env, send);
        case LIVE_COMMAND_TYPES.revoke:
          return await this.revoke(tx, env, send);
        default:
          return { id: env.id, outcome: 'rejected', code: 'unknown_command', result: { message: `unknown command type "${env.type}"` } };
      }
    } catch (err) {
      if (err instanceof LiveRejection) return { id: env.id, outcome: 'rejected', code: err.code, result: { code: err.code, message: err.message, ...err.extra } };
      throw err;
    }
  }

  /**
   * last_used_at, on its own connection and not awaited: the turn must hold no lock on the connection row, or a
   * token refresh later in the same batch (which saves on its own connection, before the turn commits) would wait forever.
   */
  private touch(userId: string, connectionId: string): void {
    void withTenant(this.o.db, [userId], (own) => touchLastUsed(own, connectionId, this.now())).catch(() => undefined);
  }

  private audit(tx: Tx, send: Send, env: Envelope, action: string, outcome: 'success' | 'failure' | 'denied', details: Record<string, unknown>): void {
    send(appendAudit(tx, { actor: env.userId, subject: env.userId, action, outcome, correlationId: env.id, details }));
  }

  /** The user's active, usable connection and its access token (opened once per replica, then from memory). */
  private async connectionAndToken(tx: Tx, userId: string): Promise<{ connection: LiveConnection; token: string }> {
    const connection = await activeConnection(tx, userId);
    if (!connection) throw new LiveRejection('not_connected', 'connect your Alpaca account first');
    if (connection.needsReauth) throw new LiveRejection('needs_reauth', 'Alpaca no longer accepts this connection: connect again');
    if (consentExpired(connection, this.now(), this.o.reconsentDays)) {
      await markNeedsReauth(tx, connection.id);
      throw new LiveRejection('needs_reauth', `the ${this.o.reconsentDays}-day consent has run out: connect Alpaca again`);
    }
    try {
      return { connection, token: await this.vault.accessToken(tx, connection) };
    } catch (err) {
      // Fail closed: no token, no order.
      if (err instanceof KmsUnavailableError) throw new LiveRejection('kms_unavailable', 'the key service is unavailable: nothing was sent; try again shortly');
      if (err instanceof SealedTokenInvalidError) throw new LiveRejection('sealed_token_invalid', 'the stored connection could not be opened: connect Alpaca again');
      throw err;
    }
  }

  private async submit(tx: Tx, env: Envelope, send: Send): Promise<CommandDecision> {
    const p = liveSubmitPayloadSchema.safeParse(env.payload);
    if (!p.success) throw new LiveRejection('draft_invalid', 'payload must be {liveOrderId}');
    // No row lock: the partition already serialises this user, and the attempt marker updates the row on its own connection.
    const order = await getLiveOrder(tx, env.userId, p.data.liveOrderId);
    if (!order) throw new LiveRejection('draft_not_found', 'live order not found');
    const draft = order.draft as LiveOrderDraft;
    const base = { liveOrderId: order.id, clientOrderId: order.clientOrderId, symbol: draft.symbol, side: draft.side, qty: draft.qty, type: draft.type };
    if (order.status !== 'draft' && order.status !== 'in_doubt') {
      throw new LiveRejection('draft_already_submitted', `this order was already submitted (${order.status})`, { order: liveOrderJson(order) });
    }
    try {
      // Read per command, never cached: the kill switch, the tier, the gate, the user's own mode.
      const standing = await readStanding(tx, env.userId, this.o.standing);
      if (!standing) throw new LiveRejection('not_connected', 'unknown user');
      const eligible = live.liveEligibility(standing);
      if (!eligible.eligible) throw new LiveRejection(eligible.code, eligible.message);
      if (standing.mode !== 'live') throw new LiveRejection('not_connected', 'live trading is not switched on for this account: connect Alpaca first');
      const { connection, token } = await this.connectionAndToken(tx, env.userId);

      let placed: BrokerOrder | undefined;
      // A previous attempt may have reached the broker (crash or no answer): ask by client_order_id before sending.
      if (order.submitAttempts > 0 || order.status === 'in_doubt') placed = await this.broker(() => this.o.broker.getOrderByClientOrderId(token, order.clientOrderId), tx, connection);
      const reconciled = placed !== undefined;
      if (!placed) {
        if ((await markSubmitAttempt(this.o.db, env.userId, order.id)) === 0) {
          throw new LiveRejection('broker_unavailable', 'another action on this order is in progress: nothing was sent; try again');
        }
        try {
          placed = await this.broker(
            () => this.o.broker.submitOrder(token, { ...draft, client_order_id: order.clientOrderId }),
            tx,
            connection,
          );
        } catch (err) {
          if (!(err instanceof LiveRejection) || err.code !== 'broker_in_doubt') throw err;
          // No answer after sending: look once; if the broker does not know it yet, leave it in doubt (never resend blindly).
          placed = await this.o.broker.getOrderByClientOrderId(token, order.clientOrderId).catch(() => undefined);
          if (!placed) {
            const row = await recordOutcome(tx, env.userId, order.id, { status: 'in_doubt' });
            this.audit(tx, send, env, 'live.submit', 'failure', { ...base, code: 'broker_in_doubt' });
            throw new LiveRejection('broker_in_doubt', 'the broker did not answer; the order is reconciled by its client_order_id — do not submit it again', { order: liveOrderJson(row) });
          }
        }
      }
      const row = await recordOutcome(tx, env.userId, order.id, outcomeOf(placed));
      this.touch(env.userId, connection.id);
      this.audit(tx, send, env, 'live.submit', 'success', { ...base, brokerOrderId: placed.id, brokerStatus: placed.status, reconciled });
      this.o.onLiveOrders?.(env.userId, () => this.vault.cached(env.userId));
      return { id: env.id, outcome: 'accepted', result: { order: liveOrderJson(row), reconciled } };
    } catch (err) {
      if (err instanceof LiveRejection && err.code !== 'broker_in_doubt') {
        // Refused by the broker: the order is over. Anything else: nothing was sent, the draft stays submittable.
        if (err.code === 'broker_rejected') await recordOutcome(tx, env.userId, order.id, { status: 'rejected', rejectReason: err.message });
        this.audit(tx, send, env, 'live.submit', err.code === 'broker_rejected' ? 'failure' : 'denied', { ...base, code: err.code });
      }
      throw err;
    }
  }

  /** Runs one broker call, mapping its typed errors to rejections (a 401 also marks the connection). */
  private async broker<T>(call: () => Promise<T>, tx: Tx, connection: LiveConnection): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof BrokerError)) throw err;
      switch (err.code) {
        case 'needs_reauth':
          await markNeedsReauth(tx, connection.id);
          this.vault.drop(connection.userId);
          this.o.onDisconnected?.(connection.userId);
          throw new LiveRejection('needs_reauth', 'Alpaca refused the connection (401): connect again; nothing was sent');
        case 'broker_rejected':
          throw new LiveRejection('broker_rejected', err.reason ?? 'the broker refused the order', { brokerStatus: err.status, brokerCode: err.brokerCode });
        case 'broker_in_doubt':
          throw new LiveRejection('broker_in_doubt', 'the broker did not answer');
        case 'broker_rate_limited':
          throw new LiveRejection('broker_unavailable', 'the broker is rate-limiting this account: nothing was sent; try again shortly', { retryAfterMs: err.retryAfterMs });
        default:
          throw new LiveRejection('broker_unavailable', 'the broker is unreachable: nothing was sent; try again shortly');
      }
    }
  }

  private async cancel(tx: Tx, env: Envelope, send: Send): Promise<CommandDecision> {
    const p = liveCancelPayloadSchema.safeParse(env.payload);
    if (!p.success) throw new LiveRejection('draft_invalid', 'payload must be {liveOrderId}');
    const order = await getLiveOrder(tx, env.userId, p.data.liveOrderId);
    if (!order) throw new LiveRejection('draft_not_found', 'live order not found');
    if (order.status === 'draft') {
      const row = await recordOutcome(tx, env.userId, order.id, { status: 'canceled' });
      this.audit(tx, send, env, 'live.cancel', 'success', { liveOrderId: order.id, sent: false });
      return { id: env.id, outcome: 'accepted', result: { order: liveOrderJson(row) } };
    }
    if (!order.brokerOrderId) throw new LiveRejection('broker_in_doubt', 'the broker has not confirmed this order yet; cancel once it has');
    const { connection, token } = await this.connectionAndToken(tx, env.userId);
    await this.broker(() => this.o.broker.cancelOrder(token, order.brokerOrderId!), tx, connection);
    // Alpaca cancels asynchronously: the `canceled` trade update settles the status.
    const row = await recordOutcome(tx, env.userId, order.id, { status: order.status, brokerStatus: 'pending_cancel' });
    this.touch(env.userId, connection.id);
    this.audit(tx, send, env, 'live.cancel', 'success', { liveOrderId: order.id, brokerOrderId: order.brokerOrderId });
    return { id: env.id, outcome: 'accepted', result: { order: liveOrderJson(row) } };
  }

  private async refreshTokens(tx: Tx, env: Envelope, send: Send): Promise<CommandDecision> {
    const p = liveRefreshPayloadSchema.safeParse(env.payload);
    if (!p.success) throw new LiveRejection('not_connected', 'payload must be {connectionId}');
    const connection = await activeConnection(tx, env.userId);
    // Revoked or replaced since the refresh was scheduled: nothing to do.
    if (!connection || connection.id !== p.data.connectionId) return { id: env.id, outcome: 'accepted', result: { refreshed: false, reason: 'connection_replaced' } };
    if (!connection.hasRefreshToken) return { id: env.id, outcome: 'accepted', result: { refreshed: false, reason: 'no_refresh_token' } };
    if (connection.needsReauth) return { id: env.id, outcome: 'accepted', result: { refreshed: false, reason: 'needs_reauth' } };
    // The schedule appends one refresh per tick until the token is replaced: a later one finds nothing due.
    if (connection.expiresAt.getTime() - this.now().getTime() > LIVE_REFRESH_WINDOW_MS) {
      return { id: env.id, outcome: 'accepted', result: { refreshed: false, reason: 'not_due', expiresAt: connection.expiresAt.toISOString() } };
    }
    let tokens: TokenSet;
    try {
      const current = await this.vault.tokens(tx, connection);
      const fresh = await this.o.refresh(current.refreshToken!);
      // A broker that does not rotate refresh tokens keeps the old one valid: it is sealed again with the new access token.
      tokens = { ...fresh, refreshToken: fresh.refreshToken ?? current.refreshToken };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'needs_reauth') {
        await markNeedsReauth(tx, connection.id);
        this.vault.drop(env.userId);
        this.o.onDisconnected?.(env.userId);
        this.audit(tx, send, env, 'live.refresh', 'failure', { connectionId: connection.id, code: 'needs_reauth' });
        throw new LiveRejection('needs_reauth', 'the broker refused the refresh token: connect Alpaca again');
      }
      if (err instanceof KmsUnavailableError) throw new LiveRejection('kms_unavailable', 'the key service is unavailable; the refresh is retried');
      throw new LiveRejection('oauth_exchange_failed', 'the token endpoint did not answer; the old token stays in use until it expires');
    }
    // The new refresh token is committed on its own, before anything uses the new access token: the broker has
    // already invalidated the old one, so losing this write would strand the connection.
    const sealed = await sealTokens(this.o.envelope, env.userId, connection.id, tokens);
    const saved = await withTenant(this.o.db, [env.userId], (own) => replaceTokens(own, { connection, sealed, expiresAt: tokens.expiresAt ?? connection.expiresAt }));
    if (!saved) throw new LiveRejection('oauth_exchange_failed', 'the connection changed while refreshing; nothing was replaced');
    this.vault.put(env.userId, { ...connection, version: connection.version + 1 }, tokens);
    this.audit(tx, send, env, 'live.refresh', 'success', { connectionId: connection.id, version: connection.version + 1, expiresAt: tokens.expiresAt?.toISOString() ?? null });
    return { id: env.id, outcome: 'accepted', result: { refreshed: true, connectionId: connection.id, expiresAt: tokens.expiresAt?.toISOString() ?? null } };
  }

  private async revoke(tx: Tx, env: Envelope, send: Send): Promise<CommandDecision> {
    const p = liveRevokePayloadSchema.safeParse(env.payload);
    if (!p.success) throw new LiveRejection('not_connected', 'payload must be {requestedBy, reason, connectionId?}');
    this.vault.drop(env.userId);
    this.o.onDisconnected?.(env.userId);
    const revoked = await revokeConnection(tx, { userId: env.userId, ...(p.data.connectionId ? { connectionId: p.data.connectionId } : {}) });
    if (!revoked) return { id: env.id, outcome: 'accepted', result: { revoked: false } };
    await setTradingMode(tx, env.userId, 'paper', p.data.requestedBy, `disconnected: ${p.data.reason}`);
    this.audit(tx, send, env, 'live.revoke', 'success', { connectionId: revoked.id, requestedBy: p.data.requestedBy, reason: p.data.reason });
    this.audit(tx, send, env, 'live.mode_change', 'success', { mode: 'paper', requestedBy: p.data.requestedBy });
    return { id: env.id, outcome: 'accepted', result: { revoked: true, connectionId: revoked.id } };
  }

  /** Opens the user's token in this turn (one KMS Decrypt) and starts following their trade updates; quiet on failure. */
  private async follow(tx: Tx, userId: string): Promise<void> {
    try {
      await this.connectionAndToken(tx, userId);
      this.o.onLiveOrders?.(userId, () => this.vault.cached(userId));
    } catch (err) {
      // Not connected any more, re-auth needed, or KMS down: the user's next live command tells them; nothing to follow.
      if (!(err instanceof LiveRejection)) throw err;
    }
  }

  /** Trade updates of live orders (signals): the order row follows the broker; each update is audited and told to the user. */
  async handleSignals(tx: Tx, signals: readonly Signal[]): Promise<LiveSignalEffect[]> {
    const effects: LiveSignalEffect[] = [];
    for (const s of signals) {
      if (s.kind === LIVE_FOLLOW_SIGNAL) {
        await this.follow(tx, s.userId);
        continue;
      }
      const u = s.payload as TradeUpdate;
      // By client_order_id: an in-doubt order has no broker id yet, and this is how it gets one.
      const row = await findByClientOrderId(tx, s.userId, u.order.client_order_id);
      if (!row) continue;
      const updated = await recordOutcome(tx, s.userId, row.id, outcomeOf(u.order));
      await appendAudit(tx, {
        actor: 'broker',
        subject: s.userId,
        action: 'live.trade_update',
        outcome: 'success',
        correlationId: u.execution_id ?? null,
        details: { liveOrderId: row.id, event: u.event, brokerOrderId: u.order.id, price: u.price ?? null, qty: u.qty ?? null },
      });
      const at = u.timestamp ?? new Date().toISOString();
      effects.push({ userId: s.userId, events: [{ kind: 'live.trade_update', data: { event: u.event, order: liveOrderJson(updated), price: u.price ?? null, qty: u.qty ?? null }, at }], key: `live:${u.order.id}:${u.event}:${u.execution_id ?? u.timestamp ?? updated.updatedAt.toISOString()}` });
    }
    return effects;
  }
}
