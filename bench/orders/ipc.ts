// Messages between bench:orders (parent, run.ts) and its load-generator processes (client.ts).
import type { OpenLoopStep } from '../shared/open-loop.js';
import type { BenchSymbol } from './market.js';

export interface BenchUser {
  id: string;
  token: string;
}

export type ParentMessage =
  | {
      type: 'config';
      /** The gateway's public URL (http://…); the trade_updates stream is its ws:// twin at /paper/stream. */
      url: string;
      users: BenchUser[];
      symbols: BenchSymbol[];
      /** CLOCK_OFFSET_MS of every process: a quote's timestamp minus this is machine time (Date.now()). */
      offsetMs: number;
      sockets: number;
      timeoutMs: number;
    }
  | ({
      type: 'run';
      /** After the last answer: how long to wait for the fill events of the window's accepted orders. */
      fillWaitMs: number;
    } & OpenLoopStep)
  /** The cumulative counters now (read between steps, next to PostgreSQL's row counts). */
  | { type: 'totals' }
  | { type: 'stop' };

/** Counters since the process started (the parent diffs two readings against PostgreSQL's rows). */
export interface ClientTotals {
  type: 'totals';
  /** HTTP 200 answers with an accepted order (vs `orders` rows). */
  accepted: number;
  /** fill / partial_fill events received (vs `fills` rows). */
  fillEvents: number;
  /** Stream sockets closed by the server (each one loses fill events). */
  streamCloses: number;
}

export interface ClientReport {
  type: 'report';
  /** Orders whose intended send time fell in the measured window. */
  scheduled: number;
  /** HTTP 200 with an accepted order (our client_order_id, an open or filled status). */
  accepted: number;
  /** Alpaca-shaped refusals (4xx with `{code, message}`), by `<status> <code>`, with one message each. */
  rejected: Record<string, { count: number; message: string }>;
  /** 504 (appended, not decided within the gateway's wait). */
  pending: number;
  /** No answer within the client timeout. */
  timeouts: number;
  /** 5xx other than 504, 200 bodies that are not an accepted order, network errors — by key. */
  errors: Record<string, number>;
  /** Accepted answers that completed inside the window (any intended time): the achieved rate. */
  completedInWindow: number;
  /** Buys / sells and market / limit among the window's accepted orders. */
  mix: { buy: number; sell: number; market: number; limit: number };
  /** trade_updates events that arrived inside the window, by event name. */
  events: Record<string, number>;
  /** Accepted orders of the window with no terminal event (fill, canceled, …) once `fillWaitMs` had passed. */
  unfilled: number;
  /** hdr-histogram (µs), compressed base64: intended send → the HTTP answer with the decision (accepted or refused). */
  decision: string;
  /** hdr (µs): the quote's timestamp → the fill event's arrival on the client's /paper/stream socket. */
  quoteToFill: string;
  /** hdr (µs): intended send → the order's (last) fill event. */
  submitToFill: string;
  /** hdr (µs): actual dispatch − intended send time (the generator's own lag behind its schedule). */
  sendLag: string;
  /** Event-loop delay p99 (ms) over the measured window. */
  loopP99Ms: number;
  maxInFlight: number;
}

export type ChildMessage = { type: 'ready'; sockets: number } | ClientReport | ClientTotals | { type: 'error'; message: string };
