// One Prometheus registry per process, labelled with the role, with Node's default metrics.
import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * GC pause buckets (seconds). prom-client's default (1 ms, 10 ms, 100 ms …) cannot tell a 2 ms scavenge from a 9 ms
 * one, and that difference is a request's tail: every scavenge pauses the whole event loop.
 */
const GC_BUCKETS = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 1];

export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, gcDurationBuckets: GC_BUCKETS });
  return registry;
}
