// MBT's entry points: `initialState` and `step`, a pure function of (state, input, config) that never mutates its input.
import { accountValues } from './buying-power.js';
import { defaultMbtConfig, type MbtConfig } from './config.js';
import { orderView, type Ctx } from './context.js';
import type { MbtInput } from './inputs.js';
import { handleQuote, symbolState } from './matching.js';
import { cents, d, max, str, ZERO } from './money.js';
import { cancel, cancelAll, replace, submit } from './orders.js';
import type { MbtOutput, OrderView } from './outputs.js';
import { handleClock } from './session.js';
import { adjustCash, reset, settle } from './settle.js';
import { MemoryHistory, NO_HISTORY, type ClientIdEntry, type OrderHistory } from './history.js';
import { copyState, OPEN_STATUSES, type AccountInit, type MbtState } from './state.js';
import type { StatusInput } from './inputs.js';
import { totalReserved } from './buying-power.js';

export interface StepResult {
  state: MbtState;
  outputs: MbtOutput[];
  /** Client order ids the step(s) used for new orders: the caller adds them to the account's history. */
  clientIds: ClientIdEntry[];
  /** Orders the step(s) closed, as their last output showed them: they left the state; the caller keeps them. */
  closed: OrderView[];
}

export function initialState(account: AccountInit): MbtState {
  const cash = str(d(account.cash ?? '100000'));
  return {
    v: 1,
    account: { id: account.id, type: account.type ?? 'cash', cash, starting_cash: cash },
    session: { phase: 'closed', day: null, since: 0, regularCloseTs: null, extendedCloseTs: null },
    symbols: {},
    orders: {},
    positions: {},
    nextPriority: 1,
    cycle: { equityOpen: cash, netDeposits: '0', hadFill: false, lastSettledDay: null, settledCount: 0 },
  };
}

const HALT_CODES = new Set(['H', 'P', '2']);
const RESUME_CODES = new Set(['T', '3']);

/** Row 10: H/P/2 halt; T/3 resume (the next valid quote is an auction); Q (quotes resume) keeps the halt. */
function handleStatus(ctx: Ctx, input: StatusInput): void {
  const sym = symbolState(ctx.state, input.S);
  if (HALT_CODES.has(input.sc)) sym.halted = true;
  else if (RESUME_CODES.has(input.sc) && sym.halted) {
    sym.halted = false;
    sym.auction = true;
  }
}

function dispatch(ctx: Ctx, input: MbtInput): void {
  switch (input.type) {
    case 'quote':
      return handleQuote(ctx, input);
    case 'status':
      return handleStatus(ctx, input);
    case 'clock':
      return handleClock(ctx, input);
    case 'command':
      switch (input.kind) {
        case 'submit':
          return submit(ctx, input);
        case 'cancel':
          return cancel(ctx, input);
        case 'replace':
          return replace(ctx, input);
        case 'cancel_all':
          return cancelAll(ctx, input);
        case 'settle':
          return settle(ctx, input);
        case 'adjust_cash':
          return adjustCash(ctx, input);
        case 'reset':
          return reset(ctx, input);
      }
  }
}

/**
 * Handles one input of the account's ordered log. The given state and history are never changed (the actor keeps
 * them if its transaction rolls back); the new state, the outputs and what to add to the history are returned.
 * Same state + history + input + config → same result.
 */
export function step(state: MbtState, input: MbtInput, config: Partial<MbtConfig> = {}, history: OrderHistory = NO_HISTORY): StepResult {
  const ctx: Ctx = {
    state: copyState(state),
    config: { ...defaultMbtConfig, ...config },
    ts: input.ts,
    out: [],
    history,
    addedClientIds: [],
  };
  const cashBefore = ctx.state.account.cash;
  const reservedBefore = str(totalReserved(ctx.state));
  dispatch(ctx, input);
  const reserved = totalReserved(ctx.state);
  if (ctx.state.account.cash !== cashBefore || str(reserved) !== reservedBefore) {
    const v = accountValues(ctx.state, ctx.config);
    ctx.out.push({
      type: 'account',
      cash: str(v.cash),
      reserved_cash: str(reserved),
      buying_power: cents(max(ZERO, v.buyingPower)),
      equity: cents(v.equity),
    });
  }
  return { state: ctx.state, outputs: ctx.out, clientIds: ctx.addedClientIds, closed: pruneClosed(ctx.state) };
}

/** Closed orders leave the state at the end of the step that closed them (their outputs already carry their views). */
function pruneClosed(state: MbtState): OrderView[] {
  const closed: OrderView[] = [];
  for (const [id, o] of Object.entries(state.orders)) {
    if (OPEN_STATUSES.has(o.status)) continue;
    closed.push(orderView(o));
    delete state.orders[id];
  }
  return closed;
}

/** Runs a whole log from an initial state and an empty history (the replay tool and tests use exactly this). */
export function run(state: MbtState, inputs: readonly MbtInput[], config: Partial<MbtConfig> = {}, known: readonly ClientIdEntry[] = []): StepResult {
  let current = state;
  const history = new MemoryHistory();
  history.add(known);
  const outputs: MbtOutput[] = [];
  const added: ClientIdEntry[] = [];
  const closed: OrderView[] = [];
  for (const input of inputs) {
    const r = step(current, input, config, history);
    current = r.state;
    history.add(r.clientIds, r.closed);
    outputs.push(...r.outputs);
    added.push(...r.clientIds);
    closed.push(...r.closed);
  }
  return { state: current, outputs, clientIds: added, closed };
}
