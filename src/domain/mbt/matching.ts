// Quote → fills (rows 3–10): next-quote rule, taker vs resting prices, stop election, displayed-size cap per quote,
// IOC/FOK resolution, halts and the auction rule.
import { accountValues, availableToSell, collar, reservationFor } from './buying-power.js';
import type { Ctx } from './context.js';
import { forbidden, INSUFFICIENT_BUYING_POWER } from './errors.js';
import { applyFill, cancelOrder, leaves, rejectOrder } from './fills.js';
import type { QuoteInput } from './inputs.js';
import { d, min, str, truncQty, ZERO, type Dec } from './money.js';
import type { FillRule, QuoteIgnoredOutput } from './outputs.js';
import { classifyQuote } from './quotes.js';
import { draw } from './random.js';
import { canWork } from './session.js';
import { OPEN_STATUSES, type MbtState, type OrderState, type SymbolState, type ValidQuote } from './state.js';

export function symbolState(state: MbtState, symbol: string): SymbolState {
  let s = state.symbols[symbol];
  if (!s) {
    s = { lastSeq: 0, halted: false, auction: false };
    state.symbols[symbol] = s;
  }
  return s;
}

export function openOrdersOf(state: MbtState, symbol: string): OrderState[] {
  return Object.values(state.orders)
    .filter((o) => o.symbol === symbol && OPEN_STATUSES.has(o.status))
    .sort((a, b) => a.work.priority - b.work.priority);
}

/** Shares still offered by the current quote on each side (each quote grants its size once per account). */
interface Book {
  ask: Dec;
  bid: Dec;
}

function ignored(ctx: Ctx, input: QuoteInput, reason: QuoteIgnoredOutput['reason']): void {
  // Logged only where it matters (the account has orders on the symbol), so idle symbols stay quiet.
  if (openOrdersOf(ctx.state, input.S).length > 0) ctx.out.push({ type: 'quote_ignored', S: input.S, seq: input.seq, reason });
}

export function handleQuote(ctx: Ctx, input: QuoteInput): void {
  const sym = symbolState(ctx.state, input.S);
  if (input.seq <= sym.lastSeq) return ignored(ctx, input, 'duplicate_seq');
  sym.lastSeq = input.seq;
  const c = classifyQuote(input);
  if (!c.ok) return ignored(ctx, input, c.fault);
  sym.last = c.quote;
  if (sym.halted) return ignored(ctx, input, 'halted');
  if (input.ts < ctx.state.session.since) return ignored(ctx, input, 'stale_ts');
  const q = c.quote;
  const auction = sym.auction;
  const book: Book = { ask: d(q.as), bid: d(q.bs) };
  for (const o of openOrdersOf(ctx.state, input.S)) {
    // Next-quote rule: only quotes that arrived after the order was accepted can fill it.
    if (!canWork(ctx.state, o, q.ts) || q.seq <= o.work.acceptSeq) continue;
    workOrder(ctx, o, q, book, auction);
  }
  // The auction is this quote, whether or not it found marketable orders.
  sym.auction = false;
}

/** Makes a deferred reservation on the first valid quote; false when it was rejected for buying power. */
function reserveNow(ctx: Ctx, o: OrderState, ask: Dec): boolean {
  const r = reservationFor(o, o.work.shortSale, ask);
  if ('needsQuote' in r) return true;
  if (d(r.reserved).gt(accountValues(ctx.state, ctx.config).buyingPower)) {
    rejectOrder(ctx, o, forbidden(INSUFFICIENT_BUYING_POWER));
    return false;
  }
  o.work.reserved = r.reserved;
  o.work.reservePx = r.reservePx;
  o.work.needsReserve = false;
  return true;
}

/** The limit an order works at now: its limit, a triggered buy stop's collar, or none (market, triggered sell stop). */
function workingLimit(o: OrderState): Dec | null {
  if (o.limit_price !== null) return d(o.limit_price);
  if (o.type === 'stop' && o.side === 'buy' && o.stop_price !== null) return collar(d(o.stop_price));
  return null;
}

