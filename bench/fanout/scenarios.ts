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
  targets: ReadonlyArray<'connections' | 'throughput' | 'latency'>;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'smoke',
    description: 'harness check: 200 connections on 2 symbols at 2,000 msgs/s',
    connections: 200,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 2_000,
    seconds: 8,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: ['throughput'],
  },
  {
    name: 'light',
    description: '200 connections on 2 symbols at 100 msgs/s (20,000 msgs/s delivered): far below the load generator\'s limit, for latency',
    connections: 200,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 100,
    seconds: 10,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: [],
  },
  {
    name: 'dense',
    description: 'many clients on few symbols: 1,000 connections on 2 symbols at 100 msgs/s (sized to what 2 Node client processes can read)',
    connections: 1_000,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 100,
    seconds: 10,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: ['throughput'],
  },
  {
    name: 'wide',
    description: '2,000 clients × 20 symbols (of 500) at 20,000 msgs/s',
    connections: 2_000,
    clientProcesses: 2,
    symbols: 500,
    symbolsPerConnection: 20,
    rate: 20_000,
    seconds: 10,
    warmupSeconds: 4,
    slowFraction: 0,
    targets: ['throughput', 'latency'],
  },
  {
    name: 'wide-light',
    description: '2,000 clients × 20 symbols (of 500) at 2,000 msgs/s: the wide shape at a rate the load generator can read',
    connections: 2_000,
    clientProcesses: 2,
    symbols: 500,
    symbolsPerConnection: 20,
    rate: 2_000,
    seconds: 10,
    warmupSeconds: 4,
    slowFraction: 0,
    targets: [],
  },
  {
    name: 'idle-hold',
    description: 'up to 19,000 idle connections (1 symbol each, simulator at 0 msgs/s) for RSS per connection',
    connections: 19_000,
    clientProcesses: 4,
    symbols: 1,
    symbolsPerConnection: 1,
    rate: 0,
    seconds: 5,
    warmupSeconds: 3,
    slowFraction: 0,
    targets: ['connections'],
  },
  {
    name: 'slow-10',
    description: 'dense with 10 % of the connections no longer reading (slow consumers)',
    connections: 1_000,
    clientProcesses: 2,
    symbols: 2,
    symbolsPerConnection: 2,
    rate: 100,
    seconds: 10,
    warmupSeconds: 5,
    slowFraction: 0.1,
    targets: [],
  },
];

export const DEFAULT_SCENARIOS = ['smoke', 'wide-light'];

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
