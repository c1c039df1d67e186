// Catching up with the broker when a user's trade-updates stream (re)authorises: the stream does not replay what
// happened while nobody listened, so every open live order is read over REST once and delivered like a trade update.
import type { BrokerAdapter, TradeUpdate } from '../../../infra/broker/index.js';
import { sql } from 'drizzle-orm';
import { withTenant, type Db } from '../../../infra/db/index.js';
import { openLiveOrders } from '../../../infra/live/live-orders.js';
import { partitionOf, type Signal } from '../../../runtime/index.js';
import { LIVE_TRADE_UPDATE_SIGNAL } from './live-host.js';

const EVENT_OF: Record<string, string> = { filled: 'fill', partially_filled: 'partial_fill', canceled: 'canceled', expired: 'expired', rejected: 'rejected' };

export interface ReconcileDeps {
  db: Db;
  broker: BrokerAdapter;
  deliver: (signal: Signal) => void;
}

/** Returns how many open orders the broker knew (each delivered as a signal to the user's actor). */
export async function reconcileOpenOrders(deps: ReconcileDeps, userId: string, token: string): Promise<number> {
  const open = await withTenant(deps.db, [userId], (tx) => openLiveOrders(tx, userId));
  let found = 0;
  for (const row of open) {
    const order = await deps.broker.getOrderByClientOrderId(token, row.clientOrderId);
    if (!order) continue;
    found += 1;
    const update: TradeUpdate = { event: EVENT_OF[order.status] ?? 'new', order, timestamp: order.updated_at ?? new Date().toISOString() };
    deps.deliver({ userId, kind: LIVE_TRADE_UPDATE_SIGNAL, payload: update });
  }
  return found;
}

/**
 * Users with live orders still open at the broker whose partition is in `owned` (batch role: crosses tenants). A
 * replica that takes such a partition over follows them at once, instead of at their next command.
 */
export async function usersWithOpenLiveOrders(batchDb: Db, owned: readonly number[], partitions: number): Promise<string[]> {
  if (owned.length === 0) return [];
  const mine = new Set(owned);
  const rows = await batchDb.execute<{ user_id: string }>(
    sql`select distinct user_id from live_orders where status in ('submitting', 'submitted', 'in_doubt', 'partially_filled')`,
  );
  return rows.map((r) => r.user_id).filter((u) => mine.has(partitionOf(u, partitions)));
}
