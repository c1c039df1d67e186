// Tier rules: which channels each tier receives, and from which line.
export { channelKinds, grantFor, httpRequestsPerMinute, isTier, maxSymbolsPerConnection, type Grant, type MarketChannel, type Tier } from './tier-policy.js';
