// Messages between bench:actors (parent) and its load-generator processes (client.ts).
import type { GeneratorCounts, OpenLoopStep } from '../shared/open-loop.js';

/** What every generator sends: `account.adjust_cash` +1.00 / −1.00 alternating per user (always accepted, balances stay put). */
export const COMMAND_BODIES = ['1.00', '-1.00'].map((amount) => JSON.stringify({ type: 'account.adjust_cash', payload: { amount, reason: 'bench' } }));

export interface BenchUser {
  id: string;
  token: string;
}

export type ParentMessage =
  | { type: 'config'; url: string; users: BenchUser[]; sockets: number; timeoutMs: number }
  | ({ type: 'run' } & OpenLoopStep)
  | { type: 'stop' };

/** A generator's report of one step: the counters every generator keeps, and its histograms. */
export interface ClientReport extends GeneratorCounts {
  type: 'report';
  /** hdr-histogram (µs), compressed base64: intended send → 200 with the decision. */
  latency: string;
  /** hdr-histogram (µs): actual dispatch − intended send time (the generator's own lag behind its schedule). */
  sendLag: string;
  /** Event-loop delay p99 (ms) over the measured window (0 for the native generator: it has none). */
  loopP99Ms: number;
  /** Native generator: requests that fell due while every connection was held by the server (their wait is latency). */
  connWaits?: number;
}

export type ChildMessage = { type: 'ready' } | ClientReport | { type: 'error'; message: string };
