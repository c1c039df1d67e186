// The broker port the account actor codes against: submit/cancel/read orders, positions and the account for one
// user's OAuth token. Routes and actors import only this file; the Alpaca adapter is wired in src/main.
import { z } from 'zod';

/** Absent and null are the same thing on the wire (Alpaca sends null; a missing key must not fail the parse). */
const nullableString = z
  .string()
  .nullish()
  .transform((v) => v ?? null);

/** What we ask for. `client_order_id` is ours and stable across retries (see `liveClientOrderId`). */
export interface BrokerOrderRequest {
  symbol: string;
  side: 'buy' | 'sell';
  qty: string;
  type: 'market' | 'limit' | 'stop' | 'stop_limit';
  time_in_force: 'day' | 'gtc' | 'ioc' | 'fok';
  limit_price?: string;
  stop_price?: string;
  client_order_id: string;
}

/** An order as the broker reports it (REST answers and trade_updates). Unknown keys are dropped. */
export const brokerOrderSchema = z.object({
  id: z.string().min(1),
  client_order_id: z.string(),
  /** Alpaca's order status (new, accepted, partially_filled, filled, canceled, expired, rejected, …): kept open-ended. */
  status: z.string(),
  symbol: z.string(),
  side: z.string(),
  /** Null for notional orders until they fill. */
  qty: nullableString,
  filled_qty: z.string(),
  filled_avg_price: nullableString,
  submitted_at: nullableString,
  updated_at: nullableString,
});
export type BrokerOrder = z.infer<typeof brokerOrderSchema>;

export const brokerPositionSchema = z.object({
  symbol: z.string(),
  /** Signed decimal string: negative is short. */
  qty: z.string(),
  avg_entry_price: z.string(),
  market_value: nullableString,
  unrealized_pl: nullableString,
});
export type BrokerPosition = z.infer<typeof brokerPositionSchema>;

export const brokerAccountSchema = z.object({
  id: z.string(),
  status: z.string(),
  cash: z.string(),
  buying_power: z.string(),
  equity: nullableString,
  currency: z.string(),
});
export type BrokerAccount = z.infer<typeof brokerAccountSchema>;

/**
 * One broker, many users: every call takes the user's (decrypted, never stored here) OAuth token. Every call has a
 * deadline and fails with a `BrokerError` (errors.ts) whose `code` says what the caller may do; the token never
 * appears in an error.
 */
export interface BrokerAdapter {
  readonly name: string;
  /**
   * At most once: never retried inside. `broker_in_doubt` means the order may exist; reconcile with
   * `getOrderByClientOrderId(token, order.client_order_id)` before anything else.
   */
  submitOrder(token: string, order: BrokerOrderRequest): Promise<BrokerOrder>;
  /** Resolves once the broker accepted the cancel request; the cancel itself is confirmed on trade_updates. */
  cancelOrder(token: string, brokerOrderId: string): Promise<void>;
  getOrder(token: string, brokerOrderId: string): Promise<BrokerOrder>;
  /** undefined when the broker has no order with that client_order_id (404). */
  getOrderByClientOrderId(token: string, clientOrderId: string): Promise<BrokerOrder | undefined>;
  getPositions(token: string): Promise<BrokerPosition[]>;
  getAccount(token: string): Promise<BrokerAccount>;
}
