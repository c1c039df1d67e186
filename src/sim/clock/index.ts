// The simulator's market clock and NYSE calendar.
export { createMarketClock, type MarketClockOptions } from './market-clock.js';
export { exchangeDay, holidays, earlyCloses, easterSunday, nextDate, type IsoDate } from './nyse-calendar.js';
export { newYorkDate, newYorkTime } from './new-york-time.js';
export type { MarketClock, TradingSession } from './types.js';
