// Public surface of the workers: BullMQ scheduled and batch work (settle fan-out, retention purge, live-handoff jobs)
// and their ops routes.
export { WorkersHost, type WorkersHostOptions } from './host.js';
export { workersMetrics, type WorkersMetrics } from './metrics.js';
export { createOperatorAuth, requestToken, type OperatorAuth, type OperatorAuthOptions, type OperatorCheck } from './operator-auth.js';
export { workersOpsRoutes, type WorkersOpsDeps, type WorkersOpsErrorCode } from './ops-routes.js';
export * from './queues.js';
export { fanOutDay, settleWatermark, SettleError, SETTLE_LOCK_KEY, withSettleLock, type FanOutDeps, type FanOutOptions, type FanOutResult, type SettleErrorCode } from './settle/fan-out.js';
export { runSettleCheck, runSettleForDay, type SettleCheckResult, type SettleJobDeps } from './settle/jobs.js';
export { FIRST_RUN_LOOKBACK_DAYS, sessionsToFanOut, type SessionClose } from './settle/schedule.js';
export { purgeHistory, type PurgeOptions, type TierPurge } from './retention/purge.js';
export { retentionHorizons, type RetentionRunOptions, type TierRetentionOptions } from './retention/tiers.js';
export { purgeCeremonies, type CeremonyPurge, type CeremonyPurgeOptions, type CeremonyTable } from './retention/ceremonies.js';
export { purgeEngineLogs, type EngineLogPurge, type EngineLogPurgeOptions, type EngineLogRetention, type EngineLogTable } from './retention/engine-logs.js';
export { purgeCommandBookkeeping, type CommandRetention, type CommandRetentionOptions, type CommandRetentionTable } from './retention/commands.js';
export * from './live/index.js';
