// Sessions (rows 11–12) driven only by clock inputs: which orders may work on a quote, activation at the opens,
// DAY expiry at the closes.
import { emitUpdate, touch, type Ctx } from './context.js';
import type { ClockInput } from './inputs.js';
import type { MbtState, OrderState, Phase } from './state.js';

/** The phase at an instant: a known close that has passed counts even before its clock event arrives. */
export function phaseAt(state: MbtState, ts: number): Phase {
  const s = state.session;
  if (s.phase === 'closed') return 'closed';
  if (s.extendedCloseTs !== null && ts >= s.extendedCloseTs) return 'closed';
  if (s.phase === 'regular' && s.regularCloseTs !== null && ts >= s.regularCloseTs) return 'post';
  return s.phase;
}

/** Whether an order of this kind works now: regular session for all, pre/post only for extended-hours orders. */
export function sessionAllows(state: MbtState, extendedHours: boolean, ts: number): boolean {
  const phase = phaseAt(state, ts);
  return phase === 'regular' || ((phase === 'pre' || phase === 'post') && extendedHours);
}

/** May this order fill or trigger on a quote stamped `ts`? */
export function canWork(state: MbtState, o: OrderState, ts: number): boolean {
  if (o.status !== 'new' && o.status !== 'partially_filled') return false;
  if (ts < state.session.since) return false;
  return sessionAllows(state, o.extended_hours, ts);
}

function openOrders(state: MbtState): OrderState[] {
  return Object.values(state.orders)
    .filter((o) => o.status === 'accepted' || o.status === 'new' || o.status === 'partially_filled')
    .sort((a, b) => a.work.priority - b.work.priority);
}

function activate(ctx: Ctx, extendedOnly: boolean): void {
  for (const o of openOrders(ctx.state)) {
    if (o.status !== 'accepted' || (extendedOnly && !o.extended_hours)) continue;
    touch(ctx, o, 'new');
    emitUpdate(ctx, o, 'new');
  }
}

/** DAY orders that are working end at their close: `expired`, fills kept, reservation released. */
export function expireDayOrders(ctx: Ctx, which: 'regular' | 'all'): void {
  for (const o of openOrders(ctx.state)) {
    if (o.status === 'accepted') continue; // queued for the next session: not yet working
    const immediate = o.time_in_force === 'ioc' || o.time_in_force === 'fok';
    if (o.time_in_force !== 'day' && !immediate) continue;
    if (which === 'regular' && o.extended_hours) continue;
    const at = touch(ctx, o, immediate ? 'canceled' : 'expired');
    if (immediate) o.canceled_at = at;
    else o.expired_at = at;
    o.work.reserved = '0';
    emitUpdate(ctx, o, immediate ? 'canceled' : 'expired');
  }
}

export function handleClock(ctx: Ctx, input: ClockInput): void {
  const s = ctx.state.session;
  // A new day's first event drops the previous day's closes unless it brings its own.
  const newDay = input.event === 'pre_open' || input.day !== s.day;
  s.since = input.ts;
  s.day = input.day;
  if (input.regularCloseTs !== undefined || newDay) s.regularCloseTs = input.regularCloseTs ?? null;
  if (input.extendedCloseTs !== undefined || newDay) s.extendedCloseTs = input.extendedCloseTs ?? null;
  switch (input.event) {
    case 'pre_open':
      s.phase = 'pre';
      activate(ctx, true);
      break;
    case 'regular_open':
      s.phase = 'regular';
      activate(ctx, false);
      // Rule 10/11: the first valid quote after the open is an auction for every symbol with resting orders.
      for (const sym of Object.values(ctx.state.symbols)) sym.auction = true;
      break;
    case 'regular_close':
      s.phase = 'post';
      expireDayOrders(ctx, 'regular');
      break;
    case 'extended_close':
      s.phase = 'closed';
      expireDayOrders(ctx, 'all');
      s.regularCloseTs = null;
      s.extendedCloseTs = null;
      break;
  }
}
