// Engine outputs → rows of the query tables the HTTP API reads (orders, fills, positions, paper_accounts,
// settled_cycles). Pure: the writer turns these rows into one multi-row statement per table per turn.
import { mbt } from '../../../domain/index.js';
import { fillId } from './alpaca.js';

/** An orders row: the engine's order view (Alpaca names) plus the owner, the creating command and a refusal. */
export type OrderRow = mbt.OrderView & {
  user_id: string;
  account_id: string;
  command_id: string | null;
  reject_reason: string | null;
};

export interface FillRow {
  id: string;
  user_id: string;
  account_id: string;
  order_id: string;
  symbol: string;
  side: string;
  qty: string;
  price: string;
  fee: string;
  quote_seq: number;
  rule: string;
  filled_at: string;
}

export interface PositionRow {
  account_id: string;
  symbol: string;
  user_id: string;
  /** '0' = the position is closed (the row is deleted). */
  qty: string;
  avg_entry_price: string;
}

export interface CycleRow {
  user_id: string;
  account_id: string;
  trading_day: string;
  equity_open: string;
  equity_close: string;
  pnl: string;
  had_activity: boolean;
}

export interface Projection {
  orders: OrderRow[];
  fills: FillRow[];
  positions: PositionRow[];
  cycles: CycleRow[];
  /** Cash or holds changed (the writer stores the engine's current values for the account). */
  accountChanged: boolean;
  /** Alpaca trade_updates payloads, in order (the private log gets one event each). */
  tradeUpdates: mbt.TradeUpdateOutput[];
}

export interface AccountRef {
  userId: string;
  accountId: string;
}

const isFill = (u: mbt.TradeUpdateOutput) => u.event === 'fill' || u.event === 'partial_fill';

/** The rows one step's outputs change. `commandId` is recorded on orders the step creates. */
export function project(ref: AccountRef, outputs: readonly mbt.MbtOutput[], commandId: string | null): Projection {
  const p: Projection = { orders: [], fills: [], positions: [], cycles: [], accountChanged: false, tradeUpdates: [] };
  for (const o of outputs) {
    switch (o.type) {
      case 'trade_update': {
        p.tradeUpdates.push(o);
        if (o.event === 'order_cancel_rejected' || o.event === 'order_replace_rejected') break; // the order is unchanged
        const rejectReason = o.event === 'rejected' || (o.event === 'canceled' && o.reason) ? (o.reason?.message ?? null) : null;
        p.orders.push(orderRow(ref, o.order, commandId, rejectReason));
        if (isFill(o)) {
          p.fills.push({
            id: fillId(o.execution_id!),
            user_id: ref.userId,
            account_id: ref.accountId,
            order_id: o.order.id,
            symbol: o.order.symbol,
            side: o.order.side,
            qty: o.qty!,
            price: o.price!,
            fee: o.fee ?? '0',
            quote_seq: o.quote_seq!,
            rule: o.rule!,
            filled_at: o.timestamp,
          });
        }
        break;
      }
      case 'position':
        p.positions.push({ account_id: ref.accountId, symbol: o.symbol, user_id: ref.userId, qty: o.qty, avg_entry_price: o.avg_entry_price });
        break;
      case 'account':
        p.accountChanged = true;
        break;
      case 'cycle':
        p.cycles.push({
          user_id: ref.userId,
          account_id: ref.accountId,
          trading_day: o.day,
          equity_open: o.equity_open,
          equity_close: o.equity_close,
          pnl: o.pnl,
          had_activity: o.had_activity,
        });
        break;
      default:
        break;
    }
  }
  return p;
}

function orderRow(ref: AccountRef, o: mbt.OrderView, commandId: string | null, rejectReason: string | null): OrderRow {
  return { ...o, user_id: ref.userId, account_id: ref.accountId, command_id: commandId, reject_reason: rejectReason };
}

/** Symbols with open orders in one engine state (the quotes it needs). */
export function openOrderSymbolsOf(state: mbt.MbtState): string[] {
  const out = new Set<string>();
  for (const o of Object.values(state.orders)) if (mbt.OPEN_STATUSES.has(o.status)) out.add(o.symbol);
  return [...out].sort();
}
