// The gateway's market-data hub: Redis fan-in, packing, snapshots and resume (docs/gateway-hub.md).
export {
  createMarketDataHub,
  type MarketDataHub,
  type MarketDataHubOptions,
  type MarketDataHubStats,
  type ReplayResult,
} from './hub.js';
export { packFrames, relabelAsLkg } from './frames.js';
export { registerHubMetrics } from './metrics.js';
