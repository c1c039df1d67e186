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
import type { AccountInit, ClientIdEntry, ClientIdIndex, MbtState } from './state.js';
import type { StatusInput } from './inputs.js';
import { totalReserved } from './buying-power.js';

export interface StepResult {
  state: MbtState;
  outputs: MbtOutput[];
  /** Client order ids the step(s) used for new orders: the caller adds them to the account's index. */
  clientIds: ClientIdEntry[];
}

const NO_CLIENT_IDS: ClientIdIndex = { get: () => undefined };

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
 * Handles one input of the account's ordered log. The given state and index are never changed (the actor keeps them
 * if its transaction rolls back); the new state, the outputs and the client order ids to add to the index are
 * returned. Same state + index + input + config → same result.
 */
export function step(state: MbtState, input: MbtInput, config: Partial<MbtConfig> = {}, clientIds: ClientIdIndex = NO_CLIENT_IDS): StepResult {
  const ctx: Ctx = {
    state: structuredClone(state),
    config: { ...defaultMbtConfig, ...config },
    ts: input.ts,
    out: [],
    clientIds,
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
  return { state: ctx.state, outputs: ctx.out, clientIds: ctx.addedClientIds };
}

/** An account's client order id index as a Map, grown by `add` with what each step returns. */
export class ClientIdMap implements ClientIdIndex {
  private readonly ids = new Map<string, readonly [string, string]>();

  get(clientOrderId: string): readonly [string, string] | undefined {
    return this.ids.get(clientOrderId);
  }

  add(entries: readonly ClientIdEntry[]): void {
    for (const e of entries) this.ids.set(e.clientOrderId, [e.orderId, e.fingerprint]);
  }

  get size(): number {
    return this.ids.size;
  }
}

/** Runs a whole log from an initial state and an empty index (the replay tool and tests use exactly this). */
export function run(state: MbtState, inputs: readonly MbtInput[], config: Partial<MbtConfig> = {}): StepResult {
  let current = state;
  const index = new ClientIdMap();
  const outputs: MbtOutput[] = [];
  const added: ClientIdEntry[] = [];
  for (const input of inputs) {
    const r = step(current, input, config, index);
    current = r.state;
    index.add(r.clientIds);
    outputs.push(...r.outputs);
    added.push(...r.clientIds);
  }
  return { state: current, outputs, clientIds: added };
}
