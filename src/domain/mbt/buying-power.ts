// Equity, buying power and order reservations (rules 13–15): cash accounts 1×, margin 2× above the minimum equity.
import type { MbtConfig } from './config.js';
import { d, max, roundCents, str, ZERO, type Dec } from './money.js';
import { mid } from './quotes.js';
import { OPEN_STATUSES, type MbtState, type OrderState } from './state.js';

/** Price a position is valued at right now: mid of the last valid quote or the last settle mark, else entry. */
export function markPrice(state: MbtState, symbol: string): Dec {
  const s = state.symbols[symbol];
  // The newer of the last valid quote and the last settle mark (a settle may carry a quote the engine never saw).
  if (s?.last && (!s.mark || s.last.ts >= s.mark.ts)) return mid(s.last);
  if (s?.mark) return d(s.mark.px);
  return d(state.positions[symbol]?.avg_entry_price ?? '0');
}

export function totalReserved(state: MbtState): Dec {
  let total = ZERO;
  for (const o of Object.values(state.orders)) if (OPEN_STATUSES.has(o.status)) total = total.add(d(o.work.reserved));
  return total;
}

/** A what-if change (a fill about to happen), so a fill can be refused before anything moves. */
export interface Adjustment {
  symbol: string;
  qtyDelta: Dec;
  cashDelta: Dec;
  reservedDelta: Dec;
}

export interface AccountValues {
  cash: Dec;
  equity: Dec;
  reserved: Dec;
  /** May be negative inside checks; views clamp it at zero. */
  buyingPower: Dec;
  multiplier: number;
}

export function accountValues(state: MbtState, config: MbtConfig, adj?: Adjustment): AccountValues {
  const cash = d(state.account.cash).add(adj?.cashDelta ?? ZERO);
  const reserved = totalReserved(state).add(adj?.reservedDelta ?? ZERO);
  let positionsValue = ZERO;
  let gross = ZERO;
  const symbols = new Set(Object.keys(state.positions));
  if (adj) symbols.add(adj.symbol);
  for (const symbol of symbols) {
    let qty = d(state.positions[symbol]?.qty ?? '0');
    if (adj && adj.symbol === symbol) qty = qty.add(adj.qtyDelta);
    if (qty.isZero()) continue;
    const value = qty.mul(markPrice(state, symbol));
    positionsValue = positionsValue.add(value);
    gross = gross.add(value.abs());
  }
  const equity = cash.add(positionsValue);
  const multiplier = marginMultiplier(state, config, equity);
  // Cash: what is not held by open buys. Margin (Reg-T): equity × multiplier less gross exposure and holds.
  const buyingPower = state.account.type === 'cash' ? cash.sub(reserved) : equity.mul(multiplier).sub(gross).sub(reserved);
  return { cash, equity, reserved, buyingPower, multiplier };
}

export function marginMultiplier(state: MbtState, config: MbtConfig, equity: Dec): number {
  if (state.account.type !== 'margin') return 1;
  return equity.gte(d(config.marginMinEquity)) ? config.marginMultiplier : 1;
}

/** Alpaca's buy-stop collar, also the market-buy valuation: +4% below $50, +2.5% from $50, half-up to the cent. */
export function collar(price: Dec): Dec {
  return roundCents(price.mul(price.lt(50) ? '1.04' : '1.025'));
}

/** Short sales are valued at max(limit, ask × 1.03) (Alpaca). */
const SHORT_MARKUP = '1.03';

export type Reservation = { reservePx: string | null; reserved: string } | { needsQuote: true };

/**
 * What an order holds while open. `ask` is the last valid ask known (undefined when none): market buys and
 * market/stop short sales without one wait for the first valid quote.
 */
export function reservationFor(o: OrderState, shortSale: boolean, ask: Dec | undefined): Reservation {
  const leaves = d(o.qty ?? '0').sub(d(o.filled_qty));
  const limit = o.limit_price === null ? undefined : d(o.limit_price);
  const hold = (px: Dec) => ({ reservePx: str(px), reserved: str(leaves.mul(px)) });
  if (o.side === 'buy') {
    if (o.notional !== null) return { reservePx: null, reserved: str(d(o.notional).sub(d(o.work.filledCost))) };
    if (limit) return hold(limit);
    if (o.type === 'stop' && o.stop_price !== null) return hold(collar(d(o.stop_price)));
    return ask ? hold(collar(ask)) : { needsQuote: true };
  }
  if (!shortSale) return { reservePx: null, reserved: '0' };
  if (ask) return hold(max(limit ?? ZERO, roundCents(ask.mul(SHORT_MARKUP))));
  return limit ? hold(limit) : { needsQuote: true };
}

/** The hold left after fills: the same price on the shares still open; a notional buy keeps what it has not spent. */
export function remainingReservation(o: OrderState): string {
  if (!OPEN_STATUSES.has(o.status)) return '0';
  if (o.side === 'buy' && o.notional !== null) return str(max(ZERO, d(o.notional).sub(d(o.work.filledCost))));
  if (o.work.reservePx === null) return '0';
  return str(d(o.qty ?? '0').sub(d(o.filled_qty)).mul(d(o.work.reservePx)));
}

/** Shares of a long position not already promised to open sell orders. */
export function availableToSell(state: MbtState, symbol: string, excludingOrderId?: string): Dec {
  const pos = d(state.positions[symbol]?.qty ?? '0');
  if (pos.lte(0)) return ZERO;
  let held = ZERO;
  for (const o of Object.values(state.orders)) {
    if (o.id === excludingOrderId || o.symbol !== symbol || o.side !== 'sell' || !OPEN_STATUSES.has(o.status)) continue;
    held = held.add(d(o.qty ?? '0').sub(d(o.filled_qty)));
  }
  return max(ZERO, pos.sub(held));
}
