// bench:fanout scenarios, as data. The sim's universe is exactly the scenario's symbols (SIM_SYMBOLS = FEED_SYMBOLS),
// so the whole simulator rate lands on them; each connection subscribes quotes + trades of `symbolsPerConnection` of
// them (a rotating window over the universe, see `symbolsFor`). The sim skews activity towards the first symbols, so
// the offered rate per connection is measured on Redis, not assumed.

export interface Scenario {
  name: string;
  description: string;
  /** WebSocket connections in all. */
  connections: number;
  /** Client processes (forked), each holding connections / clientProcesses sockets. */
  clientProcesses: number;
  /** Universe: SIM_SYMBOLS and FEED_SYMBOLS. */
  symbols: number;
  /** Distinct symbols each connection subscribes (quotes + trades). */
  symbolsPerConnection: number;
  /** Simulator rate: quotes + trades per second over the whole universe. 0 = idle. */
  rate: number;
  /** Measured window. */
  seconds: number;
  /** After every connection is subscribed, before measuring. */
  warmupSeconds: number;
  /** Fraction of connections that stop reading after subscribing (slow consumers); excluded from latency and gaps. */
  slowFraction: number;
  /** Which published targets this scenario is the one to compare against. */
  targets: ReadonlyArray<'connections' | 'throughput' | 'latency-20k' | 'latency-100k' | 'slow' | 'storm'>;
  /** Load client: the native epoll client (default; bench/fanout/native/client.c) or the Node `ws` client. */
  client?: 'native' | 'ws';
  /** Run the same scenario against the plain `ws` broadcast server too (default true). */
  baseline?: boolean;
  /**
   * steady (default): one measured window. slow: a window with every connection reading, then (new clients, same
   * gateway) a window with `slowFraction` of them never reading; healthy clients' p99 compared. storm: after the
   * window every connection is reset at once and reconnects with `resume`; time to the last resume answer, gaps.
   */
  mode?: 'steady' | 'slow' | 'storm';
  /** storm: reconnect handshakes in flight per client process (browsers coming back at once). Default 256. */
  stormConcurrency?: number;
  /** SIM_BATCH_MS: the simulator stamps ticks across its batch period, so it bounds the latency floor. Default 1. */
  simBatchMs?: number;
  /**
   * Distinct users the connections belong to (connection i is user i mod `users`), each seeded in PostgreSQL with
   * its own session token; native client only. Default 1: every connection is the seeded `demo-pro` user.
   */
  users?: number;
}

const IDLE_HOLD: Scenario = {
  name: 'idle-hold',
  description: '19,000 idle connections (1 symbol each, simulator at 0 msgs/s) for RSS per connection',
  connections: 19_000,
  clientProcesses: 2,
  symbols: 1,
  symbolsPerConnection: 1,
  rate: 0,
  seconds: 3,
  warmupSeconds: 5,
  slowFraction: 0,
  targets: ['connections'],
};

const STORM: Scenario = {
  name: 'storm',
  description: '10,000 clients × 1 of 20 symbols at 200 msgs/s, all reset at once, reconnecting with resume',
  connections: 10_000,
  clientProcesses: 2,
  symbols: 20,
  symbolsPerConnection: 1,
  rate: 200,
  seconds: 5,
  warmupSeconds: 3,
  slowFraction: 0,
  targets: ['storm'],
  mode: 'storm',
  stormConcurrency: 256, // 5,000 (all at once) was slower: 51.8 s, 72 handshakes timed out (docs/bench-fanout.md)
  baseline: false,
};

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'smoke',
    description: 'harness check: 200 connections on 2 symbols at 200 msgs/s (40,000 msgs/s to read)',
    connections: 200,
    clientProcesses: 1,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 200,
    seconds: 5,
    warmupSeconds: 2,
    slowFraction: 0,
    targets: [],
  },
  {
    name: 'dense',
    description: 'dense streams: 1,000 connections on the same 2 symbols at 400 msgs/s (400,000 msgs/s to read)',
    connections: 1_000,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 400,
    seconds: 10,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: ['throughput'],
  },
  {
    name: 'dense-hot',
    description: 'denser streams: 200 connections on the same 2 symbols at 2,000 msgs/s each (400,000 msgs/s to read)',
    connections: 200,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 2_000,
    seconds: 10,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: ['throughput'],
  },
  {
    name: 'latency-20k',
    description: '2,000 clients × 5 of 50 symbols at 100 msgs/s (20,000 msgs/s delivered)',
    connections: 2_000,
    clientProcesses: 1,
    symbols: 50,
    symbolsPerConnection: 5,
    rate: 100,
    seconds: 15,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: ['latency-20k'],
  },
  {
    name: 'latency-100k',
    description: '2,000 clients × 5 of 50 symbols at 500 msgs/s (100,000 msgs/s delivered)',
    connections: 2_000,
    clientProcesses: 1,
    symbols: 50,
    symbolsPerConnection: 5,
    rate: 500,
    seconds: 15,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: ['latency-100k'],
  },
  {
    name: 'slow-10',
    description: 'dense (1,000 × 2 hot symbols, 400 msgs/s each), then the same with 10 % of the clients never reading',
    connections: 1_000,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 400,
    seconds: 20,
    warmupSeconds: 5,
    slowFraction: 0.1,
    targets: ['slow'],
    mode: 'slow',
    baseline: false,
  },
  IDLE_HOLD,
  {
    ...IDLE_HOLD,
    name: 'idle-hold-users',
    description: '19,000 idle connections of 19,000 users (one each, as browsers are): the per-user state the gateway keeps too',
    users: 19_000,
    baseline: false,
  },
  STORM,
  { ...STORM, name: 'storm-users', description: `${STORM.description}; 10,000 users, one socket each`, users: 10_000 },
  {
    name: 'dense-ws-client',
    description: 'the old harness: dense at 100 msgs/s read by Node `ws` client processes (saturate near 100k msgs/s)',
    connections: 1_000,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 100,
    seconds: 10,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: [],
    client: 'ws',
  },
];

export const DEFAULT_SCENARIOS = ['smoke'];

/** The symbols connection `index` (0-based, global) subscribes: a window of the universe rotating by connection. */
export function symbolsFor(index: number, universe: readonly string[], perConnection: number): string[] {
  const n = Math.min(perConnection, universe.length);
  const start = (index * n) % universe.length;
  const out: string[] = [];
  for (let k = 0; k < n; k++) out.push(universe[(start + k) % universe.length] as string);
  return out;
}

/** Every round(1/fraction)-th connection is slow (deterministic, spread over the client processes). */
export function isSlow(index: number, fraction: number): boolean {
  if (fraction <= 0) return false;
  return index % Math.max(1, Math.round(1 / fraction)) === 0;
}

/** Kinds each connection subscribes (channel quotes → kind q, trades → t). */
export const KINDS = ['q', 't'] as const;
