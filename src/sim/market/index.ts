// The simulated market: synthetic (seeded) or replayed from a recording, behind `MarketState` + `SimMarket`.
import type { MarketClock } from '../clock/types.js';
import type { SimMarket } from './types.js';
import { resolveMarketOptions, type MarketOptions } from './options.js';
import { createSyntheticMarket } from './synthetic.js';
import { createReplayMarket } from './replay.js';

export type * from './types.js';
export { DEFAULT_MARKET_OPTIONS, resolveMarketOptions, type MarketOptions } from './options.js';
export { createSyntheticMarket } from './synthetic.js';
export { createReplayMarket, loadReplayFile, parseReplayLine, ReplayFormatError } from './replay.js';
export { parseTimeframe } from './history.js';
export { formatRfc3339Nanos, parseRfc3339Nanos, msToNanos } from './time.js';

/** Replay when `replayFile` is set, synthetic otherwise. Call `start()` for live batches, or `step()` by hand. */
export function createMarket(clock: MarketClock, options: Partial<MarketOptions> = {}): SimMarket {
  const opts = resolveMarketOptions(options);
  return opts.replayFile ? createReplayMarket(clock, opts) : createSyntheticMarket(clock, opts);
}
