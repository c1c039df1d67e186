// Public shapes of the feed leader's upstream connection (the one Alpaca market-data WebSocket).
import type { TickKind } from '../../../contracts/index.js';
import type { Logger } from '../../../infra/logging/index.js';

/** Alpaca stock feeds (the path appended to the base URL: `/v2/{feed}`). */
export type UpstreamFeed = 'sip' | 'iex' | 'delayed_sip' | 'test';

export type UpstreamState = 'idle' | 'connecting' | 'live' | 'backoff' | 'stopped';

/**
 * One upstream tick, normalised once so the publisher can write `{"T":kind,"S":symbol,...fields,"t":t}`.
 * `fields` keeps Alpaca's names (bp, bs, ap, as, p, s, o, h, l, c, v, sc, …) without T, S and t; integers that
 * msgpack delivered as bigint are numbers when safe, decimal strings otherwise.
 */
export interface UpstreamTick {
  kind: TickKind;
  symbol: string;
  /** RFC 3339, UTC, always 9 fractional digits: `2026-03-02T14:30:00.123456789Z`. */
  t: string;
  /** The same instant in nanoseconds since the Unix epoch. */
  tNs: bigint;
  fields: Record<string, unknown>;
  /** True while the upstream is `delayed_sip` (configured, or after a 409 fallback). */
  delayed: boolean;
}

export interface UpstreamStats {
  /** Connection attempts (socket opens tried). */
  connects: number;
  /** Data messages accepted and passed to `onTicks`. */
  messages: number;
  /** Data messages skipped as malformed, unknown `T` or missing fields (not counting out-of-order). */
  skipped: number;
  /** Data messages older than the last one of the same (kind, symbol): counted and skipped. */
  outOfOrder: number;
  /** Reconnects scheduled after a connection was lost, refused or rejected. */
  reconnects: number;
}

/** State changes and faults, for logs, metrics and the hub status. */
export type UpstreamEvent =
  | { type: 'state'; state: UpstreamState; previous: UpstreamState }
  | { type: 'connecting'; feed: string; attempt: number }
  | { type: 'live'; feed: string; keyId: string }
  | { type: 'subscribed'; symbols: number }
  | { type: 'disconnected'; reason: string; code?: number }
  | { type: 'backoff'; delayMs: number; attempt: number; reason: string }
  /** 406: the key's slot is held elsewhere (e.g. a frozen former leader); `attempts` counts consecutive 406s. */
  | { type: 'slot_busy'; attempts: number; delayMs: number }
  /** 402: fatal until `reconnect()` (after a key rotation). */
  | { type: 'auth_failed'; code: number; message: string }
  /** 409 on sip: now on delayed_sip. */
  | { type: 'feed_fallback'; from: string; to: string }
  /** 409 on a feed with no fallback: fatal until `reconnect()`. */
  | { type: 'insufficient_subscription'; feed: string }
  /** 405: the subscribe was refused; the subscription stays as the server left it. */
  | { type: 'symbol_limit'; requested: number; subscribed: number }
  | { type: 'stall'; action: 'resubscribe' | 'reconnect'; silentMs: number }
  /** Any other error frame (400, 401, 403, 404, 407, 410, 500…). */
  | { type: 'upstream_error'; code: number; message: string };

export interface UpstreamOptions {
  /** Base URL, e.g. `ws://127.0.0.1:8710` (ALPACA_DATA_STREAM_URL); `/v2/{feed}` is appended. */
  url: string;
  feed: UpstreamFeed;
  /** Read at every connect, so a rotated key is used on the next connect. */
  credentials(): { keyId: string; secret: string };
  /** One call per upstream frame that carried data, in order. */
  onTicks(ticks: UpstreamTick[]): void;
  onEvent(event: UpstreamEvent): void;
  /** The stall watchdog only fires while this returns true. */
  isMarketOpen(): boolean;
  /** Default 15000: no data while subscribed and open → resubscribe, then (another timeout) reconnect. */
  stallTimeoutMs?: number;
  /** Default 500 ms … 30 s, ±20 %. */
  backoff?: { initialMs?: number; maxMs?: number; jitter?: number };
  /** Default 10000 (±jitter): wait after 406 before trying the slot again. */
  slotBackoffMs?: number;
  /** Default 10000: a connection not authenticated by then is closed and retried with backoff. */
  connectTimeoutMs?: number;
  /** Default 30000: a connection live this long resets the backoff sequence. */
  healthyAfterMs?: number;
  log?: Logger;
}

export interface Upstream {
  /** Connect (idempotent; no-op once stopped). */
  start(): void;
  /** Close and stop reconnecting (idempotent); resolves when the socket has closed. */
  stop(reason: string): Promise<void>;
  /** Close and connect again now with fresh credentials and the configured feed (e.g. key rotated, after 402). */
  reconnect(reason: string): void;
  /** Desired symbol set: diffed against the subscription, applied now if live and re-applied after every connect. */
  setSymbols(symbols: ReadonlySet<string>): void;
  readonly state: UpstreamState;
  /** The feed in use: 'delayed_sip' after a 409 fallback from sip. */
  readonly activeFeed: string;
  readonly stats: Readonly<UpstreamStats>;
}
