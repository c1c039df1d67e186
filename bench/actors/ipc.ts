// Messages between bench:actors (parent) and its load-generator processes (client.ts).
import type { OpenLoopStep } from '../shared/open-loop.js';

export interface BenchUser {
  id: string;
  token: string;
}

export type ParentMessage =
  | { type: 'config'; url: string; users: BenchUser[]; sockets: number; timeoutMs: number }
  | ({ type: 'run' } & OpenLoopStep)
  | { type: 'stop' };

export interface ClientReport {
  type: 'report';
  /** Requests whose intended send time fell in the measured window. */
  scheduled: number;
  accepted: number;
  rejected: number;
  /** 504 decision_pending: appended, not decided within the gateway's wait. */
  pending: number;
  /** No answer within the client timeout. */
  timeouts: number;
  /** Other HTTP statuses (429 included) and network errors, by key. */
  errors: Record<string, number>;
  /** 200 answers that completed inside the measured window (any intended time): the achieved rate. */
  completedInWindow: number;
  /** Every 200 answer of the run, warm-up included (for the processed_commands check). */
  answered: number;
  /** hdr-histogram (µs), compressed base64: intended send → 200 with the decision. */
  latency: string;
  /** hdr-histogram (µs): actual dispatch − intended send time (the generator's own lag behind its schedule). */
  sendLag: string;
  /** Event-loop delay p99 (ms) over the measured window. */
  loopP99Ms: number;
  /** Most requests in flight at once. */
  maxInFlight: number;
}

export type ChildMessage = { type: 'ready' } | ClientReport | { type: 'error'; message: string };
