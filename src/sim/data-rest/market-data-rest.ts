// Alpaca market-data REST v2 (bars with paging, latest quotes/trades/bars, snapshots) and option chain snapshots.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MarketClock } from '../clock/types.js';
import type { MarketState, SimBar } from '../market/types.js';
import { sendJson, type RouteHandler } from '../http/util.js';
import { parseTimeframe } from '../market/history.js';
import { formatRfc3339Nanos } from '../market/time.js';
import { chainContracts, optionSnapshot } from './option-chain.js';
import { parseQueryInstant, restBar, restQuote, restTrade } from './serialize.js';

export interface MarketDataRestOptions {
  market: MarketState;
  clock: MarketClock;
  /** API keys accepted in APCA-API-KEY-ID / APCA-API-SECRET-KEY. */
  keys: ReadonlyArray<{ keyId: string; secret: string }>;
  /** OAuth access tokens (Authorization: Bearer) the OAuth server issued. */
  validateToken?: (token: string) => boolean;
  /** Underlyings with a synthetic option chain. */
  optionUnderlyings?: readonly string[];
  seed?: number;
}

const MAX_LIMIT = 10_000;
const SYMBOL = /^[A-Z][A-Z0-9.]{0,9}$/;

class RestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface PageCursor {
  /** Index into the sorted symbol list. */
  s: number;
  /** Last bar time returned for that symbol (ns, decimal text). */
  t: string;
}

