// The broker port (broker.ts), its errors, the Alpaca adapter and the per-user trade_updates follower.
export {
  brokerAccountSchema,
  brokerOrderSchema,
  brokerPositionSchema,
  type BrokerAccount,
  type BrokerAdapter,
  type BrokerOrder,
  type BrokerOrderRequest,
  type BrokerPosition,
} from './broker.js';
export { BrokerError, isBrokerError, type BrokerErrorCode, type BrokerErrorDetails } from './errors.js';
export { createAlpacaBroker, type AlpacaBrokerOptions } from './alpaca-broker.js';
export {
  followTradeUpdates,
  type FollowTradeUpdatesOptions,
  type TradeUpdate,
  type TradeUpdatesFollower,
  type TradeUpdatesState,
} from './trade-updates.js';
