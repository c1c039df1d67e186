// Alpaca adapters (the live broker adapter arrives with the live-handoff issue).
export { pollMarketClock, type UpstreamMarketClock, type MarketClockOptions } from './market-clock.js';
