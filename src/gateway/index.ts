// The uWebSockets.js gateway (role `gateway`): auth before upgrade, the market-data protocol, tier enforcement, limits.
export { createSessionAuth, extractToken, readCookie, sessionCookie, type SessionAuth, type SessionAuthOptions } from './auth.js';
export type { HubOutlet, HubPort, ReplayResult } from './hub-port.js';
export { MARKET_CHANNELS, parseClientMessage, type ErrorCode } from './protocol.js';
export { startGateway, type Gateway, type GatewayDeps, type GatewayOptions, type ReadinessCheck } from './server.js';
export { DEFAULT_LIMITS, SocketSession, TokenBucket, type SessionLimits } from './socket-session.js';
export { TierDirectory, type UserRecord } from './tier-directory.js';
export { createMarketDataHub, registerHubMetrics, type MarketDataHub } from './market-data/index.js';
