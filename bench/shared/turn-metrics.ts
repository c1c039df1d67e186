// The accounts replicas' turn histograms (raxx_accounts_turn_seconds, committed turns) read from their /metrics, and a
// window's line: turns per kind, mean, and the bucket bounds the p50 and p99 fall in — what a turn's transaction took,
// to tell time spent in turns from time spent waiting for one.
import { fmt } from './util.js';

type Hist = { buckets: Map<number, number>; sum: number; count: number };
export type TurnHistograms = Map<string, Hist>;

/** Committed turns by kind, summed over `urls` (the replicas' ops URLs). */
export async function turnHistograms(urls: readonly string[]): Promise<TurnHistograms> {
  const out: TurnHistograms = new Map();
  const texts = await Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()));
  for (const text of texts) {
    for (const m of text.matchAll(/^raxx_accounts_turn_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/gm)) {
      const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      if (labels.outcome !== 'committed' || !labels.kind) continue;
      const h = out.get(labels.kind) ?? { buckets: new Map(), sum: 0, count: 0 };
      const v = Number(m[3]);
      if (m[1] === 'bucket') {
        const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
        h.buckets.set(le, (h.buckets.get(le) ?? 0) + v);
      } else if (m[1] === 'sum') h.sum += v;
      else h.count += v;
      out.set(labels.kind, h);
    }
  }
  return out;
}

/** `command 1,234 turns, mean 8.1 ms, p50 ≤ 10 · p99 ≤ 50 ms · signal …` between two readings. */
export function turnLine(a: TurnHistograms, b: TurnHistograms): string {
  const parts: string[] = [];
  for (const [kind, hb] of b) {
    const ha = a.get(kind);
    const count = hb.count - (ha?.count ?? 0);
    if (count <= 0) continue;
    const les = [...hb.buckets.keys()].sort((x, y) => x - y);
    const cum = les.map((le) => [le, hb.buckets.get(le)! - (ha?.buckets.get(le) ?? 0)] as const);
    const bound = (q: number) => {
      const le = cum.find(([, c]) => c >= q * count)?.[0] ?? Infinity;
      return le === Infinity ? `> ${fmt(les.at(-2)! * 1000)}` : `≤ ${fmt(le * 1000, le < 0.01 ? 1 : 0)}`;
    };
    const mean = ((hb.sum - (ha?.sum ?? 0)) / count) * 1000;
    parts.push(`${kind} ${fmt(count)} turns, mean ${fmt(mean, 1)} ms, p50 ${bound(0.5)} · p99 ${bound(0.99)} ms`);
  }
  return parts.join(' · ') || 'none';
}
