// MBT, the paper engine: pure and deterministic (see docs/mbt.md for the rules, docs/mbt-replay.md for the log format).
export { initialState, run, step, type StepResult } from './engine.js';
export { MemoryHistory, NO_HISTORY, type ClientIdEntry, type OrderHistory } from './history.js';
export { defaultMbtConfig, linearFees, zeroFees, type FeeFunction, type FeeInput, type MbtConfig } from './config.js';
export {
  CLOCK_EVENTS,
  assetInfoSchema,
  clockInputSchema,
  commandInputSchema,
  markInputSchema,
  mbtInputSchema,
  orderRequestSchema,
  parseMbtInput,
  quoteInputSchema,
  statusInputSchema,
  type AssetInfo,
  type ClockEvent,
  type ClockInput,
  type CommandInput,
  type MarkInput,
  type MbtInput,
  type MbtInputIn,
  type OrderRequest,
  type QuoteInput,
  type StatusInput,
} from './inputs.js';
export type * from './outputs.js';
export type * from './state.js';
export { OPEN_STATUSES } from './state.js';
export { accountValues, type AccountValues } from './buying-power.js';
export { d, decimalsOf, ZERO } from './money.js';
export { mbtStateSchema } from './state-schema.js';
export { parseReplayLog, replayHeaderSchema, ReplayLogError, type ReplayHeader, type ReplayLog } from './log-schema.js';
export { evaluateGate, type GateCycle, type GateInput, type GateRule, type GateShortfall, type GateStatus } from './gate.js';
export { validateOrder, checkPrice, checkQty, checkTimeInForce, type ValidOrder } from './validate.js';
