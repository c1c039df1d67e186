// What each tier may receive (DESIGN §4), as a pure function the gateway asks for every subscription.

export type Tier = 'free' | 'pro' | 'pro_plus';

/** Channels a client can ask for, in the gateway protocol. */
export type MarketChannel = 'quotes' | 'trades' | 'bars' | 'updatedBars' | 'dailyBars' | 'statuses' | 'lulds' | 'depth';

/** The feed's tick kinds behind each channel (depth has no source in the v2 stock stream yet). */
export const channelKinds: Record<MarketChannel, readonly string[]> = {
  quotes: ['q'],
  trades: ['t'],
  bars: ['b'],
  updatedBars: ['u'],
  dailyBars: ['d'],
  statuses: ['s'],
  lulds: ['l'],
  depth: [],
};

export type Grant =
  /** Join the real-time line. */
  | { line: 'rt' }
  /** Join the delay line only: frames are never fresher than the delay. */
  | { line: 'dl' }
  /** Refused: the tier lacks the channel entirely; `requiredTier` is the cheapest tier that has it. */
  | { refused: 'tier_required'; requiredTier: Tier };

const TIER_RANK: Record<Tier, number> = { free: 0, pro: 1, pro_plus: 2 };

/** Lowest tier that receives each channel at all. */
const MIN_TIER: Record<MarketChannel, Tier> = {
  quotes: 'free',
  trades: 'free',
  statuses: 'free',
  bars: 'pro',
  updatedBars: 'pro',
  dailyBars: 'pro',
  lulds: 'pro',
  depth: 'pro_plus',
};

/**
 * Free gets quotes, trades and trading statuses from the delay line only; Pro everything real-time except depth;
 * Pro+ everything. A request above the tier is refused with the tier that has it, never downgraded silently.
 */
export function grantFor(tier: Tier, channel: MarketChannel): Grant {
  const min = MIN_TIER[channel];
  if (TIER_RANK[tier] < TIER_RANK[min]) return { refused: 'tier_required', requiredTier: min };
  return tier === 'free' ? { line: 'dl' } : { line: 'rt' };
}

/** Symbols one connection may hold, by tier. */
export const maxSymbolsPerConnection: Record<Tier, number> = { free: 25, pro: 200, pro_plus: 1000 };

/** HTTP API requests per minute, by tier (shared across gateway replicas). */
export const httpRequestsPerMinute: Record<Tier, number> = { free: 60, pro: 600, pro_plus: 3000 };

export function isTier(value: string): value is Tier {
  return value === 'free' || value === 'pro' || value === 'pro_plus';
}
