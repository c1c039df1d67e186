// The workers' live-handoff jobs: operator mass revoke, KMS key re-wrap, token refresh schedule.
export { appendPerConnection, type ConnectionRef, type ConnectionWalk, type LiveFanOutDeps } from './connection-fan-out.js';
export { LIVE_ROTATE_KEYS_ACTION, runKeyRotation, type KeyRotationDeps, type KeyRotationProgress, type KeyRotationResult } from './key-rotation.js';
export { LIVE_REVOKE_ALL_ACTION, massRevokeCommandId, runMassRevoke, type MassRevokeDeps, type MassRevokeProgress, type MassRevokeResult } from './mass-revoke.js';
export { LIVE_REFRESH_EVERY_MS, LIVE_REFRESH_WINDOW_MS, liveRefreshCommandId, runRefreshSchedule, type RefreshScheduleDeps, type RefreshScheduleResult } from './refresh-schedule.js';
