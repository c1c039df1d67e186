// The feed leader's upstream Alpaca market-data connection (see docs/feed-upstream.md).
export { createUpstream } from './upstream.js';
export { createTickNormaliser, formatRfc3339Ns, timestampNs, type TickNormaliser, type SkipReason } from './normalise.js';
export { backoffDelay, jittered, DEFAULT_BACKOFF, type BackoffSettings } from './backoff.js';
export type {
  Upstream,
  UpstreamEvent,
  UpstreamFeed,
  UpstreamOptions,
  UpstreamState,
  UpstreamStats,
  UpstreamTick,
} from './types.js';
