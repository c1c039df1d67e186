// One step's working set: the (copied) state being changed, the settings, the input's time and the outputs so far.
import type { MbtConfig } from './config.js';
import type { ApiError, MbtOutput, OrderView, TradeEvent, TradeUpdateOutput } from './outputs.js';
import type { ClientIdEntry, OrderHistory } from './history.js';
import type { MbtState, OrderState } from './state.js';

export interface Ctx {
  state: MbtState;
  config: MbtConfig;
  /** Epoch ms of the input being handled. */
  ts: number;
  out: MbtOutput[];
  /** The account's past orders before this step (read-only). */
  history: OrderHistory;
  /** Client order ids this step adds (returned to the caller, who adds them to its history). */
  addedClientIds: ClientIdEntry[];
}

/** Row 24: the order id and request fingerprint a client_order_id already stands for, if any. */
export function knownClientId(ctx: Ctx, clientOrderId: string): readonly [orderId: string, fingerprint: string] | undefined {
  const added = ctx.addedClientIds.find((e) => e.clientOrderId === clientOrderId);
  return added ? [added.orderId, added.fingerprint] : ctx.history.clientId(clientOrderId);
}

/** An order id already used by this account (open, closed, or created earlier in this step). */
export function orderIdTaken(ctx: Ctx, orderId: string): boolean {
  return orderId in ctx.state.orders || ctx.history.hasOrder(orderId) || ctx.addedClientIds.some((e) => e.orderId === orderId);
}

export function addClientId(ctx: Ctx, o: OrderState, fingerprint: string): void {
  ctx.addedClientIds.push({ clientOrderId: o.client_order_id, orderId: o.id, fingerprint });
}

export const iso = (ms: number): string => new Date(ms).toISOString();

export function orderView(o: OrderState): OrderView {
  const { work, ...alpaca } = o;
  return { ...alpaca, reserved_cash: work.reserved };
}

export function emitUpdate(ctx: Ctx, o: OrderState | OrderView, event: TradeEvent, extra: Partial<TradeUpdateOutput> = {}): void {
  ctx.out.push({ type: 'trade_update', event, timestamp: iso(ctx.ts), order: 'work' in o ? orderView(o) : o, ...extra });
}

export function reply(ctx: Ctx, commandId: string, result: { order?: OrderState; orders?: OrderState[]; duplicate?: true }): void {
  ctx.out.push({
    type: 'reply',
    command_id: commandId,
    ok: true,
    ...(result.order ? { order: orderView(result.order) } : {}),
    ...(result.orders ? { orders: result.orders.map(orderView) } : {}),
    ...(result.duplicate ? { duplicate: true as const } : {}),
  });
}

export function replyError(ctx: Ctx, commandId: string, error: ApiError): void {
  ctx.out.push({ type: 'reply', command_id: commandId, ok: false, ...error });
}

/** Marks an order's status change with the input's time. */
export function touch(ctx: Ctx, o: OrderState, status?: OrderState['status']): string {
  const at = iso(ctx.ts);
  o.updated_at = at;
  if (status) o.status = status;
  return at;
}
