// Contracts shared across processes: wire shapes and Redis key/channel names.
export * from './market-data.js';
export * from './sessions.js';
export * from './user-events.js';
export * from './settlement.js';
export * from './paper-orders.js';
export * from './name-uuid.js';
export * from './live.js';
