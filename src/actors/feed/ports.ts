// What the feed actor needs from the outside world, as narrow ports (the composition root adapts Redis, BullMQ, PostgreSQL).
import type { HubStatus, TickKind } from '../../contracts/index.js';

/** One normalised upstream tick: Alpaca field names, timestamp as RFC 3339 with nanoseconds. */
export interface FeedTick {
  kind: TickKind;
  symbol: string;
  /** RFC 3339, 9 fractional digits, UTC. */
  t: string;
  /** Every other Alpaca field (bp, bs, ap, as, p, s, o, h, l, c, v, …), in upstream order. */
  fields: Record<string, unknown>;
  /** True when the upstream itself is delayed (entitlement fallback to delayed_sip). */
  delayed: boolean;
}

export interface LeasePort {
  /** Takes the lease if free, renews it if ours; the epoch grows on every takeover. */
  acquireOrRenew(): Promise<{ leader: boolean; epoch: number }>;
  release(epoch: number): Promise<void>;
}

export interface TickSinkPort {
  /** Publishes a batch atomically under `epoch`; 'fenced' when the lease moved on (nothing was published). */
  publish(epoch: number, ticks: readonly FeedTick[]): Promise<'ok' | 'fenced'>;
}

export interface DelayLinePort {
  /** Republishes delay-line entries that have waited out the delay; 'fenced' when no longer leader. */
  releaseDue(epoch: number): Promise<{ released: number; lagMs: number } | 'fenced'>;
}

export interface DemandPort {
  /** Symbols wanted by gateways and accounts replicas whose leases are alive. */
  union(): Promise<Set<string>>;
  /** Called when an owner announces a change; returns an unsubscribe function. */
  onChange(listener: () => void): Promise<() => Promise<void>>;
}

export interface RulesPort {
  /** Enabled bar-close rules: rule id → symbols. */
  load(): Promise<Map<string, readonly string[]>>;
}

export interface BarJobsPort {
  /** One job per rule for a closed minute bar; duplicates of (rule, symbol, bar time) are dropped. */
  enqueue(tick: FeedTick, ruleIds: readonly string[]): Promise<void>;
}

export interface HubStatusPort {
  /** Fenced by `epoch` like the tick publishes: a former leader's write is refused ('fenced'), never shown. */
  set(epoch: number, status: HubStatus): Promise<'ok' | 'fenced'>;
  /** The runtime kill switch kept in Redis (read per check, never cached). */
  killSwitchOn(): Promise<boolean>;
}

export interface UpstreamPort {
  start(): void;
  stop(reason: string): Promise<void>;
  reconnect(reason: string): void;
  setSymbols(symbols: ReadonlySet<string>): void;
  readonly state: string;
}
