// Redis adapter.
export { createRedis, closeRedis, type Redis } from './client.js';
