// The accounts replicas' turn histograms (raxx_accounts_turn_seconds and raxx_accounts_turn_phase_seconds, committed
// turns) read from their /metrics, and a window's line: turns per kind, mean, the bucket bounds the p50 and p99 fall
// in, and the p99 bound of each phase — what a turn's transaction took and where, to tell time spent in turns from
// time spent waiting for one, and a slow COMMIT from a slow handler.
import { fmt } from './util.js';

type Hist = { buckets: Map<number, number>; sum: number; count: number };
export type TurnHistograms = Map<string, Hist>;

/** Committed turns by kind, summed over `urls` (the replicas' ops URLs). */
export async function turnHistograms(urls: readonly string[]): Promise<TurnHistograms> {
  const out: TurnHistograms = new Map();
  const texts = await Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()));
  for (const text of texts) {
    for (const m of text.matchAll(/^raxx_accounts_turn_(seconds|phase_seconds)_(bucket|sum|count)\{([^}]*)\} (\S+)$/gm)) {
      const labels = Object.fromEntries([...m[3]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      if (!labels.kind) continue;
      if (m[1] === 'seconds' && labels.outcome !== 'committed') continue;
      const key = m[1] === 'seconds' ? labels.kind : `${labels.kind}:${labels.phase}`;
      const h = out.get(key) ?? { buckets: new Map(), sum: 0, count: 0 };
      const v = Number(m[4]);
      if (m[2] === 'bucket') {
        const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
        h.buckets.set(le, (h.buckets.get(le) ?? 0) + v);
      } else if (m[2] === 'sum') h.sum += v;
      else h.count += v;
      out.set(key, h);
    }
  }
  return out;
}

/** `command 1,234 turns, mean 8.1 ms, p50 ≤ 10 · p99 ≤ 50 ms (p99: begin ≤ 0.5, fence ≤ 5, work ≤ 10, commit ≤ 100) · signal …` */
export function turnLine(a: TurnHistograms, b: TurnHistograms): string {
  const delta = (key: string) => {
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
    return { count, mean: ((hb.sum - (ha?.sum ?? 0)) / count) * 1000, bound };
  };
  const parts: string[] = [];
  for (const kind of ['command', 'signal']) {
    const t = delta(kind);
    if (!t) continue;
    const phases = ['begin', 'fence', 'work', 'decide', 'commit'].flatMap((p) => {
      const d = delta(`${kind}:${p}`);
      return d ? [`${p} ${fmt(d.mean, 1)} / ${d.bound(0.99)}`] : [];
    });
    parts.push(`${kind} ${fmt(t.count)} turns, mean ${fmt(t.mean, 1)} ms, p50 ${t.bound(0.5)} · p99 ${t.bound(0.99)} ms${phases.length ? ` (by phase, mean / p99 ms: ${phases.join(', ')})` : ''}`);
  }
  return parts.join(' · ') || 'none';
}
