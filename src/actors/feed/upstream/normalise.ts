// Turns one decoded Alpaca data message into an UpstreamTick, or counts and skips it: malformed, unknown `T`,
// missing fields, bad timestamp, or older than the last tick of the same (kind, symbol).
import { symbolSchema, tickKinds, type TickKind } from '../../../contracts/index.js';
import type { UpstreamStats, UpstreamTick } from './types.js';

const NS_PER_S = 1_000_000_000n;
const KINDS: ReadonlySet<string> = new Set(tickKinds);
/** Real Alpaca stock messages the feed does not republish (corrections, cancel errors, imbalances): ignored, not bad. */
const NOT_PUBLISHED: ReadonlySet<string> = new Set(['c', 'x', 'i']);

/** Fields each kind must carry as numbers (or, for `s`, as strings) to be worth publishing. */
const REQUIRED_NUMBERS: Record<TickKind, readonly string[]> = {
  q: ['bp', 'bs', 'ap', 'as'],
  t: ['p', 's'],
  b: ['o', 'h', 'l', 'c', 'v'],
  u: ['o', 'h', 'l', 'c', 'v'],
  d: ['o', 'h', 'l', 'c', 'v'],
  s: [],
  l: ['u', 'd'],
};
const REQUIRED_STRINGS: Partial<Record<TickKind, readonly string[]>> = { s: ['sc'] };

export type SkipReason = 'not_published' | 'malformed' | 'unknown_type' | 'bad_symbol' | 'missing_field' | 'bad_timestamp' | 'out_of_order';

export interface TickNormaliser {
  /** The tick, or undefined when the message was skipped (and counted in the stats). */
  normalise(message: unknown, delayed: boolean): UpstreamTick | undefined;
  /** Why the last `normalise` returned undefined. */
  readonly lastSkip: SkipReason | undefined;
  /** Forget the ordering state: of some symbols (unsubscribed) or of all (the feed changed, e.g. to delayed_sip). */
  forget(symbols?: Iterable<string>): void;
}

type CountingStats = Pick<UpstreamStats, 'messages' | 'skipped' | 'outOfOrder'>;

export function createTickNormaliser(stats: CountingStats): TickNormaliser {
  const lastNs = new Map<string, bigint>();
  let lastSkip: SkipReason | undefined;

  function skip(reason: SkipReason): undefined {
    lastSkip = reason;
    if (reason === 'out_of_order') stats.outOfOrder++;
    else if (reason !== 'not_published') stats.skipped++;
    return undefined;
  }

  function normalise(message: unknown, delayed: boolean): UpstreamTick | undefined {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return skip('malformed');
    const m = message as Record<string, unknown>;
    const kind = m.T;
    if (typeof kind !== 'string' || !KINDS.has(kind)) return skip(NOT_PUBLISHED.has(kind as string) ? 'not_published' : 'unknown_type');
    const symbol = m.S;
    if (typeof symbol !== 'string' || !symbolSchema.safeParse(symbol).success) return skip('bad_symbol');
    const k = kind as TickKind;
    for (const f of REQUIRED_NUMBERS[k]) if (!isNumeric(m[f])) return skip('missing_field');
    for (const f of REQUIRED_STRINGS[k] ?? []) if (typeof m[f] !== 'string') return skip('missing_field');
    const tNs = timestampNs(m.t);
    if (tNs === undefined) return skip('bad_timestamp');

    const key = `${k}:${symbol}`;
    const prev = lastNs.get(key);
    if (prev !== undefined && tNs < prev) return skip('out_of_order');
    lastNs.set(key, tNs);

    const fields: Record<string, unknown> = {};
    for (const name in m) {
      if (name === 'T' || name === 'S' || name === 't') continue;
      const v = m[name];
      fields[name] = typeof v === 'bigint' ? bigintValue(v) : v;
    }
    stats.messages++;
    lastSkip = undefined;
    return { kind: k, symbol, t: formatRfc3339Ns(tNs), tNs, fields, delayed };
  }

  function forget(symbols?: Iterable<string>): void {
    if (!symbols) {
      lastNs.clear();
      return;
    }
    for (const s of symbols) for (const k of tickKinds) lastNs.delete(`${k}:${s}`);
  }

  return {
    normalise,
    forget,
    get lastSkip() {
      return lastSkip;
    },
  };
}

function isNumeric(v: unknown): boolean {
  return (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint';
}

function bigintValue(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Nanoseconds since the epoch from what the SDK's msgpack codec yields for the timestamp extension (−1): an object
 * with `epochSeconds` and `nanos` (its StreamTimestamp). Also accepts `{sec, nsec}`, and RFC 3339 strings (JSON).
 */
export function timestampNs(v: unknown): bigint | undefined {
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const sec = o.epochSeconds ?? o.sec;
    const nsec = o.nanos ?? o.nsec;
    if (!isWhole(sec) || !isWhole(nsec)) return undefined;
    const s = BigInt(sec);
    const n = BigInt(nsec);
    if (s < 0n || n < 0n || n >= NS_PER_S) return undefined;
    return s * NS_PER_S + n;
  }
  if (typeof v === 'string') {
    const m = RFC3339.exec(v);
    if (!m) return undefined;
    const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
    if (!Number.isFinite(ms) || ms < 0) return undefined;
    return BigInt(ms / 1000) * NS_PER_S + BigInt((m[2] ?? '').padEnd(9, '0'));
  }
  return undefined;
}

function isWhole(v: unknown): v is number | bigint {
  return (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint';
}

/** `2026-03-02T14:30:00.123456789Z` from nanoseconds since the epoch. */
export function formatRfc3339Ns(tNs: bigint): string {
  const sec = tNs / NS_PER_S;
  const ns = tNs % NS_PER_S;
  return `${new Date(Number(sec) * 1000).toISOString().slice(0, 19)}.${ns.toString().padStart(9, '0')}Z`;
}
