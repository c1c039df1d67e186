// The local development stack: Redis and PostgreSQL processes for `npm start` and the test suite.
export { startRedis, ensureRedisInstalled, type LocalRedis } from './redis-server.js';
export { startPostgres, ensurePostgresInstalled, PG_MAJOR, type LocalPostgres } from './postgres-server.js';
export { chooseStackDirs, type StackDirs } from './data-dir.js';
export { freePort, isPortFree, waitFor } from './ports.js';
export { isProcessAlive } from './system.js';
export { DevstackError } from './errors.js';
