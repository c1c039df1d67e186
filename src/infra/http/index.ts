// HTTP adapters shared by every role.
export { startOpsServer, type OpsServer, type OpsServerOptions, type ReadinessCheck } from './ops-server.js';
