// Alpaca market-data REST served by the simulator.
export { createMarketDataRest, type MarketDataRestOptions } from './market-data-rest.js';
export { occSymbol, chainContracts } from './option-chain.js';
