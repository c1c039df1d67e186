// What a step produces: the command's reply, Alpaca trade_updates-style order events, and account/position changes.
import type { OrderState } from './state.js';

/** An order as Alpaca shows it (the engine's `work` left out, the reservation shown). */
export type OrderView = Omit<OrderState, 'work'> & { reserved_cash: string };

/** Alpaca's trade_updates events the engine produces. */
export type TradeEvent =
  | 'accepted'
  | 'new'
  | 'fill'
  | 'partial_fill'
  | 'canceled'
  | 'expired'
  | 'replaced'
  | 'rejected'
  | 'order_cancel_rejected'
  | 'order_replace_rejected';

/** The matching rule behind a fill (for `mbt:explain`). */
export type FillRule =
  | 'market_next_quote'
  | 'limit_taker'
  | 'limit_resting'
  | 'stop_market'
  | 'stop_limit_taker'
  | 'auction_taker';

export interface ApiError {
  /** HTTP status Alpaca answers with. */
  status: number;
  /** Alpaca's numeric error code. */
  code: number;
  message: string;
}

export type ReplyOutput =
  | {
      type: 'reply';
      command_id: string;
      ok: true;
      order?: OrderView;
      orders?: OrderView[];
      /** A resubmit with a known client_order_id and the same payload: nothing new happened. */
      duplicate?: true;
    }
  | ({ type: 'reply'; command_id: string; ok: false } & ApiError);

export interface TradeUpdateOutput {
  type: 'trade_update';
  event: TradeEvent;
  /** ISO time of the input that caused it. */
  timestamp: string;
  order: OrderView;
  /** Fills only: Alpaca's fields… */
  price?: string;
  qty?: string;
  position_qty?: string;
  execution_id?: string;
  /** …and MBT's explanation: the quote that caused the fill, the rule, the feed that priced it, the fee charged. */
  quote_seq?: number;
  rule?: FillRule;
  feed?: string;
  fee?: string;
  /** Rejections and engine-initiated cancels: why (Alpaca-style error). */
  reason?: ApiError;
}

export interface PositionOutput {
  type: 'position';
  symbol: string;
  qty: string;
  avg_entry_price: string;
}

export interface AccountOutput {
  type: 'account';
  cash: string;
  reserved_cash: string;
  buying_power: string;
  equity: string;
}

export interface QuoteIgnoredOutput {
  type: 'quote_ignored';
  S: string;
  seq: number;
  reason: 'duplicate_seq' | 'crossed' | 'locked' | 'one_sided' | 'halted' | 'stale_ts';
}

export interface CycleOutput {
  type: 'cycle';
  day: string;
  equity_open: string;
  equity_close: string;
  net_deposits: string;
  /** equity_close − equity_open − net_deposits. */
  pnl: string;
  /** A fill during the cycle or an open position at its close. */
  had_activity: boolean;
  /** Cycles settled since the account opened or was reset, this one included. */
  settled_count: number;
  positions: Array<{ symbol: string; qty: string; mark: string; mark_source: 'quote' | 'previous_mark' | 'entry_price'; stale_mark: boolean }>;
}

export interface ResetOutput {
  type: 'account_reset';
  cash: string;
}

export type MbtOutput = ReplyOutput | TradeUpdateOutput | PositionOutput | AccountOutput | QuoteIgnoredOutput | CycleOutput | ResetOutput;
