// Quotes for the engine from the market-data hub: a hub frame as an MBT quote input, the last-known-good quote
// before a submit, and the last real-time quote before a close for the settle marks.
import type { Redis } from 'ioredis';
import { marketDataKeys } from '../../../contracts/market-data.js';
import { mbt } from '../../../domain/index.js';

/** Reads the hub's quotes (one Redis round trip per call, whatever the number of symbols). */
export interface MarketQuotes {
  /** The last-known-good real-time quote frame of each symbol that has one (`{md}:lkg`, field `q:<SYM>`). */
  latest(symbols: readonly string[]): Promise<Map<string, unknown>>;
  /**
   * The last real-time quote frame stamped before `closeMs` of each symbol: from the replay window when it reaches
   * back that far, else the last-known-good frame if it is older than the close; symbols with neither are absent.
   */
  before(symbols: readonly string[], closeMs: number): Promise<Map<string, unknown>>;
}

const FRACTION = /\.(\d{1,9})/;

/** Epoch ms of an RFC 3339 time with up to nanoseconds (the hub's `t`); NaN when it is not one. */
export function frameTimeMs(t: unknown): number {
  if (typeof t !== 'string') return Number.NaN;
  // Date.parse reads milliseconds only: cut the fraction to 3 digits first.
  return Date.parse(t.replace(FRACTION, (_m, f: string) => `.${f.slice(0, 3).padEnd(3, '0')}`));
}

/**
 * A hub quote frame (`{T:'q', S, bp, bs, ap, as, t, src, seq}`) as an engine quote input; undefined when it is not
 * a usable quote frame. `feed` names the upstream feed of real-time frames (`src: 'delayed'` frames say delayed_sip).
 */
export function quoteInputOf(frame: unknown, feed: string): mbt.QuoteInput | undefined {
  if (typeof frame !== 'object' || frame === null) return undefined;
  const f = frame as Record<string, unknown>;
  if (f.T !== 'q') return undefined;
  const ts = frameTimeMs(f.t);
  if (!Number.isFinite(ts) || ts < 0) return undefined;
  const r = mbt.parseMbtInput({
    type: 'quote',
    S: f.S,
    seq: f.seq,
    ts,
    bp: f.bp,
    bs: f.bs,
    ap: f.ap,
    as: f.as,
    feed: f.src === 'delayed' ? 'delayed_sip' : feed,
  });
  return r.ok && r.input.type === 'quote' ? r.input : undefined;
}

/** The settle mark of a quote input (the same fields without `type`). */
export function markOf(q: mbt.QuoteInput): mbt.MarkInput {
  const { type: _type, ...mark } = q;
  return mark;
}

function parseFrame(raw: string | null | undefined): unknown {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** How far past the close the replay window is read back from (entry ids are publish times, quotes are stamped earlier). */
const CLOSE_SLACK_MS = 60_000;
const WINDOW_SCAN = 500;

export function createMarketQuotes(redis: Redis): MarketQuotes {
  return {
    async latest(symbols) {
      const out = new Map<string, unknown>();
      if (symbols.length === 0) return out;
      const raw = await redis.hmget(marketDataKeys.lkg, ...symbols.map((s) => `q:${s}`));
      symbols.forEach((s, i) => {
        const frame = parseFrame(raw[i]);
        if (frame !== undefined) out.set(s, frame);
      });
      return out;
    },
    async before(symbols, closeMs) {
      const out = new Map<string, unknown>();
      if (symbols.length === 0) return out;
      const pipe = redis.pipeline();
      for (const s of symbols) pipe.xrevrange(marketDataKeys.replay('q', s), String(closeMs + CLOSE_SLACK_MS), '-', 'COUNT', WINDOW_SCAN);
      pipe.hmget(marketDataKeys.lkg, ...symbols.map((s) => `q:${s}`));
      const replies = (await pipe.exec()) ?? [];
      const lkg = (replies[symbols.length]?.[1] as (string | null)[] | undefined) ?? [];
      symbols.forEach((s, i) => {
        const entries = (replies[i]?.[1] as [string, string[]][] | undefined) ?? [];
        for (const [, fields] of entries) {
          const frame = parseFrame(fields[fields.indexOf('f') + 1]);
          if (frame !== undefined && frameTimeMs((frame as { t?: unknown }).t) < closeMs) {
            out.set(s, frame);
            return;
          }
        }
        const last = parseFrame(lkg[i]);
        if (last !== undefined && frameTimeMs((last as { t?: unknown }).t) < closeMs) out.set(s, last);
      });
      return out;
    },
  };
}