function partialQty(ctx: Ctx, o: OrderState, q: ValidQuote, qty: Dec, fractional: boolean): Dec {
  const rp = ctx.config.randomPartials;
  if (!rp || o.time_in_force === 'fok') return qty;
  const key = `${ctx.state.account.id}|${o.id}|${q.seq}`;
  if (draw(rp.seed, `${key}|p`) >= rp.probability) return qty;
  const part = qty.mul(draw(rp.seed, `${key}|f`).toFixed(6));
  const cut = fractional ? truncQty(part) : part.floor();
  return cut.gt(0) && cut.lt(qty) ? cut : qty;
}

function workOrder(ctx: Ctx, o: OrderState, q: ValidQuote, book: Book, auction: boolean): void {
  const buy = o.side === 'buy';
  const ask = d(q.ap);
  const bid = d(q.bp);
  const immediate = o.time_in_force === 'ioc' || o.time_in_force === 'fok';
  if (o.work.needsReserve && !reserveNow(ctx, o, ask)) return;
  let taker = o.work.firstLook || auction;
  let elected = false;
  if ((o.type === 'stop' || o.type === 'stop_limit') && !o.work.triggered) {
    const stop = d(o.stop_price ?? '0');
    if (buy ? ask.gte(stop) : bid.lte(stop)) {
      o.work.triggered = true;
      elected = true;
      taker = true;
    } else {
      o.work.firstLook = false;
      if (immediate) cancelOrder(ctx, o);
      return;
    }
  }
  const touchPx = buy ? ask : bid;
  const limit = workingLimit(o);
  let price: Dec;
  let rule: FillRule;
  if (limit === null) {
    price = touchPx;
    rule = auction ? 'auction_taker' : o.type === 'stop' ? 'stop_market' : 'market_next_quote';
  } else {
    // Buy limits fill only when the ask reaches them; a bid equal to the limit (same-side touch) never fills.
    const marketable = buy ? ask.lte(limit) : bid.gte(limit);
    if (!marketable) {
      o.work.firstLook = false;
      if (immediate) cancelOrder(ctx, o);
      return;
    }
    if (taker) {
      price = touchPx;
      rule = auction ? 'auction_taker' : o.type === 'stop' ? 'stop_market' : elected ? 'stop_limit_taker' : 'limit_taker';
    } else {
      price = limit;
      rule = 'limit_resting';
    }
  }
  if (o.qty === null && !sizeNotional(ctx, o, price)) return;
  const fractional = !d(o.qty ?? '0').isInteger();
  const want = leaves(o);
  let qty = ctx.config.depth ? min(want, buy ? book.ask : book.bid) : want;
  if (!fractional) qty = qty.floor();
  o.work.firstLook = false;
  if (o.time_in_force === 'fok' && qty.lt(want)) {
    cancelOrder(ctx, o);
    return;
  }
  qty = partialQty(ctx, o, q, qty, fractional);
  if (qty.gt(ZERO)) {
    if (!applyFill(ctx, o, qty, price, q, rule)) return;
    if (buy) book.ask = book.ask.sub(qty);
    else book.bid = book.bid.sub(qty);
  }
  if (immediate && OPEN_STATUSES.has(o.status)) cancelOrder(ctx, o);
}

/** A notional order gets its qty at its first fill price: notional / price truncated to 9 decimals. */
function sizeNotional(ctx: Ctx, o: OrderState, price: Dec): boolean {
  let qty = truncQty(d(o.notional ?? '0').div(price));
  // A notional sell never sells more than the position not already promised to other sells (no fractional shorts).
  if (o.side === 'sell') qty = min(qty, availableToSell(ctx.state, o.symbol, o.id));
  if (qty.lte(0)) {
    const reason = o.side === 'sell' ? forbidden('insufficient qty available for order') : forbidden(INSUFFICIENT_BUYING_POWER);
    rejectOrder(ctx, o, reason);
    return false;
  }
  o.qty = str(qty);
  return true;
}
