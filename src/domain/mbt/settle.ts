// End-of-day settle (rows 21–22) and the cash commands: marks, one cycle per trading day, adjustments, reset.
import { accountValues } from './buying-power.js';
import { reply, replyError, type Ctx } from './context.js';
import { forbidden } from './errors.js';
import { cancelOrder } from './fills.js';
import type { AdjustCashCommand, MarkInput, ResetCommand, SettleCommand } from './inputs.js';
import { symbolState } from './matching.js';
import { cents, d, str, ZERO, type Dec } from './money.js';
import type { CycleOutput } from './outputs.js';
import { classifyQuote, mid } from './quotes.js';
import { expireDayOrders } from './session.js';
import { OPEN_STATUSES, type MbtState } from './state.js';

type MarkedPosition = CycleOutput['positions'][number];

/** Mid of the last valid quote before the close if it is at most `markMaxAgeMs` old; else the previous mark, flagged. */
function markOf(ctx: Ctx, symbol: string, qty: string, given: MarkInput | undefined, closeTs: number): MarkedPosition {
  const sym = symbolState(ctx.state, symbol);
  const c = given && given.ts < closeTs ? classifyQuote(given) : undefined;
  if (c?.ok && closeTs - c.quote.ts <= ctx.config.markMaxAgeMs) {
    return { symbol, qty, mark: str(mid(c.quote)), mark_source: 'quote', stale_mark: false };
  }
  if (sym.mark) return { symbol, qty, mark: sym.mark.px, mark_source: 'previous_mark', stale_mark: true };
  if (c?.ok) return { symbol, qty, mark: str(mid(c.quote)), mark_source: 'quote', stale_mark: true };
  if (sym.last && sym.last.ts < closeTs) return { symbol, qty, mark: str(mid(sym.last)), mark_source: 'quote', stale_mark: true };
  const entry = ctx.state.positions[symbol]?.avg_entry_price ?? '0';
  return { symbol, qty, mark: entry, mark_source: 'entry_price', stale_mark: true };
}

export function settle(ctx: Ctx, cmd: SettleCommand): void {
  const cycle = ctx.state.cycle;
  // Idempotent per trading day: a second settle of the same (or an earlier) day changes nothing.
  if (cycle.lastSettledDay !== null && cmd.day <= cycle.lastSettledDay) return reply(ctx, cmd.id, { duplicate: true });
  expireDayOrders(ctx, 'regular');
  const given = new Map(cmd.marks.map((m) => [m.S, m]));
  const positions = Object.keys(ctx.state.positions)
    .sort()
    .map((symbol) => markOf(ctx, symbol, ctx.state.positions[symbol]!.qty, given.get(symbol), cmd.close_ts));
  let equity: Dec = d(ctx.state.account.cash);
  for (const p of positions) {
    equity = equity.add(d(p.qty).mul(d(p.mark)));
    symbolState(ctx.state, p.symbol).mark = { px: p.mark, ts: cmd.close_ts };
  }
  const pnl = equity.sub(d(cycle.equityOpen)).sub(d(cycle.netDeposits));
  cycle.settledCount += 1;
  ctx.out.push({
    type: 'cycle',
    day: cmd.day,
    equity_open: cents(d(cycle.equityOpen)),
    equity_close: cents(equity),
    net_deposits: cents(d(cycle.netDeposits)),
    pnl: cents(pnl),
    had_activity: cycle.hadFill || positions.length > 0,
    settled_count: cycle.settledCount,
    positions,
  });
  cycle.equityOpen = str(equity);
  cycle.netDeposits = '0';
  cycle.hadFill = false;
  cycle.lastSettledDay = cmd.day;
  pruneIdleSymbols(ctx.state);
  reply(ctx, cmd.id, {});
}

/**
 * A symbol's entry (last quote, asset facts, mark) leaves the state at settle once nothing uses it: no open order, no
 * position, not halted and no auction pending. The actor gives the asset facts and the last-known-good quote again
 * with the next submit, so the state holds what the account trades now, not every symbol it ever touched.
 */
function pruneIdleSymbols(state: MbtState): void {
  const used = new Set(Object.values(state.orders).flatMap((o) => (OPEN_STATUSES.has(o.status) ? [o.symbol] : [])));
  for (const [symbol, sym] of Object.entries(state.symbols)) {
    if (used.has(symbol) || state.positions[symbol] || sym.halted || sym.auction) continue;
    delete state.symbols[symbol];
  }
}

export function adjustCash(ctx: Ctx, cmd: AdjustCashCommand): void {
  const amount = d(cmd.amount);
  if (amount.isZero()) return replyError(ctx, cmd.id, forbidden('amount must not be zero'));
  if (amount.isNeg() && accountValues(ctx.state, ctx.config).buyingPower.add(amount).lt(ZERO)) {
    return replyError(ctx, cmd.id, forbidden('insufficient cash'));
  }
  ctx.state.account.cash = str(d(ctx.state.account.cash).add(amount));
  ctx.state.cycle.netDeposits = str(d(ctx.state.cycle.netDeposits).add(amount));
  reply(ctx, cmd.id, {});
}

/** Reset: open orders canceled, positions gone, cash back to the starting amount; the cycle count starts again. */
export function reset(ctx: Ctx, cmd: ResetCommand): void {
  const state = ctx.state;
  const open = Object.values(state.orders)
    .filter((o) => OPEN_STATUSES.has(o.status))
    .sort((a, b) => a.work.priority - b.work.priority);
  const cash = str(d(cmd.starting_cash ?? state.account.starting_cash));
  if (!d(cash).gt(0)) return replyError(ctx, cmd.id, forbidden('starting cash must be greater than zero'));
  for (const o of open) cancelOrder(ctx, o);
  state.account.cash = cash;
  state.account.starting_cash = cash;
  state.positions = {};
  state.cycle = { equityOpen: cash, netDeposits: '0', hadFill: false, lastSettledDay: state.cycle.lastSettledDay, settledCount: 0 };
  pruneIdleSymbols(state);
  ctx.out.push({ type: 'account_reset', cash });
  reply(ctx, cmd.id, {});
}
