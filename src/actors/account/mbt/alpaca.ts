// The engine's orders and trade updates in Alpaca's JSON shapes (what `/paper/v2/orders` and `trade_updates` show).
import { nameUuid, paperAssetId } from '../../../contracts/index.js';
import type { mbt } from '../../../domain/index.js';

/** An order as Alpaca's trading API returns it (`GET /v2/orders/{id}`). */
export interface AlpacaOrder {
  id: string;
  client_order_id: string;
  created_at: string;
  updated_at: string;
  submitted_at: string;
  filled_at: string | null;
  expired_at: string | null;
  canceled_at: string | null;
  failed_at: string | null;
  replaced_at: string | null;
  replaced_by: string | null;
  replaces: string | null;
  asset_id: string;
  symbol: string;
  asset_class: 'us_equity';
  notional: string | null;
  qty: string | null;
  filled_qty: string;
  filled_avg_price: string | null;
  order_class: 'simple';
  order_type: string;
  type: string;
  side: string;
  time_in_force: string;
  limit_price: string | null;
  stop_price: string | null;
  status: string;
  extended_hours: boolean;
  legs: null;
  trail_percent: null;
  trail_price: null;
  hwm: null;
  expires_at: null;
}

/** Alpaca `trade_updates` payload: `{event, order, timestamp}` plus the fill fields on fills. */
export interface AlpacaTradeUpdate {
  event: mbt.TradeEvent;
  order: AlpacaOrder;
  timestamp: string;
  price?: string;
  qty?: string;
  position_qty?: string;
  execution_id?: string;
}

/** MBT's asset id of a symbol: the same for every user, every run and the paper API. */
export const assetId = paperAssetId;
/** The `fills.id` of an execution (`<order id>-<n>`), so a replayed turn can never insert a fill twice. */
export const fillId = (executionId: string) => nameUuid('raxx-mbt-fill', '\0', executionId);

/** The one formatting function from the engine's order view to Alpaca's order JSON. */
export function toAlpacaOrder(o: mbt.OrderView): AlpacaOrder {
  return {
    id: o.id,
    client_order_id: o.client_order_id,
    created_at: o.submitted_at,
    updated_at: o.updated_at,
    submitted_at: o.submitted_at,
    filled_at: o.filled_at,
    expired_at: o.expired_at,
    canceled_at: o.canceled_at,
    failed_at: o.failed_at,
    replaced_at: o.replaced_at,
    replaced_by: o.replaced_by,
    replaces: o.replaces,
    asset_id: assetId(o.symbol),
    symbol: o.symbol,
    asset_class: 'us_equity',
    notional: o.notional,
    qty: o.qty,
    filled_qty: o.filled_qty,
    filled_avg_price: o.filled_avg_price,
    order_class: 'simple',
    order_type: o.type,
    type: o.type,
    side: o.side,
    time_in_force: o.time_in_force,
    limit_price: o.limit_price,
    stop_price: o.stop_price,
    status: o.status,
    extended_hours: o.extended_hours,
    legs: null,
    trail_percent: null,
    trail_price: null,
    hwm: null,
    expires_at: null,
  };
}

export function toTradeUpdate(u: mbt.TradeUpdateOutput): AlpacaTradeUpdate {
  return {
    event: u.event,
    order: toAlpacaOrder(u.order),
    timestamp: u.timestamp,
    ...(u.price !== undefined ? { price: u.price } : {}),
    ...(u.qty !== undefined ? { qty: u.qty } : {}),
    ...(u.position_qty !== undefined ? { position_qty: u.position_qty } : {}),
    ...(u.execution_id !== undefined ? { execution_id: u.execution_id } : {}),
  };
}
