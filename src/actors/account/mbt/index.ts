// MBT hosted in the account actor (docs/accounts.md, "Orders (MBT)").
export { assetId, fillId, toAlpacaOrder, toTradeUpdate, type AlpacaOrder, type AlpacaTradeUpdate } from './alpaca.js';
export { splitTradeUpdates, TRADE_UPDATES_KEY, tradeUpdateEvents } from './events.js';
export { explainOrder, exportReplayLog, openOrderSymbolsByUser, ReplayExportError, type ExplainedFill, type OrderExplanation } from './explain.js';
export { isMbtCommandType, MbtHost, MbtTurn, openOrderPairs, type MbtHostOptions, type SignalEffect } from './host.js';
export { createMarketQuotes, frameTimeMs, markOf, quoteInputOf, type MarketQuotes } from './market-quotes.js';
export { openOrderSymbolsOf } from './projection.js';
export { clockEventsOf, clockInputsBetween, createSessionCache, type SessionCache } from './sessions.js';
