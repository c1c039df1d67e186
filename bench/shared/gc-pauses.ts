// GC pauses of a role process in a measured window, from Node's default metric nodejs_gc_duration_seconds (by kind;
// the buckets src/infra/metrics/registry.ts sets). A scavenge is a pause of the whole event loop: every request in
// flight waits it out, so their count and length belong next to a latency figure.
import { readHistograms, windowHist, type Hists } from './prom-histograms.js';
import { fmt } from './util.js';

export const gcPauses = (url: string): Promise<Hists> => readHistograms([url], 'nodejs_gc_duration_seconds', (_name, labels) => labels.kind ?? null);

/** `minor 262 (p50 ≤ 4 · p99 ≤ 8 ms, 0.91 s in all), major 7 (…)`, or `none`. */
export function gcLine(a: Hists, b: Hists): string {
  const parts: string[] = [];
  for (const kind of ['minor', 'major', 'incremental']) {
    const h = windowHist(a, b, kind);
    if (h) parts.push(`${kind} ${fmt(h.count)} (p50 ${h.bound(0.5)} · p99 ${h.bound(0.99)} ms, ${fmt(h.sum, 2)} s in all)`);
  }
  return parts.join(', ') || 'none';
}
