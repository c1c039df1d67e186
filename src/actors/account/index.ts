// The account actor: one user's paper account, applied one turn at a time by the partitioned runtime.
export { accountEvents, createAccountHost, type AccountHostOptions, type AccountResult, type RecordedEffect, type UserEventDraft } from './account-actor.js';
export {
  ACCOUNT_COMMAND_TYPES,
  ACCOUNT_EVENT_KINDS,
  accountAdjustCashPayload,
  accountCommandSchemas,
  accountOpenPayload,
  accountResetPayload,
  parseAccountCommand,
  REJECTION_CODES,
  type AccountCommand,
  type AccountCommandType,
  type RejectionCode,
} from './messages.js';
export type { AccountSnapshot } from './state.js';
export {
  clockEventsOf,
  clockInputsBetween,
  createMarketQuotes,
  createSessionCache,
  explainOrder,
  exportReplayLog,
  ReplayExportError,
  fillId,
  openOrderPairs,
  openOrderSymbolsByUser,
  toAlpacaOrder,
  type MbtHostOptions,
  type OrderExplanation,
  type SignalEffect,
} from './mbt/index.js';
export { openSymbolsFromEngines, QuoteRouter, type QuoteRouterOptions, type QuoteRouterStats } from './quote-router.js';
export { SessionClock, type SessionClockOptions } from './session-clock.js';
export { isLiveCommandType, LIVE_FOLLOW_SIGNAL, LIVE_TRADE_UPDATE_SIGNAL, liveFillEvents, reconcileOpenOrders, LiveHost, TokenVault, TradeFollowers, type LiveHostOptions, type LiveSignalEffect, type TradeFollowersOptions } from './live/index.js';
