// Small helpers every benchmark report uses: number formatting, HDR histograms in µs, sleeping.
import * as hdr from 'hdr-histogram-js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** en-US grouping with `d` decimals; 'n/a' for NaN/Infinity. */
export const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');

/** An HDR histogram of microseconds: 1 µs … 120 s, 3 significant digits (pure JS: exact merges across processes). */
export const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });

/** Records a duration given in ms (at least 1 µs, at most the histogram's range). */
export function recordMs(h: hdr.Histogram, ms: number): void {
  h.recordValue(Math.min(120_000_000, Math.max(1, Math.round(ms * 1000))));
}

/** The exact sum of histograms sent by child processes (compressed base64). */
export function mergeHists(encoded: readonly string[]): hdr.Histogram {
  const h = newHist();
  for (const e of encoded) h.add(hdr.decodeFromCompressedBase64(e, 32, false));
  return h;
}

export const encodeHist = (h: hdr.Histogram): string => hdr.encodeIntoCompressedBase64(h);

/** Percentile in ms (NaN when empty). */
export const pctMs = (h: hdr.Histogram, p: number) => (h.totalCount ? h.getValueAtPercentile(p) / 1000 : Number.NaN);
export const maxMs = (h: hdr.Histogram) => (h.totalCount ? h.maxValue / 1000 : Number.NaN);

/** p50 / p90 / p99 / p99.9 / max in ms, and the count. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}
export function summarize(h: hdr.Histogram): LatencySummary {
  return { count: h.totalCount, p50: pctMs(h, 50), p90: pctMs(h, 90), p99: pctMs(h, 99), p999: pctMs(h, 99.9), max: maxMs(h) };
}
export const latencyLine = (s: LatencySummary) => `p50 ${fmt(s.p50, 2)} · p90 ${fmt(s.p90, 2)} · p99 ${fmt(s.p99, 2)} · p99.9 ${fmt(s.p999, 2)} · max ${fmt(s.max, 1)} ms`;
