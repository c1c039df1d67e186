// The accounts replicas' turn histograms (raxx_accounts_turn_seconds and raxx_accounts_turn_phase_seconds) read from
// their /metrics, and a window's line: committed turns per kind (and how many did not commit), mean, the bucket bounds
// the p50 and p99 fall in, and the p99 bound of each phase — what a turn's transaction took and where, to tell time
// spent in turns from time spent waiting for one, and a slow COMMIT from a slow handler.
import { readHistograms, windowHist, type Hists } from './prom-histograms.js';
import { fmt } from './util.js';

export type TurnHistograms = Hists;

/** Turns by kind and outcome, and the commands' stages, summed over `urls` (the replicas' ops URLs). */
export function turnHistograms(urls: readonly string[]): Promise<TurnHistograms> {
  return readHistograms(urls, 'raxx_accounts_(?:turn_seconds|turn_phase_seconds|command_seconds)', (name, labels) => {
    if (name === 'raxx_accounts_command_seconds') return labels.stage ? `stage:${labels.stage}` : null;
    if (!labels.kind) return null;
    // Turns that did not commit (failed: retried; fenced_out: the partition moved) under their own keys: each cost a
    // transaction's work for nothing.
    if (name === 'raxx_accounts_turn_seconds') return labels.outcome === 'committed' ? labels.kind : `${labels.kind}!${labels.outcome}`;
    return `${labels.kind}:${labels.phase}`;
  });
}

/** `command 1,234 turns, mean 8.1 ms, p50 ≤ 10 · p99 ≤ 50 ms (p99: begin ≤ 0.5, fence ≤ 5, work ≤ 10, commit ≤ 100) · signal …` */
export function turnLine(a: TurnHistograms, b: TurnHistograms): string {
  const delta = (key: string) => {
    const h = windowHist(a, b, key);
    return h && { count: h.count, mean: (h.sum / h.count) * 1000, bound: h.bound };
  };
  const parts: string[] = [];
  for (const kind of ['command', 'signal']) {
    const t = delta(kind);
    if (!t) continue;
    const phases = ['begin', 'fence', 'work', 'decide', 'commit'].flatMap((p) => {
      const d = delta(`${kind}:${p}`);
      return d ? [`${p} ${fmt(d.mean, 1)} / ${d.bound(0.99)}`] : [];
    });
    const lost = ['failed', 'fenced_out'].flatMap((outcome) => {
      const n = delta(`${kind}!${outcome}`)?.count;
      return n ? [`${fmt(n)} ${outcome === 'failed' ? 'failed (retried)' : 'fenced out'}`] : [];
    });
    parts.push(
      `${kind} ${fmt(t.count)} turns${lost.length ? ` (and ${lost.join(', ')})` : ''}, mean ${fmt(t.mean, 1)} ms, p50 ${t.bound(0.5)} · p99 ${t.bound(0.99)} ms${phases.length ? ` (by phase, mean / p99 ms: ${phases.join(', ')})` : ''}`,
    );
  }
  return parts.join(' · ') || 'none';
}

/**
 * `queued mean 2.9 · p50 ≤ 2.5 · p99 ≤ 10 ms · decided …`: commands from their stream append until their turn began
 * and until their decision was in the private event log (raxx_accounts_command_seconds) — the wait before a turn,
 * which the turn line cannot show, beside the whole of the accounts' part.
 */
export function commandLine(a: TurnHistograms, b: TurnHistograms): string {
  const parts = ['queued', 'decided'].flatMap((stage) => {
    const h = windowHist(a, b, `stage:${stage}`);
    return h ? [`${stage} mean ${fmt((h.sum / h.count) * 1000, 1)} · p50 ${h.bound(0.5)} · p99 ${h.bound(0.99)} · p99.9 ${h.bound(0.999)} ms`] : [];
  });
  return parts.join(' · ') || 'none';
}
