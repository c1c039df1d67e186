// Upstream market-data REST (bars, option chains) through the official SDK, pointed at ALPACA_DATA_REST_URL.
// The SDK's own retries and client-side rate limiter are off: the gateway counts every upstream request against a
// quota shared by all replicas, so one call here must be exactly one HTTP request.
import { Alpaca } from '@alpacahq/alpaca-trade-api';

/** The SDK's fixed market-data host; every request URL starting with it is rewritten to `baseUrl`. */
const SDK_DATA_HOST = 'https://data.alpaca.markets';

export interface MarketDataClientOptions {
  /** e.g. config.alpaca.dataRestUrl (`http://127.0.0.1:8710` for the simulator). */
  baseUrl: string;
  /** Read on every request (the key files rotate without a redeploy). */
  keyId: () => string;
  secret: () => string;
  timeoutMs?: number;
  /** The fetch the SDK uses after the URL rewrite (tests count upstream calls here). Default: global fetch. */
  fetchApi?: typeof fetch;
}

export interface BarsQuery {
  symbol: string;
  timeframe: string;
  start?: Date;
  end?: Date;
  limit?: number;
  pageToken?: string;
}

export interface OptionChainQuery {
  underlying: string;
  type?: 'call' | 'put';
  strikePriceGte?: number;
  strikePriceLte?: number;
  expirationDate?: Date;
  expirationDateGte?: Date;
  expirationDateLte?: Date;
  limit?: number;
  pageToken?: string;
}

/** The upstream answered with an error status (or could not be reached: status 0). */
export class UpstreamError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface MarketDataRestClient {
  /** One page of bars, exactly as the upstream serialised them: `{bars:[…], symbol, next_page_token}`. */
  bars(q: BarsQuery): Promise<Record<string, unknown>>;
  /** One page of an option chain: `{snapshots:{<OCC>:{latestQuote,latestTrade,greeks,…}}, next_page_token}`. */
  optionChain(q: OptionChainQuery): Promise<Record<string, unknown>>;
}

export function createMarketDataRestClient(opts: MarketDataClientOptions): MarketDataRestClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const inner = opts.fetchApi ?? fetch;
  const fetchApi = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const rewritten = url.startsWith(SDK_DATA_HOST) ? base + url.slice(SDK_DATA_HOST.length) : url;
    return inner(rewritten, init);
  };

  let cached: { keyId: string; secret: string; client: Alpaca } | undefined;
  const client = (): Alpaca => {
    const keyId = opts.keyId();
    const secret = opts.secret();
    if (cached?.keyId !== keyId || cached.secret !== secret) {
      cached = {
        keyId,
        secret,
        client: new Alpaca({
          keyId,
          secret,
          fetchApi: fetchApi as never,
          retry: false,
          rateLimit: false,
          timeoutMs: opts.timeoutMs ?? 10_000,
          userAgent: 'raxx-stream-gateway',
        }),
      };
    }
    return cached.client;
  };

  /** Reads the raw JSON body (the upstream's wire names, not the SDK's camel-cased models). */
  async function call(run: () => Promise<{ raw: Response }>): Promise<Record<string, unknown>> {
    let raw: Response;
    try {
      raw = (await run()).raw;
    } catch (err) {
      const response = (err as { response?: Response }).response;
      if (response instanceof Response) {
        const text = await response.text().catch(() => '');
        throw new UpstreamError(response.status, upstreamMessage(text) ?? `upstream answered ${response.status}`);
      }
      throw new UpstreamError(0, `upstream unreachable: ${(err as Error).name}`);
    }
    return (await raw.json()) as Record<string, unknown>;
  }

  return {
    bars: (q) =>
      call(() =>
        client().marketData.stocks.stockBarSingleRaw({
          symbol: q.symbol,
          timeframe: q.timeframe,
          ...(q.start ? { start: q.start } : {}),
          ...(q.end ? { end: q.end } : {}),
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
          ...(q.pageToken ? { pageToken: q.pageToken } : {}),
        }),
      ),
    optionChain: (q) =>
      call(() =>
        client().marketData.options.optionChainRaw({
          underlyingSymbol: q.underlying,
          ...(q.type ? { type: q.type } : {}),
          ...(q.strikePriceGte !== undefined ? { strikePriceGte: q.strikePriceGte } : {}),
          ...(q.strikePriceLte !== undefined ? { strikePriceLte: q.strikePriceLte } : {}),
          ...(q.expirationDate ? { expirationDate: q.expirationDate } : {}),
          ...(q.expirationDateGte ? { expirationDateGte: q.expirationDateGte } : {}),
          ...(q.expirationDateLte ? { expirationDateLte: q.expirationDateLte } : {}),
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
          ...(q.pageToken ? { pageToken: q.pageToken } : {}),
        }),
      ),
  };
}

function upstreamMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    return typeof body.message === 'string' ? body.message.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}
