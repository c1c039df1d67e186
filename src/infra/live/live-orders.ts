// Live orders from draft to broker outcome (table `live_orders`). Every function runs in the caller's tenant
// transaction; the submit-attempt marker is the exception, committed on its own before anything is sent.
import { and, desc, eq, gt, inArray, or, sql } from 'drizzle-orm';
import { liveClientOrderId, liveDraftHash, type LiveOrderDraft } from '../../contracts/live.js';
import type { Db, Executor } from '../db/client.js';
import { liveOrders, type LiveOrderStatus } from '../db/schema/index.js';
import { withTenant } from '../db/tenant.js';

export type LiveOrderRow = typeof liveOrders.$inferSelect;

/** Statuses of an order the broker may still change (sent, or possibly sent, and not final). */
export const OPEN_LIVE_STATUSES: readonly LiveOrderStatus[] = ['submitting', 'submitted', 'in_doubt', 'partially_filled'];

/**
 * Orders to reconcile with the broker: the open ones, and drafts with a submit attempt. A replica that dies after
 * sending, before its turn commits, leaves a draft with the attempt marker; the redelivered command normally asks
 * the broker then — but if Redis lost that command too (a restart within its last unsynced second, security-notes
 * T14), nothing would: the broker would hold an order this system shows as an unsent draft. Reconciling such drafts
 * by client_order_id at takeover finds it (or finds nothing: it was never placed, and the draft stays submittable).
 */
const toReconcile = or(inArray(liveOrders.status, [...OPEN_LIVE_STATUSES]), and(eq(liveOrders.status, 'draft'), gt(liveOrders.submitAttempts, 0)));

export async function insertDraft(tx: Executor, a: { id: string; userId: string; draft: LiveOrderDraft; connectionId: string }): Promise<LiveOrderRow> {
  const clientOrderId = liveClientOrderId(a.id);
  const draftHash = liveDraftHash({ userId: a.userId, liveOrderId: a.id, clientOrderId, draft: a.draft });
  const [row] = await tx
    .insert(liveOrders)
    .values({ id: a.id, userId: a.userId, clientOrderId, draft: a.draft, draftHash, connectionId: a.connectionId })
    .returning();
  return row!;
}

export async function getLiveOrder(tx: Executor, userId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<LiveOrderRow | undefined> {
  const q = tx.select().from(liveOrders).where(and(eq(liveOrders.userId, userId), eq(liveOrders.id, id)));
  const rows = opts.forUpdate ? await q.for('update') : await q;
  return rows[0];
}

export async function listLiveOrders(tx: Executor, userId: string, limit = 100): Promise<LiveOrderRow[]> {
  return tx.select().from(liveOrders).where(eq(liveOrders.userId, userId)).orderBy(desc(liveOrders.createdAt)).limit(limit);
}

export async function liveOrdersToReconcile(tx: Executor, userId: string): Promise<LiveOrderRow[]> {
  return tx
    .select()
    .from(liveOrders)
    .where(and(eq(liveOrders.userId, userId), toReconcile));
}

/**
 * Records, in its own committed transaction, that a submit is about to be sent. A crash after the send and before
 * the turn commits leaves this behind, so the redelivered command asks the broker by client_order_id first.
 * SKIP LOCKED: if the calling turn itself already changed this row (it holds the lock until commit), waiting would
 * never end; 0 is returned instead and the caller sends nothing.
 */
export async function markSubmitAttempt(db: Db, userId: string, id: string): Promise<number> {
  return withTenant(db, [userId], async (tx) => {
    const rows = await tx.execute<{ attempts: number }>(sql`
      update live_orders set submit_attempts = submit_attempts + 1, updated_at = now()
       where id = (select id from live_orders where user_id = ${userId} and id = ${id} for update skip locked)
      returning submit_attempts as attempts`);
    return rows[0]?.attempts ?? 0;
  });
}

export interface BrokerOutcome {
  status: LiveOrderStatus;
  brokerOrderId?: string | null;
  brokerStatus?: string | null;
  rejectReason?: string | null;
  filledQty?: string;
  filledAvgPrice?: string | null;
  submittedAt?: Date | null;
}

export async function recordOutcome(tx: Executor, userId: string, id: string, o: BrokerOutcome): Promise<LiveOrderRow> {
  const [row] = await tx
    .update(liveOrders)
    .set({
      status: o.status,
      ...(o.brokerOrderId !== undefined ? { brokerOrderId: o.brokerOrderId } : {}),
      ...(o.brokerStatus !== undefined ? { brokerStatus: o.brokerStatus } : {}),
      ...(o.rejectReason !== undefined ? { rejectReason: o.rejectReason } : {}),
      ...(o.filledQty !== undefined ? { filledQty: o.filledQty } : {}),
      ...(o.filledAvgPrice !== undefined ? { filledAvgPrice: o.filledAvgPrice } : {}),
      ...(o.submittedAt !== undefined ? { submittedAt: o.submittedAt } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(liveOrders.userId, userId), eq(liveOrders.id, id)))
    .returning();
  return row!;
}

/** The JSON a browser sees for one live order. */
export function liveOrderJson(r: LiveOrderRow) {
  return {
    id: r.id,
    client_order_id: r.clientOrderId,
    status: r.status,
    draft: r.draft,
    broker_order_id: r.brokerOrderId,
    broker_status: r.brokerStatus,
    reject_reason: r.rejectReason,
    filled_qty: r.filledQty,
    filled_avg_price: r.filledAvgPrice,
    submitted_at: r.submittedAt?.toISOString() ?? null,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}
export type LiveOrderJson = ReturnType<typeof liveOrderJson>;

export async function findByClientOrderId(tx: Executor, userId: string, clientOrderId: string): Promise<LiveOrderRow | undefined> {
  const [row] = await tx.select().from(liveOrders).where(and(eq(liveOrders.userId, userId), eq(liveOrders.clientOrderId, clientOrderId)));
  return row;
}

/** Users with live orders to reconcile (open, or an attempted draft; batch role: crosses tenants). */
export async function usersWithLiveOrdersToReconcile(batchDb: Db): Promise<string[]> {
  const rows = await batchDb.selectDistinct({ userId: liveOrders.userId }).from(liveOrders).where(toReconcile);
  return rows.map((r) => r.userId);
}
