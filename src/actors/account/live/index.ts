// The live-broker handoff inside the account actor.
export { isLiveCommandType, LIVE_FOLLOW_SIGNAL, LIVE_TRADE_UPDATE_SIGNAL, liveFillEvents, LiveHost, type LiveHostOptions, type LiveSignalEffect } from './live-host.js';
export { TokenVault } from './token-vault.js';
export { TradeFollowers, type TradeFollowersOptions } from './trade-followers.js';
export { reconcileOpenOrders, type ReconcileDeps } from './reconcile.js';
