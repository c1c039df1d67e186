// Catching up with the broker when a user's trade-updates stream (re)authorises: the stream does not replay what
// happened while nobody listened, so every open live order (and every draft with a submit attempt: it may have reached
// the broker) is read over REST once and delivered like a trade update.
import type { BrokerAdapter, TradeUpdate } from '../../../infra/broker/index.js';
import { withTenant, type Db } from '../../../infra/db/index.js';
import { liveOrdersToReconcile } from '../../../infra/live/live-orders.js';
import type { Signal } from '../../../runtime/index.js';
import { LIVE_TRADE_UPDATE_SIGNAL } from './live-host.js';

const EVENT_OF: Record<string, string> = { filled: 'fill', partially_filled: 'partial_fill', canceled: 'canceled', expired: 'expired', rejected: 'rejected' };

export interface ReconcileDeps {
  db: Db;
  broker: BrokerAdapter;
  deliver: (signal: Signal) => void;
}

/** Returns how many open orders the broker knew (each delivered as a signal to the user's actor). */
export async function reconcileOpenOrders(deps: ReconcileDeps, userId: string, token: string): Promise<number> {
  const open = await withTenant(deps.db, [userId], (tx) => liveOrdersToReconcile(tx, userId));
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

