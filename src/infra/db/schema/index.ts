// Every table of the PostgreSQL schema (drizzle-kit reads this file; see drizzle.config.ts).
export * from './roles.js';
export * from './users.js';
export * from './accounts.js';
export * from './trading.js';
export * from './cycles.js';
export * from './commands.js';
export * from './live.js';
export * from './webauthn.js';
export * from './audit.js';
export * from './market-data-rules.js';
export * from './settle-fanouts.js';
export * from './mbt.js';
export * from './live-handoff.js';
export * from './signal-outbox.js';
