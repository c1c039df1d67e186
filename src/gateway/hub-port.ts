// What the gateway needs from the market-data hub (src/gateway/market-data): the subset of `MarketDataHub` it calls.
import type { Line, TickKind } from '../contracts/index.js';

export interface ReplayResult {
  frames: string[];
  /** True when every frame after `afterSeq` up to `lastSeq` is still in the replay window. */
  complete: boolean;
  lastSeq: number;
}

export interface HubPort {
  /** uWS topic of a (line, kind, symbol): the Redis channel `md:<line>:<kind>:<symbol>`. */
  topic(line: Line, kind: TickKind, symbol: string): string;
  /** Refcounted: the hub subscribes Redis (and announces demand) on the first acquire, drops it on the last release. */
  acquire(line: Line, kind: TickKind, symbol: string): unknown;
  release(line: Line, kind: TickKind, symbol: string): unknown;
  /** Last-known-good frames, relabelled `"src":"lkg"`. */
  snapshot(line: Line, kind: TickKind, symbols: string[]): Promise<string[]>;
  /** Real-time frames of (kind, symbol) after `afterSeq`, from the replay window. */
  replay(kind: TickKind, symbol: string, afterSeq: number): Promise<ReplayResult>;
  /** Current hub status JSON (`HubStatus`), or null when the feed never wrote one. */
  status(): Promise<string | null>;
  close(): unknown;
}

/** What the gateway hands the hub: how to fan a packed payload out to a topic, and where status changes go. */
export interface HubOutlet {
  publish(topic: string, payload: string): void;
  onStatus(statusJson: string): void;
}
