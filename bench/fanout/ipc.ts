// Messages between bench/fanout/run.ts (parent) and bench/fanout/client.ts (forked load clients).

export interface ClientConfig {
  type: 'config';
  /** ws://host:port/ws */
  url: string;
  origin: string;
  token: string;
  /** Global index of this process's first connection, and how many it holds. */
  firstIndex: number;
  count: number;
  universe: string[];
  symbolsPerConnection: number;
  slowFraction: number;
  /** Connections opening at once in this process. */
  concurrency: number;
  /** After this long the process stops opening connections, drops the pending ones and reports what is open. */
  connectDeadlineMs: number;
}

export type ParentMessage = ClientConfig | { type: 'reset' } | { type: 'report' } | { type: 'stop' };

export interface ClientReport {
  type: 'report';
  /** ms the process measured since the last reset. */
  windowMs: number;
  /** Real-time frames received by reading connections (snapshots `lkg` excluded). */
  frames: number;
  /** WebSocket messages carrying those frames (arrays). */
  wsMessages: number;
  /** Frames received by slow (paused) connections. */
  slowFrames: number;
  /** Missing seqs per (kind, symbol) per reading connection, after its first frame of that key. */
  gaps: number;
  /** Frames with a seq at or below the highest already seen (snapshot overlap or duplicates). */
  stale: number;
  /** HDR histogram of (receive time − frame `t`) in µs, compressed base64. */
  histogram: string;
  /** Event-loop delay of this process in the window, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  /** Sockets closed or errored since connecting. */
  closed: number;
}

export interface ClientConnected {
  type: 'connected';
  open: number;
  failed: number;
  /** First failure reasons (up to 5). */
  errors: string[];
  /** Global indices of the connections that did not open (excluded from the offered rate). */
  failedIndices: number[];
  ms: number;
}

export type ChildMessage = ClientConnected | ClientReport;
