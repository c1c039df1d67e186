// The per-process registry: role label, Node's default metrics, and GC pause buckets fine enough to tell a 2 ms
// scavenge from a 9 ms one (prom-client's default buckets jump from 1 ms to 10 ms).
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../../src/infra/metrics/registry.js';
import { waitFor } from '../../support/wait.js';

/** The `le` bounds of the minor-GC histogram's buckets, in the order printed. */
const minorBuckets = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('nodejs_gc_duration_seconds_bucket{') && l.includes('kind="minor"') && l.includes('role="probe"'))
    .map((l) => /le="([^"]+)"/.exec(l)![1]!);

describe('createMetricsRegistry', () => {
  it('labels the role and records GC pauses in millisecond buckets', async () => {
    const registry = createMetricsRegistry('probe');
    // Young-generation garbage until a scavenge has been observed (the observer reports it asynchronously).
    let keep: unknown[] = [];
    await waitFor(async () => {
      for (let i = 0; i < 20_000; i++) keep.push({ i, s: `x${i}` });
      keep = [];
      return minorBuckets(await registry.metrics()).length > 0;
    }, 10_000, 'a scavenge in the metrics');
    expect(minorBuckets(await registry.metrics())).toEqual(['0.0005', '0.001', '0.002', '0.004', '0.008', '0.016', '0.032', '0.064', '0.128', '0.256', '1', '+Inf']);
  });
});
