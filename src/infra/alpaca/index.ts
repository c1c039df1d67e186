// Alpaca adapters (the live broker adapter arrives with the live-handoff issue).
export { pollMarketClock, type UpstreamMarketClock, type MarketClockOptions } from './market-clock.js';
export { createMarketDataRestClient, UpstreamError, type BarsQuery, type MarketDataClientOptions, type MarketDataRestClient, type OptionChainQuery } from './market-data-client.js';
