// Applying one fill (or refusing it when buying power cannot pay for it) and ending orders with an event.
import { accountValues, remainingReservation } from './buying-power.js';
import { emitUpdate, touch, type Ctx } from './context.js';
import { forbidden, INSUFFICIENT_BUYING_POWER } from './errors.js';
import { d, roundCents, str, ZERO, type Dec } from './money.js';
import type { ApiError, FillRule } from './outputs.js';
import type { OrderState, ValidQuote } from './state.js';

/** Ends an open order as canceled (user cancel, IOC/FOK remainder, or a refusal carried in `reason`). */
export function cancelOrder(ctx: Ctx, o: OrderState, reason?: ApiError): void {
  o.canceled_at = touch(ctx, o, 'canceled');
  o.work.reserved = '0';
  emitUpdate(ctx, o, 'canceled', reason ? { reason } : {});
}

/** Ends an accepted order whose deferred check failed: `rejected` with the Alpaca error. */
export function rejectOrder(ctx: Ctx, o: OrderState, reason: ApiError): void {
  o.failed_at = touch(ctx, o, 'rejected');
  o.work.reserved = '0';
  emitUpdate(ctx, o, 'rejected', { reason });
}

export function leaves(o: OrderState): Dec {
  return d(o.qty ?? '0').sub(d(o.filled_qty));
}

const AVG_DECIMALS = 9;

function updatePosition(ctx: Ctx, symbol: string, signedQty: Dec, price: Dec): string {
  const positions = ctx.state.positions;
  const p = positions[symbol];
  const pos = d(p?.qty ?? '0');
  const next = pos.add(signedQty);
  if (next.isZero()) {
    delete positions[symbol];
  } else if (pos.isZero() || pos.isNeg() !== next.isNeg()) {
    // Opening, or flipping through zero: the new side starts at this price.
    positions[symbol] = { qty: str(next), avg_entry_price: str(price) };
  } else if (next.abs().gt(pos.abs())) {
    const avg = d(p!.avg_entry_price).mul(pos.abs()).add(price.mul(signedQty.abs())).div(next.abs());
    positions[symbol] = { qty: str(next), avg_entry_price: str(avg.toDecimalPlaces(AVG_DECIMALS)) };
  } else {
    positions[symbol] = { qty: str(next), avg_entry_price: p!.avg_entry_price };
  }
  return str(next);
}

/**
 * Fills `qty` at `price` on quote `q`. A fill that would push buying power below zero (a market order priced past
 * its reservation) is refused: the order is canceled with 403 instead, so a cash account never goes negative.
 */
export function applyFill(ctx: Ctx, o: OrderState, qty: Dec, price: Dec, q: ValidQuote, rule: FillRule): boolean {
  const buy = o.side === 'buy';
  const cost = qty.mul(price);
  const fee = roundCents(d(ctx.config.fees({ symbol: o.symbol, side: o.side, qty: str(qty), price: str(price), timestamp: new Date(ctx.ts).toISOString() })));
  const cashDelta = buy ? cost.add(fee).neg() : cost.sub(fee);
  const filled = d(o.filled_qty).add(qty);
  const done = filled.gte(d(o.qty ?? '0'));
  const reservedBefore = d(o.work.reserved);
  const probe: OrderState = { ...o, filled_qty: str(filled), status: done ? 'filled' : 'partially_filled', work: { ...o.work, filledCost: str(d(o.work.filledCost).add(cost)) } };
  const reservedAfter = d(remainingReservation(probe));
  const adj = { symbol: o.symbol, qtyDelta: buy ? qty : qty.neg(), cashDelta, reservedDelta: reservedAfter.sub(reservedBefore) };
  const before = accountValues(ctx.state, ctx.config).buyingPower;
  const after = accountValues(ctx.state, ctx.config, adj).buyingPower;
  if (after.lt(ZERO) && after.lt(before)) {
    cancelOrder(ctx, o, forbidden(INSUFFICIENT_BUYING_POWER));
    return false;
  }
  const filledCost = d(probe.work.filledCost);
  o.filled_qty = str(filled);
  o.filled_avg_price = str(filledCost.div(filled).toDecimalPlaces(AVG_DECIMALS));
  o.work.filledCost = str(filledCost);
  o.work.fills += 1;
  o.work.reserved = str(reservedAfter);
  const at = touch(ctx, o, done ? 'filled' : 'partially_filled');
  if (done) o.filled_at = at;
  ctx.state.account.cash = str(d(ctx.state.account.cash).add(cashDelta));
  ctx.state.cycle.hadFill = true;
  const positionQty = updatePosition(ctx, o.symbol, adj.qtyDelta, price);
  emitUpdate(ctx, o, done ? 'fill' : 'partial_fill', {
    price: str(price),
    qty: str(qty),
    position_qty: positionQty,
    execution_id: `${o.id}-${o.work.fills}`,
    quote_seq: q.seq,
    rule,
    feed: q.feed,
    fee: str(fee),
  });
  ctx.out.push({ type: 'position', symbol: o.symbol, qty: positionQty, avg_entry_price: ctx.state.positions[o.symbol]?.avg_entry_price ?? '0' });
  return true;
}
