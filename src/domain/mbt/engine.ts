// MBT's entry points: `initialState` and `step`, a pure function of (state, input, config) that never mutates its input.
import { accountValues } from './buying-power.js';
import { defaultMbtConfig, type MbtConfig } from './config.js';
import type { Ctx } from './context.js';
import type { MbtInput } from './inputs.js';
import { handleQuote, symbolState } from './matching.js';
import { cents, d, max, str, ZERO } from './money.js';
import { cancel, cancelAll, replace, submit } from './orders.js';
import type { MbtOutput } from './outputs.js';
import { handleClock } from './session.js';
import { adjustCash, reset, settle } from './settle.js';
import type { AccountInit, MbtState } from './state.js';
import type { StatusInput } from './inputs.js';
import { totalReserved } from './buying-power.js';

export interface StepResult {
  state: MbtState;
  outputs: MbtOutput[];
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
    clientIds: {},
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
 * Handles one input of the account's ordered log. The given state is never changed (the actor keeps it if its
 * transaction rolls back); the new state and the outputs are returned. Same state + input + config → same result.
 */
export function step(state: MbtState, input: MbtInput, config: Partial<MbtConfig> = {}): StepResult {
  const ctx: Ctx = { state: structuredClone(state), config: { ...defaultMbtConfig, ...config }, ts: input.ts, out: [] };
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
  return { state: ctx.state, outputs: ctx.out };
}

/** Runs a whole log from an initial state (the replay tool and tests use exactly this). */
export function run(state: MbtState, inputs: readonly MbtInput[], config: Partial<MbtConfig> = {}): StepResult {
  let current = state;
  const outputs: MbtOutput[] = [];
  for (const input of inputs) {
    const r = step(current, input, config);
    current = r.state;
    outputs.push(...r.outputs);
  }
  return { state: current, outputs };
}
