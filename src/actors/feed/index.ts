// The feed actor: one leader holds the upstream market-data socket and republishes every tick once.
export { FeedActor, type FeedActorOptions, type FeedEvents, type FeedTiming, type UpstreamFault } from './feed-actor.js';
export type * from './ports.js';
