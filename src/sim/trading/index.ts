// The simulated Alpaca trading API: REST v2, the trade_updates stream, rate limit and fault injection.
export { createTradingApi, type ApiKey, type OAuthTokenValidator, type TradingApi, type TradingApiOptions } from './api.js';
export { AlpacaApiError, TradingEngine, type AccountDefaults, type SimAccount, type SimOrder, type SimPosition, type TradeUpdate } from './engine.js';
export { createRateLimiter, type RateLimitOptions, type RateLimiter } from './rate-limit.js';
