// Market-data contracts shared by the feed, gateways and accounts: Redis keys, pub/sub channels, frame shape, demand.
import { z } from 'zod';

/**
 * Tick kinds, as Alpaca's `T`: quote, trade, minute bar, updated bar, daily bar, trading status, LULD band.
 * Every kind has its own contiguous `seq` per symbol.
 */
export const tickKinds = ['q', 't', 'b', 'u', 'd', 's', 'l'] as const;
export type TickKind = (typeof tickKinds)[number];

/** Freshness label every frame carries (data licensing): real-time, 15-minute delayed, or a last-known-good snapshot. */
export type Freshness = 'rt' | 'delayed' | 'lkg';

/** The two published lines: real-time ticks, and the delay line Free users see. */
export type Line = 'rt' | 'dl';

/** Symbols as Alpaca writes them (upper case, dots for classes such as BRK.B). */
export const symbolSchema = z.string().regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'not a valid symbol');

/**
 * Every feed key shares the hash tag `{md}`, so the fenced publish script can touch all of them in one
 * Redis Cluster slot.
 */
export const marketDataKeys = {
  /** Leader lease: value `<epoch>:<owner>`, PX = lease TTL. */
  lease: '{md}:lease',
  /** Fencing epoch counter (INCR on every takeover; never reset). */
  epoch: '{md}:epoch',
  /** Hash field `<kind>:<symbol>` → last assigned seq (continues across leaders). */
  seq: '{md}:seq',
  /** Hash field `<kind>:<symbol>` → last real-time frame (last-known-good). */
  lkg: '{md}:lkg',
  /** Hash field `<kind>:<symbol>` → last delayed frame (Free tier's last-known-good). */
  lkgDelayed: '{md}:lkg:dl',
  /** Stream of every real-time tick of one (kind, symbol), trimmed to the replay window; fields `s` (seq), `f` (frame). */
  replay: (kind: TickKind, symbol: string) => `{md}:rw:${kind}:${symbol}`,
  /** Stream of conflated ticks waiting out the delay; fields `k`, `S`, `s`, `f` (the delayed frame). */
  delay: '{md}:delay',
  /** Upstream/hub status as JSON (`HubStatus`), for gateways that start while degraded. */
  status: '{md}:status',
  /** Runtime kill switch: `1` = market data disabled (set by the ops CLI). */
  killSwitch: '{md}:kill',
  /** Demand lease of one owner (a gateway, an accounts replica): a SET of symbols with a TTL. */
  demand: (owner: string) => `{md}:demand:${owner}`,
  demandPattern: '{md}:demand:*',
} as const;

export const marketDataChannels = {
  /** One channel per (line, kind, symbol), so a gateway subscribes only to what its sockets want. */
  tick: (line: Line, kind: TickKind, symbol: string) => `md:${line}:${kind}:${symbol}`,
  /** Hub status changes (`HubStatus` JSON): degraded/live banner for every client. */
  status: 'md:status',
  /** A demand owner changed its set: the leader recomputes the union at once instead of at its next poll. */
  demandChanged: 'md:demand:changed',
} as const;

/** The (line, kind, symbol) of a channel named by `marketDataChannels.tick` (symbols hold no ':'). */
export function parseTickChannel(channel: string): { line: Line; kind: TickKind; symbol: string } {
  const a = channel.indexOf(':', 3);
  const b = channel.indexOf(':', a + 1);
  return { line: channel.slice(3, a) as Line, kind: channel.slice(a + 1, b) as TickKind, symbol: channel.slice(b + 1) };
}

/**
 * A tick frame as published: Alpaca's field names (`T`, `S`, `bp`, `bs`, `ap`, `as`, `p`, `s`, `t`, bar `o/h/l/c/v`…)
 * plus `src` and `seq`, serialised once by the feed. `t` is RFC 3339 with nanoseconds. Gateways never re-serialise it.
 */
export const tickFrameSchema = z
  .object({
    T: z.enum(tickKinds),
    S: symbolSchema,
    t: z.string(),
    src: z.enum(['rt', 'delayed', 'lkg']),
    seq: z.number().int().positive(),
  })
  .passthrough();
export type TickFrame = z.infer<typeof tickFrameSchema>;

export const hubStatusSchema = z.object({
  /** live: real-time upstream; delayed: upstream itself is delayed_sip (entitlement fallback); degraded: serving last-known-good. */
  state: z.enum(['live', 'delayed', 'degraded']),
  reason: z.string().optional(),
  since: z.string(),
});
export type HubStatus = z.infer<typeof hubStatusSchema>;

/** How long a demand lease lives without renewal; owners renew at a third of it. */
export const DEMAND_LEASE_MS = 30_000;
