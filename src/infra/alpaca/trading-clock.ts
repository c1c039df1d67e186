// The upstream market clock (`GET /v2/clock`) for the paper API, cached briefly and single-flighted: the gateway shows
// the upstream's answer and never computes market hours itself.
import { z } from 'zod';

const clockSchema = z.object({
  timestamp: z.string(),
  is_open: z.boolean(),
  next_open: z.string(),
  next_close: z.string(),
});
export type TradingClock = z.infer<typeof clockSchema>;

export interface TradingClockClientOptions {
  tradingUrl: string;
  /** Read on every request (the key files rotate without a redeploy). */
  credentials(): { keyId: string; secret: string };
  /** How long one answer is reused (default 1,000 ms; never past its next open/close). */
  cacheMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

export class TradingClockError extends Error {
  override readonly name = 'TradingClockError';
  readonly code = 'clock_unavailable';
}

export interface TradingClockClient {
  get(): Promise<TradingClock>;
}

export function createTradingClockClient(opts: TradingClockClientOptions): TradingClockClient {
  const base = opts.tradingUrl.replace(/\/+$/, '');
  const cacheMs = opts.cacheMs ?? 1_000;
  const now = opts.now ?? Date.now;
  let cached: { value: TradingClock; until: number } | null = null;
  let inflight: Promise<TradingClock> | null = null;

  async function fetchClock(): Promise<TradingClock> {
    const { keyId, secret } = opts.credentials();
    let res: Response;
    try {
      res = await fetch(`${base}/v2/clock`, {
        headers: { 'APCA-API-KEY-ID': keyId, 'APCA-API-SECRET-KEY': secret, accept: 'application/json' },
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5_000),
      });
    } catch (err) {
      throw new TradingClockError(`the market clock could not be fetched: ${(err as Error).name}`, { cause: err });
    }
    if (!res.ok) throw new TradingClockError(`the market clock answered HTTP ${res.status}`);
    const parsed = clockSchema.safeParse(await res.json().catch(() => null));
    if (!parsed.success) throw new TradingClockError('the market clock has an unexpected shape');
    const value = parsed.data;
    // Never serve an answer past the next transition (is_open would be wrong).
    const transition = Date.parse(value.is_open ? value.next_close : value.next_open);
    const fetchedAt = now();
    cached = { value, until: Math.min(fetchedAt + cacheMs, Number.isNaN(transition) ? Infinity : transition) };
    return value;
  }

  return {
    get() {
      if (cached && now() < cached.until) return Promise.resolve(cached.value);
      inflight ??= fetchClock().finally(() => {
        inflight = null;
      });
      return inflight;
    },
  };
}
