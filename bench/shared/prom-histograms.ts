// Prometheus histograms read from the roles' /metrics, and what a measured window added to one: count, mean and the
// bucket bound a quantile falls in (the bound, not an interpolation: a bucket is all a histogram knows).
import { fmt } from './util.js';

export type Hist = { buckets: Map<number, number>; sum: number; count: number };
export type Hists = Map<string, Hist>;

/**
 * The `_bucket`/`_sum`/`_count` series of the metrics whose names match `names` (a regex source; use non-capturing
 * groups inside), summed over `urls` by `keyOf(name, labels)`; a series whose key is null is skipped.
 */
export async function readHistograms(urls: readonly string[], names: string, keyOf: (name: string, labels: Record<string, string>) => string | null): Promise<Hists> {
  const out: Hists = new Map();
  const texts = await Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()));
  const line = new RegExp(`^(${names})_(bucket|sum|count)\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const text of texts) {
    for (const m of text.matchAll(line)) {
      const [, name, part, rawLabels, raw] = m as unknown as [string, string, string, string, string];
      const value = Number(raw);
      const labels = Object.fromEntries([...rawLabels.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
      const key = keyOf(name, labels);
      if (key === null) continue;
      const h = out.get(key) ?? { buckets: new Map(), sum: 0, count: 0 };
      if (part === 'bucket') {
        const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
        h.buckets.set(le, (h.buckets.get(le) ?? 0) + value);
      } else if (part === 'sum') h.sum += value;
      else h.count += value;
      out.set(key, h);
    }
  }
  return out;
}

export interface WindowHist {
  count: number;
  /** Seconds observed in the window. */
  sum: number;
  /** `≤ 5` (ms) for the bucket quantile `q` falls in, `> 100` past the last finite bound. */
  bound(q: number): string;
}

/** What the window between readings `a` and `b` added to histogram `key` (null when nothing). */
export function windowHist(a: Hists, b: Hists, key: string): WindowHist | null {
  const hb = b.get(key);
  if (!hb) return null;
  const ha = a.get(key);
  const count = hb.count - (ha?.count ?? 0);
  if (count <= 0) return null;
  const les = [...hb.buckets.keys()].sort((x, y) => x - y);
  const cum = les.map((le) => [le, hb.buckets.get(le)! - (ha?.buckets.get(le) ?? 0)] as const);
  const bound = (q: number) => {
    const le = cum.find(([, c]) => c >= q * count)?.[0] ?? Infinity;
    return le === Infinity ? `> ${fmt(les.at(-2)! * 1000)}` : `≤ ${fmt(le * 1000, le < 0.01 ? 1 : 0)}`;
  };
  return { count, sum: hb.sum - (ha?.sum ?? 0), bound };
}
