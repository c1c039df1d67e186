// The market-data WebSocket of the simulator (Alpaca's v2 stock stream).
export {
  createMarketDataStream, STREAM_ERRORS, STREAM_FEEDS, STREAM_PLANS,
  type MarketDataStream, type MarketDataStreamOptions, type StreamFeed, type StreamKey, type StreamPlan,
} from './server.js';
export { encodeMsgpack, encodeJson, msgpackArray, jsonArray, streamExtensionCodec } from './codec.js';
