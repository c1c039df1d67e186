// Alpaca adapters (the live broker adapter arrives with the live-handoff issue).
export { pollMarketClock, type UpstreamMarketClock, type MarketClockOptions } from './market-clock.js';
export { createMarketDataRestClient, UpstreamError, type BarsQuery, type MarketDataClientOptions, type MarketDataRestClient, type OptionChainQuery } from './market-data-client.js';
export { addDays, createMarketCalendar, MarketCalendarError, newYorkDate, newYorkWallTime, type MarketCalendar, type MarketCalendarErrorCode, type MarketCalendarOptions, type MarketSession } from './market-calendar.js';
export { AssetDirectoryError, createAssetDirectory, type AssetDirectory, type AssetDirectoryOptions, type AssetFacts } from './asset-directory.js';
export { createTradingClockClient, TradingClockError, type TradingClock, type TradingClockClient, type TradingClockClientOptions } from './trading-clock.js';
export { OAuthConfigError, OAuthConnect, OAuthExchangeError, OAuthStateError, type CallbackQuery, type OAuthConnectOptions, type TokenSet } from './oauth-connect.js';
