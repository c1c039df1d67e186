// Metrics adapter (prom-client).
export { createMetricsRegistry } from './registry.js';