export function createMarketDataRest(opts: MarketDataRestOptions): { handle: RouteHandler } {
  const underlyings = new Set(opts.optionUnderlyings ?? ['SPY', 'QQQ', 'AAPL', 'MSFT', 'TSLA']);

  function authorize(req: IncomingMessage): void {
    const keyId = req.headers['apca-api-key-id'];
    const secret = req.headers['apca-api-secret-key'];
    if (typeof keyId === 'string' && typeof secret === 'string' && opts.keys.some((k) => k.keyId === keyId && k.secret === secret)) return;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && opts.validateToken?.(auth.slice(7))) return;
    throw new RestError(401, 'request is not authorized');
  }

  function symbolsParam(url: URL): string[] {
    const raw = url.searchParams.get('symbols');
    if (!raw) throw new RestError(400, 'symbols is required');
    const list = [...new Set(raw.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))];
    for (const s of list) if (!SYMBOL.test(s)) throw new RestError(400, `invalid symbol: ${s.slice(0, 20)}`);
    return list.sort();
  }

  function checkSymbol(symbol: string): string {
    const s = symbol.toUpperCase();
    if (!SYMBOL.test(s)) throw new RestError(400, `invalid symbol: ${s.slice(0, 20)}`);
    if (!opts.market.hasSymbol(s)) throw new RestError(404, `symbol not found: ${s}`);
    return s;
  }

  function barsQuery(url: URL, symbols: string[]): { bars: Record<string, ReturnType<typeof restBar>[]>; next: string | null } {
    const tfText = url.searchParams.get('timeframe');
    if (!tfText) throw new RestError(400, 'timeframe is required');
    // Weeks and months are valid Alpaca timeframes the synthetic history does not compute.
    if (!parseTimeframe(tfText)) throw new RestError(400, `invalid timeframe: ${tfText.slice(0, 20)} (the simulator serves 1-59Min, 1-23Hour, 1Day)`);
    const nowNs = BigInt(opts.clock.now().getTime()) * 1_000_000n;
    const startText = url.searchParams.get('start');
    const endText = url.searchParams.get('end');
    const start = startText ? parseQueryInstant(startText) : BigInt(Date.parse(opts.clock.now().toISOString().slice(0, 10))) * 1_000_000n;
    const end = endText ? parseQueryInstant(endText, true) : nowNs;
    if (start === undefined) throw new RestError(400, 'invalid start');
    if (end === undefined) throw new RestError(400, 'invalid end');
    if (end < start) throw new RestError(422, 'end should not be before start');
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? 1000 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new RestError(400, `invalid limit: must be between 1 and ${MAX_LIMIT}`);
    const sort = url.searchParams.get('sort') ?? 'asc';
    if (sort !== 'asc') throw new RestError(422, 'the simulator serves sort=asc only');

    let cursor: PageCursor = { s: 0, t: '' };
    const token = url.searchParams.get('page_token');
    if (token) cursor = decodeCursor(token);

    const out: Record<string, ReturnType<typeof restBar>[]> = {};
    let remaining = limit;
    for (let i = cursor.s; i < symbols.length; i++) {
      const symbol = symbols[i]!;
      if (!opts.market.hasSymbol(symbol)) continue;
      const from = i === cursor.s && cursor.t ? BigInt(cursor.t) + 1n : start;
      const bars: SimBar[] = opts.market.historicalBars(symbol, tfText, from, end, remaining + 1);
      const page = bars.slice(0, remaining);
      if (page.length > 0) out[symbol] = page.map(restBar);
      remaining -= page.length;
      if (bars.length > page.length || (remaining === 0 && i + 1 < symbols.length)) {
        const last = page.at(-1);
        const next: PageCursor = last ? { s: i, t: last.t.toString() } : { s: i, t: '' };
        // A symbol exhausted exactly at the limit continues with the next one.
        return { bars: out, next: encodeCursor(bars.length > page.length ? next : { s: i + 1, t: '' }) };
      }
    }
    return { bars: out, next: null };
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    if (!path.startsWith('/v2/stocks') && !path.startsWith('/v1beta1/options')) return false;
    if (req.method !== 'GET') throw new RestError(405, 'method not allowed');
    authorize(req);
    const m = opts.market;
    let match: RegExpExecArray | null;

    if (path === '/v2/stocks/bars') {
      const { bars, next } = barsQuery(url, symbolsParam(url));
      sendJson(res, 200, { bars, next_page_token: next, currency: 'USD' });
    } else if ((match = /^\/v2\/stocks\/([^/]+)\/bars$/.exec(path))) {
      const symbol = checkSymbol(decodeURIComponent(match[1]!));
      const { bars, next } = barsQuery(url, [symbol]);
      sendJson(res, 200, { symbol, bars: bars[symbol] ?? [], next_page_token: next, currency: 'USD' });
    } else if ((match = /^\/v2\/stocks\/(quotes|trades|bars)\/latest$/.exec(path))) {
      const kind = match[1]!;
      const result: Record<string, unknown> = {};
      for (const s of symbolsParam(url)) {
        const item = kind === 'quotes' ? m.latestQuote(s) : kind === 'trades' ? m.latestTrade(s) : m.latestMinuteBar(s);
        if (!item) continue;
        result[s] = kind === 'quotes' ? restQuote(item as never) : kind === 'trades' ? restTrade(item as never) : restBar(item as never);
      }
      sendJson(res, 200, { [kind]: result });
    } else if ((match = /^\/v2\/stocks\/([^/]+)\/(quotes|trades|bars)\/latest$/.exec(path))) {
      const symbol = checkSymbol(decodeURIComponent(match[1]!));
      const kind = match[2]!;
      const body =
        kind === 'quotes'
          ? { symbol, quote: optional(m.latestQuote(symbol), restQuote) }
          : kind === 'trades'
            ? { symbol, trade: optional(m.latestTrade(symbol), restTrade) }
            : { symbol, bar: optional(m.latestMinuteBar(symbol), restBar) };
      sendJson(res, 200, body);
    } else if (path === '/v2/stocks/snapshots') {
      const result: Record<string, unknown> = {};
      for (const s of symbolsParam(url)) if (m.hasSymbol(s)) result[s] = snapshot(s);
      sendJson(res, 200, result);
    } else if ((match = /^\/v2\/stocks\/([^/]+)\/snapshot$/.exec(path))) {
      const symbol = checkSymbol(decodeURIComponent(match[1]!));
      sendJson(res, 200, { symbol, ...snapshot(symbol) });
    } else if ((match = /^\/v1beta1\/options\/snapshots\/([^/]+)$/.exec(path))) {
      sendJson(res, 200, optionChain(decodeURIComponent(match[1]!).toUpperCase(), url));
    } else {
      throw new RestError(404, 'endpoint not found');
    }
    return true;
  }

  function snapshot(symbol: string) {
    const m = opts.market;
    return {
      latestTrade: optional(m.latestTrade(symbol), restTrade),
      latestQuote: optional(m.latestQuote(symbol), restQuote),
      minuteBar: optional(m.latestMinuteBar(symbol), restBar),
      dailyBar: optional(m.dailyBar(symbol), restBar),
      prevDailyBar: optional(m.prevDailyBar(symbol), restBar),
    };
  }

  function optionChain(underlying: string, url: URL) {
    if (!underlyings.has(underlying) || !opts.market.hasSymbol(underlying)) throw new RestError(404, `no option chain for ${underlying.slice(0, 20)}`);
    const quote = opts.market.latestQuote(underlying);
    const trade = opts.market.latestTrade(underlying);
    const spot = quote ? (quote.ap + quote.bp) / 2 : trade?.p;
    if (spot === undefined) throw new RestError(404, `no price yet for ${underlying}`);
    const now = opts.clock.now();
    const type = url.searchParams.get('type');
    const num = (k: string) => (url.searchParams.has(k) ? Number(url.searchParams.get(k)) : undefined);
    const [sGte, sLte] = [num('strike_price_gte'), num('strike_price_lte')];
    const exp = url.searchParams.get('expiration_date');
    const [eGte, eLte] = [url.searchParams.get('expiration_date_gte'), url.searchParams.get('expiration_date_lte')];
    const limit = num('limit') ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RestError(400, 'invalid limit: must be between 1 and 1000');
    const after = url.searchParams.get('page_token') ?? '';
    const contracts = chainContracts(underlying, spot, now.toISOString().slice(0, 10)).filter(
      (c) =>
        (!type || c.type === type) &&
        (sGte === undefined || c.strike >= sGte) &&
        (sLte === undefined || c.strike <= sLte) &&
        (!exp || c.expiration === exp) &&
        (!eGte || c.expiration >= eGte) &&
        (!eLte || c.expiration <= eLte) &&
        c.symbol > after,
    );
    const page = contracts.slice(0, limit);
    const stamp = formatRfc3339Nanos(BigInt(now.getTime()) * 1_000_000n);
    const snapshots: Record<string, unknown> = {};
    for (const c of page) snapshots[c.symbol] = optionSnapshot(c, spot, impliedVol(underlying, c.strike / spot, opts.seed ?? 1), now.getTime(), stamp);
    return { snapshots, next_page_token: contracts.length > limit ? page.at(-1)!.symbol : null };
  }

  return {
    handle: async (req, res, url) => {
      try {
        return await route(req, res, url);
      } catch (err) {
        if (err instanceof RestError) {
          sendJson(res, err.status, { message: err.message });
          return true;
        }
        throw err;
      }
    },
  };
}

function optional<T, R>(value: T | undefined, map: (v: T) => R): R | null {
  return value === undefined ? null : map(value);
}

function encodeCursor(c: PageCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(token: string): PageCursor {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as PageCursor;
    if (Number.isInteger(c.s) && c.s >= 0 && typeof c.t === 'string' && /^\d*$/.test(c.t)) return c;
  } catch {
    // fall through
  }
  throw new RestError(400, 'invalid page_token');
}

/** A stable volatility smile per underlying: base level from the seed, higher away from the money. */
function impliedVol(underlying: string, moneyness: number, seed: number): number {
  let h = seed >>> 0;
  for (const ch of underlying) h = Math.imul(h ^ ch.charCodeAt(0), 2654435761) >>> 0;
  const base = 0.18 + (h % 1000) / 1000 * 0.35;
  return base + 0.4 * (moneyness - 1) ** 2;
}
