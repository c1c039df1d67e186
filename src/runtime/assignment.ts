// Deterministic partition assignment over the live members: every replica computes the same answer.
import { fnv1a } from './envelope.js';

/**
 * Rendezvous hashing with exact capacities floor(P / n) or ceil(P / n): partition p goes to the highest-scoring member
 * (score = FNV-1a(member + ":" + p)) that is not full yet. Same members → same map on every replica; the
 * capacities keep shares within one partition of each other; a join or leave moves few partitions.
 */
export function assignPartitions(partitions: number, members: readonly string[]): Map<number, string> {
  const live = [...new Set(members)].sort();
  const out = new Map<number, string>();
  if (live.length === 0) return out;
  const base = Math.floor(partitions / live.length);
  const extra = partitions % live.length;
  // Exact fair shares: the first `extra` members (sorted by id) may take one more.
  const cap = new Map(live.map((m, i) => [m, base + (i < extra ? 1 : 0)]));
  const load = new Map(live.map((m) => [m, 0]));
  for (let p = 0; p < partitions; p++) {
    const ranked = live.map((m) => ({ m, s: fnv1a(`${m}:${p}`) })).sort((a, b) => b.s - a.s || (a.m < b.m ? -1 : 1));
    const pick = ranked.find((r) => load.get(r.m)! < cap.get(r.m)!)!;
    load.set(pick.m, load.get(pick.m)! + 1);
    out.set(p, pick.m);
  }
  return out;
}
