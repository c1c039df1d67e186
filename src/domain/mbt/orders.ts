// Order commands: submit, cancel, replace (Alpaca PATCH), cancel all — with idempotency, the wash-trade guard, the
// qty-available and shorting rules, and the buying-power reservation at submit.
import { accountValues, availableToSell, reservationFor } from './buying-power.js';
import { addClientId, emitUpdate, iso, knownClientId, orderIdTaken, reply, replyError, touch, type Ctx } from './context.js';
import { forbidden, INSUFFICIENT_BUYING_POWER, invalid, notFound, unprocessable, WASH_TRADE } from './errors.js';
import { cancelOrder } from './fills.js';
import type { AssetInfo, CancelAllCommand, CancelCommand, OrderRequest, ReplaceCommand, SubmitCommand } from './inputs.js';
import { openOrdersOf, symbolState } from './matching.js';
import { d, str } from './money.js';
import type { ApiError } from './outputs.js';
import { fingerprintHash } from './random.js';
import { sessionAllows } from './session.js';
import { OPEN_STATUSES, type MbtState, type OrderState } from './state.js';
import { fingerprint, validateOrder, type ValidOrder } from './validate.js';

const DEFAULT_ASSET: AssetInfo = { tradable: true, shortable: false, easy_to_borrow: false, fractionable: false };

const isError = (v: unknown): v is ApiError => typeof v === 'object' && v !== null && 'status' in v && 'code' in v;

/** Sell-side rules (rows 14–15): a sell is covered by the long position, or it is a short sale a margin account may make. */
function sellCheck(ctx: Ctx, v: ValidOrder, asset: AssetInfo, excludingOrderId?: string): ApiError | { shortSale: boolean } {
  if (v.side === 'buy') return { shortSale: false };
  const available = availableToSell(ctx.state, v.symbol, excludingOrderId);
  if (v.notional !== null) return available.gt(0) ? { shortSale: false } : forbidden('insufficient qty available for order');
  const qty = d(v.qty ?? '0');
  if (qty.lte(available)) return { shortSale: false };
  const position = d(ctx.state.positions[v.symbol]?.qty ?? '0');
  if (ctx.state.account.type === 'cash' || position.gt(0)) {
    return forbidden(`insufficient qty available for order (requested: ${str(qty)}, available: ${str(available)})`);
  }
  if (v.fractional) return forbidden('fractional orders cannot be sold short');
  if (!asset.shortable || !asset.easy_to_borrow) return forbidden(`asset ${v.symbol} cannot be sold short`);
  if (d(ctx.state.account.cash).isNeg() || accountValues(ctx.state, ctx.config).multiplier < ctx.config.marginMultiplier) {
    return forbidden('account is not allowed to short');
  }
  return { shortSale: true };
}

function washTrade(state: MbtState, v: ValidOrder, excludingOrderId?: string): boolean {
  return openOrdersOf(state, v.symbol).some((o) => o.side !== v.side && o.id !== excludingOrderId);
}

function newOrder(ctx: Ctx, id: string, clientOrderId: string, v: ValidOrder, shortSale: boolean): OrderState {
  const sym = symbolState(ctx.state, v.symbol);
  const at = iso(ctx.ts);
  return {
    id,
    client_order_id: clientOrderId,
    symbol: v.symbol,
    side: v.side,
    type: v.type,
    time_in_force: v.time_in_force,
    qty: v.qty,
    notional: v.notional,
    filled_qty: '0',
    filled_avg_price: null,
    limit_price: v.limit_price,
    stop_price: v.stop_price,
    extended_hours: v.extended_hours,
    status: sessionAllows(ctx.state, v.extended_hours, ctx.ts) ? 'new' : 'accepted',
    replaces: null,
    replaced_by: null,
    submitted_at: at,
    updated_at: at,
    filled_at: null,
    canceled_at: null,
    expired_at: null,
    replaced_at: null,
    failed_at: null,
    work: {
      priority: ctx.state.nextPriority++,
      acceptSeq: sym.lastSeq,
      firstLook: true,
      triggered: false,
      reserved: '0',
      reservePx: null,
      needsReserve: false,
      shortSale,
      filledCost: '0',
      fills: 0,
    },
  };
}

/** Reserves at submit; `released` is buying power a replaced order gives back. Market buys with no known quote wait. */
function reserve(ctx: Ctx, o: OrderState, released = '0'): ApiError | null {
  const last = ctx.state.symbols[o.symbol]?.last;
  const r = reservationFor(o, o.work.shortSale, last ? d(last.ap) : undefined);
  if ('needsQuote' in r) {
    o.work.needsReserve = true;
    return null;
  }
  const bp = accountValues(ctx.state, ctx.config).buyingPower.add(d(released));
  if (d(r.reserved).gt(0) && d(r.reserved).gt(bp)) return forbidden(INSUFFICIENT_BUYING_POWER);
  o.work.reserved = r.reserved;
  o.work.reservePx = r.reservePx;
  return null;
}

function assetFor(ctx: Ctx, symbol: string, given?: AssetInfo): AssetInfo {
  const sym = symbolState(ctx.state, symbol);
  if (given) sym.asset = given;
  return sym.asset ?? DEFAULT_ASSET;
}

