// One Prometheus registry per process, labelled with the role, with Node's default metrics.
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  return registry;
}