export function submit(ctx: Ctx, cmd: SubmitCommand): void {
  const req: OrderRequest = cmd.order;
  const fp = fingerprintHash(fingerprint(req));
  const known = knownClientId(ctx, req.client_order_id);
  if (known) {
    // Row 24: the same payload again is the same order (no new events); anything else reuses an id.
    if (known[1] !== fp) return replyError(ctx, cmd.id, invalid('client_order_id must be unique'));
    const existing = ctx.state.orders[known[0]];
    return reply(ctx, cmd.id, { ...(existing ? { order: existing } : {}), duplicate: true });
  }
  if (orderIdTaken(ctx, req.id)) return replyError(ctx, cmd.id, invalid('order id already exists'));
  const asset = assetFor(ctx, req.symbol, cmd.asset);
  const v = validateOrder(req, asset);
  if (isError(v)) return replyError(ctx, cmd.id, v);
  if (ctx.config.washTradeGuard && washTrade(ctx.state, v)) return replyError(ctx, cmd.id, forbidden(WASH_TRADE));
  const sell = sellCheck(ctx, v, asset);
  if (isError(sell)) return replyError(ctx, cmd.id, sell);
  const o = newOrder(ctx, req.id, req.client_order_id, v, sell.shortSale);
  const refused = reserve(ctx, o);
  if (refused) return replyError(ctx, cmd.id, refused);
  ctx.state.orders[o.id] = o;
  addClientId(ctx, o, fp);
  emitUpdate(ctx, o, o.status === 'new' ? 'new' : 'accepted');
  reply(ctx, cmd.id, { order: o });
}

export function cancel(ctx: Ctx, cmd: CancelCommand): void {
  const o = ctx.state.orders[cmd.order_id];
  if (!o) {
    // Closed orders are not in the state (only open ones are): the history knows them.
    const closed = ctx.history.closedOrder(cmd.order_id);
    if (!closed) return replyError(ctx, cmd.id, notFound('order not found'));
    const error = unprocessable(`order is already in "${closed.status}" state`);
    emitUpdate(ctx, closed, 'order_cancel_rejected', { reason: error });
    return replyError(ctx, cmd.id, error);
  }
  cancelOrder(ctx, o);
  reply(ctx, cmd.id, { order: o });
}

export function cancelAll(ctx: Ctx, cmd: CancelAllCommand): void {
  const open = Object.values(ctx.state.orders)
    .filter((o) => OPEN_STATUSES.has(o.status))
    .sort((a, b) => a.work.priority - b.work.priority);
  for (const o of open) cancelOrder(ctx, o);
  reply(ctx, cmd.id, { orders: open });
}

/** Alpaca PATCH: a new order (new id, new client_order_id) takes the old one's place; the old one ends `replaced`. */
export function replace(ctx: Ctx, cmd: ReplaceCommand): void {
  const old = ctx.state.orders[cmd.order_id];
  const closed = old ? undefined : ctx.history.closedOrder(cmd.order_id);
  if (!old && !closed) return replyError(ctx, cmd.id, notFound('order not found'));
  const p = cmd.patch;
  const fp = fingerprintHash(JSON.stringify(['replace', cmd.order_id, p.qty, p.time_in_force, p.limit_price, p.stop_price]));
  const known = knownClientId(ctx, p.client_order_id);
  if (known) {
    if (known[1] !== fp) return replyError(ctx, cmd.id, invalid('client_order_id must be unique'));
    const existing = ctx.state.orders[known[0]];
    return reply(ctx, cmd.id, { ...(existing ? { order: existing } : {}), duplicate: true });
  }
  const refuse = (error: ApiError) => {
    emitUpdate(ctx, old ?? closed!, 'order_replace_rejected', { reason: error });
    replyError(ctx, cmd.id, error);
  };
  if (!old) return refuse(unprocessable(`order is not replaceable (status: ${closed!.status})`));
  if (old.notional !== null) return refuse(unprocessable('notional orders cannot be replaced'));
  if (orderIdTaken(ctx, cmd.new_order_id)) return refuse(invalid('order id already exists'));
  const req: OrderRequest = {
    id: cmd.new_order_id,
    client_order_id: p.client_order_id,
    symbol: old.symbol,
    side: old.side,
    type: old.type,
    time_in_force: p.time_in_force ?? old.time_in_force,
    qty: p.qty ?? old.qty ?? undefined,
    ...((p.limit_price ?? old.limit_price) !== null ? { limit_price: p.limit_price ?? old.limit_price ?? undefined } : {}),
    ...((p.stop_price ?? old.stop_price) !== null ? { stop_price: p.stop_price ?? old.stop_price ?? undefined } : {}),
    extended_hours: old.extended_hours,
  };
  const asset = assetFor(ctx, old.symbol);
  const v = validateOrder(req, asset);
  if (isError(v)) return refuse(v);
  if (d(v.qty ?? '0').lte(d(old.filled_qty))) return refuse(unprocessable('qty must be > filled_qty'));
  const sell = sellCheck(ctx, { ...v, qty: str(d(v.qty ?? '0').sub(d(old.filled_qty))) }, asset, old.id);
  if (isError(sell)) return refuse(sell);
  const next = newOrder(ctx, cmd.new_order_id, p.client_order_id, v, sell.shortSale);
  // The replacement carries the fills made so far, as Alpaca's replaced order does; it queues anew (new priority).
  next.filled_qty = old.filled_qty;
  next.filled_avg_price = old.filled_avg_price;
  next.work.filledCost = old.work.filledCost;
  next.replaces = old.id;
  const refused = reserve(ctx, next, old.work.reserved);
  if (refused) return refuse(refused);
  old.replaced_at = touch(ctx, old, 'replaced');
  old.replaced_by = next.id;
  old.work.reserved = '0';
  ctx.state.orders[next.id] = next;
  addClientId(ctx, next, fp);
  emitUpdate(ctx, old, 'replaced');
  emitUpdate(ctx, next, next.status === 'new' ? 'new' : 'accepted');
  reply(ctx, cmd.id, { order: next });
}
