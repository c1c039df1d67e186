// Alpaca's trading REST API v2 (+ the trade_updates stream, rate limit and fault injection) over the simulated brokerage.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { MarketClock } from '../clock/types.js';
import type { MarketState } from '../market/types.js';
import { BodyTooLargeError, isLoopbackAddress, readBody, sendAlpacaError, sendJson, type RouteHandler } from '../http/util.js';
import { AlpacaApiError, TradingEngine, type AccountDefaults, type SimAccount, type SimOrder, type TradeUpdate } from './engine.js';
import { dec, newYork, parseAmount, stableUuid } from './format.js';
import { createRateLimiter, type RateLimitOptions } from './rate-limit.js';
import { createTradeStream } from './stream.js';

export interface ApiKey {
  keyId: string;
  secret: string;
  /** Account owner. Keys (and OAuth users) with the same login share one account. Default: the keyId. */
  login?: string;
}

/** What the trading API needs from the OAuth server (createOAuthServer's return value fits). */
export interface OAuthTokenValidator {
  validateToken(token: string): { login: string; scope: string } | undefined;
  onRevoke?(listener: (token: string) => void): () => void;
}

export interface TradingApiOptions {
  market: MarketState;
  clock: MarketClock;
  /** API key pairs accepted in APCA-API-KEY-ID / APCA-API-SECRET-KEY and by the stream. Default [{ keyId: 'SIMKEY', secret: 'SIMSECRET' }]. */
  keys?: ApiKey[];
  /** Bearer tokens are checked here; without it only API keys authenticate. */
  oauth?: OAuthTokenValidator;
  /** New accounts: cash 100000, multiplier 1 (cash account), shortingEnabled false. */
  account?: AccountDefaults;
  /** 'unlimited' (default) or 'quote-size' (fills limited by the quote's displayed size). */
  liquidity?: 'unlimited' | 'quote-size';
  /** Per key/token request budget: { limit: 200, windowMs: 60000 } by default; false turns it off. */
  rateLimit?: RateLimitOptions | false;
  /** Largest accepted request body. Default 64 KiB (413 beyond). */
  maxBodyBytes?: number;
  /** How often day orders are checked for expiry and queued orders for the open. Default 1000 ms. */
  sweepIntervalMs?: number;
  /** The stream closes sockets that have not authenticated within this long. Default 10000 ms. */
  streamAuthTimeoutMs?: number;
}

export interface TradingApi {
  handle: RouteHandler;
  /** Takes the upgrade of `/stream` (returns true), leaves every other path to the caller (false). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Loopback-only `/_control/trading/...` routes. */
  control: RouteHandler;
  engine: TradingEngine;
  close(): Promise<void>;
}

interface Principal {
  login: string;
  rateKey: string;
  token?: string;
}

interface Reply {
  status: number;
  body?: unknown;
}

interface Ctx {
  req: IncomingMessage;
  url: URL;
  account: SimAccount;
  params: string[];
}

type Handler = (ctx: Ctx) => Reply | Promise<Reply>;

const NOT_AUTHORIZED = { code: 40110000, message: 'request is not authorized' };
const DAY_MS = 86_400_000;

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function hhmm(d: Date, sep: string): string {
  const t = newYork(d);
  return `${t.hh}${sep}${t.mm}`;
}

export function createTradingApi(options: TradingApiOptions): TradingApi {
  const { market, clock } = options;
  const keys = new Map((options.keys ?? [{ keyId: 'SIMKEY', secret: 'SIMSECRET' }]).map((k) => [k.keyId, k]));
  const engine = new TradingEngine({ market, clock, account: options.account, liquidity: options.liquidity });
  const limiter = options.rateLimit === false ? undefined : createRateLimiter(options.rateLimit);
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const faults: { statuses: number[]; hangOrders: number } = { statuses: [], hangOrders: 0 };
  const held = new Set<ServerResponse>();

  const stream = createTradeStream({
    authTimeoutMs: options.streamAuthTimeoutMs,
    authenticate(creds) {
      if (creds.oauthToken) {
        const info = options.oauth?.validateToken(creds.oauthToken);
        return info ? { accountId: engine.account(info.login).id, token: creds.oauthToken } : undefined;
      }
      const key = creds.keyId ? keys.get(creds.keyId) : undefined;
      if (!key || key.secret !== creds.secret) return undefined;
      return { accountId: engine.account(key.login ?? key.keyId).id };
    },
  });

  const unsubscribers: Array<() => void> = [];
  unsubscribers.push(
    engine.onUpdate((accountId: string, u: TradeUpdate) => {
      const data: Record<string, unknown> = { event: u.event, timestamp: u.timestamp.toISOString(), order: engine.orderJson(u.order) };
      if (u.executionId !== undefined) data.execution_id = u.executionId;
      if (u.price !== undefined) data.price = dec(u.price, 4);
      if (u.qty !== undefined) data.qty = dec(u.qty);
      if (u.positionQty !== undefined) data.position_qty = dec(u.positionQty);
      stream.publish(accountId, { stream: 'trade_updates', data });
    }),
  );
  unsubscribers.push(market.subscribe((batch) => engine.onMarket(batch)));
  if (options.oauth?.onRevoke) unsubscribers.push(options.oauth.onRevoke((token) => stream.revoke(token)));
  const sweepTimer = setInterval(() => engine.sweep(), options.sweepIntervalMs ?? 1000);
  sweepTimer.unref();

  function authenticate(req: IncomingMessage): Principal | undefined {
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) {
      const token = auth.replace(/^bearer\s+/i, '').trim();
      const info = token ? options.oauth?.validateToken(token) : undefined;
      return info ? { login: info.login, rateKey: `token:${token}`, token } : undefined;
    }
    const keyId = req.headers['apca-api-key-id'];
    const secret = req.headers['apca-api-secret-key'];
    if (typeof keyId !== 'string' || typeof secret !== 'string') return undefined;
    const key = keys.get(keyId);
    if (!key || key.secret !== secret) return undefined;
    return { login: key.login ?? key.keyId, rateKey: `key:${keyId}` };
  }

  async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    const raw = await readBody(req, maxBodyBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.length === 0 ? '{}' : raw.toString('utf8'));
    } catch {
      throw new AlpacaApiError(400, 40010000, 'request body format is invalid');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new AlpacaApiError(422, 40010001, 'request body must be a JSON object');
    }
    return parsed as Record<string, unknown>;
  }

  const orderJson = (o: SimOrder) => engine.orderJson(o);

  function listOrders(a: SimAccount, q: URLSearchParams): Reply {
    const status = q.get('status') ?? 'open';
    const limit = Math.min(500, Math.max(1, Number(q.get('limit') ?? 50) || 50));
    const direction = q.get('direction') === 'asc' ? 'asc' : 'desc';
    const symbols = q.get('symbols')?.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
    const side = q.get('side');
    const after = q.get('after') ? Date.parse(q.get('after') ?? '') : undefined;
    const until = q.get('until') ? Date.parse(q.get('until') ?? '') : undefined;
    let list = a.orders.filter((o) => {
      if (status === 'open' && !engine.isOpen(o)) return false;
      if (status === 'closed' && engine.isOpen(o)) return false;
      if (symbols && !symbols.includes(o.symbol)) return false;
      if (side && o.side !== side) return false;
      if (after !== undefined && !(o.submittedAt.getTime() > after)) return false;
      if (until !== undefined && !(o.submittedAt.getTime() < until)) return false;
      return true;
    });
    list = list.sort((x, y) => (direction === 'asc' ? x.seq - y.seq : y.seq - x.seq)).slice(0, limit);
    return { status: 200, body: list.map(orderJson) };
  }

  function assetJson(symbol: string): Record<string, unknown> | undefined {
    const info = market.symbols().find((s) => s.symbol === symbol || stableUuid('asset', s.symbol) === symbol);
    if (!info) return undefined;
    return {
      id: stableUuid('asset', info.symbol),
      class: 'us_equity',
      exchange: info.exchange,
      symbol: info.symbol,
      name: info.name,
      status: 'active',
      tradable: true,
      marginable: true,
      maintenance_margin_requirement: 30,
      margin_requirement_long: '30',
      margin_requirement_short: '100',
      shortable: true,
      easy_to_borrow: true,
      fractionable: info.fractionable,
      attributes: info.fractionable ? ['fractional_eh_enabled', 'has_options'] : [],
    };
  }

  function positionKey(a: SimAccount, symbolOrId: string): string {
    const upper = decodeURIComponent(symbolOrId).toUpperCase();
    if (a.positions.has(upper)) return upper;
    for (const p of a.positions.values()) if (p.assetId === symbolOrId) return p.symbol;
    return upper;
  }

  const routes: Array<{ method: string; pattern: RegExp; run: Handler; hangable?: boolean }> = [
    { method: 'GET', pattern: /^\/v2\/account$/, run: ({ account }) => ({ status: 200, body: engine.accountJson(account) }) },
    {
      method: 'POST',
      pattern: /^\/v2\/orders$/,
      hangable: true,
      run: async ({ req, account }) => ({ status: 200, body: orderJson(engine.submit(account, await jsonBody(req))) }),
    },
    { method: 'GET', pattern: /^\/v2\/orders$/, run: ({ account, url }) => listOrders(account, url.searchParams) },
    {
      method: 'DELETE',
      pattern: /^\/v2\/orders$/,
      run: ({ account }) => ({ status: 207, body: engine.cancelAll(account).map((o) => ({ id: o.id, status: 200, body: orderJson(o) })) }),
    },
    {
      method: 'GET',
      pattern: /^\/v2\/orders:by_client_order_id$/,
      run: ({ account, url }) => {
        const o = account.byClientId.get(url.searchParams.get('client_order_id') ?? '');
        if (!o) throw new AlpacaApiError(404, 40410000, 'order not found');
        return { status: 200, body: orderJson(o) };
      },
    },
    { method: 'GET', pattern: /^\/v2\/orders\/([^/]+)$/, run: ({ account, params }) => ({ status: 200, body: orderJson(engine.find(account, params[0] ?? '')) }) },
    {
      method: 'PATCH',
      pattern: /^\/v2\/orders\/([^/]+)$/,
      run: async ({ req, account, params }) => {
        const body = await jsonBody(req);
        return { status: 200, body: orderJson(engine.replace(account, params[0] ?? '', body)) };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/v2\/orders\/([^/]+)$/,
      run: ({ account, params }) => {
        engine.cancel(account, params[0] ?? '');
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v2\/positions$/,
      run: ({ account }) => ({ status: 200, body: [...account.positions.values()].sort((x, y) => x.symbol.localeCompare(y.symbol)).map((p) => engine.positionJson(p)) }),
    },
    {
      method: 'DELETE',
      pattern: /^\/v2\/positions$/,
      run: ({ account, url }) => {
        if (url.searchParams.get('cancel_orders') === 'true') engine.cancelAll(account);
        const out = [...account.positions.keys()].map((symbol) => {
          try {
            return { symbol, status: 200, body: orderJson(engine.closePosition(account, symbol, {})) };
          } catch (e) {
            const err = e instanceof AlpacaApiError ? e : new AlpacaApiError(500, 50010000, 'internal server error');
            return { symbol, status: err.status, body: { code: err.code, message: err.message } };
          }
        });
        return { status: 207, body: out };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v2\/positions\/([^/]+)$/,
      run: ({ account, params }) => {
        const p = account.positions.get(positionKey(account, params[0] ?? ''));
        if (!p) throw new AlpacaApiError(404, 40410000, 'position does not exist');
        return { status: 200, body: engine.positionJson(p) };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/v2\/positions\/([^/]+)$/,
      run: ({ account, params, url }) => {
        const qty = parseAmount(url.searchParams.get('qty'));
        const percentage = parseAmount(url.searchParams.get('percentage'));
        if (Number.isNaN(qty) || Number.isNaN(percentage)) throw new AlpacaApiError(422, 40010001, 'invalid qty or percentage');
        return { status: 200, body: orderJson(engine.closePosition(account, positionKey(account, params[0] ?? ''), { qty, percentage })) };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v2\/clock$/,
      run: () => {
        const now = clock.now();
        return {
          status: 200,
          body: { timestamp: now.toISOString(), is_open: clock.isOpen(now), next_open: clock.nextOpen(now).toISOString(), next_close: clock.nextClose(now).toISOString() },
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v2\/calendar$/,
      run: ({ url }) => {
        const day = (v: string | null) => (v && /^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 10) : undefined);
        const start = day(url.searchParams.get('start')) ?? newYork(clock.now()).date;
        const end = day(url.searchParams.get('end')) ?? addDays(start, 30);
        if (end < start) return { status: 200, body: [] };
        const sessions = clock.calendar(start, addDays(end, 10));
        const body = sessions
          .map((s, i) => ({ s, next: sessions[i + 1] }))
          .filter(({ s }) => s.date <= end)
          .map(({ s, next }) => ({
            date: s.date,
            open: hhmm(s.open, ':'),
            close: hhmm(s.close, ':'),
            session_open: hhmm(s.sessionOpen, ''),
            session_close: hhmm(s.sessionClose, ''),
            settlement_date: next?.date ?? addDays(s.date, 1),
          }));
        return { status: 200, body };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v2\/assets$/,
      run: () => ({ status: 200, body: market.symbols().map((s) => assetJson(s.symbol)) }),
    },
    {
      method: 'GET',
      pattern: /^\/v2\/assets\/([^/]+)$/,
      run: ({ params }) => {
        const a = assetJson(decodeURIComponent(params[0] ?? '').toUpperCase()) ?? assetJson(params[0] ?? '');
        if (!a) throw new AlpacaApiError(404, 40410000, 'asset not found');
        return { status: 200, body: a };
      },
    },
  ];

  function send(res: ServerResponse, reply: Reply, headers: Record<string, string>): void {
    if (reply.status === 204) {
      res.writeHead(204, headers);
      res.end();
    } else sendJson(res, reply.status, reply.body, headers);
  }

  const handle: RouteHandler = async (req, res, url) => {
    const path = url.pathname;
    if (!path.startsWith('/v2/')) return false;
    const candidates = routes.filter((r) => r.pattern.test(path));
    if (candidates.length === 0) return false;
    const route = candidates.find((r) => r.method === req.method);
    const principal = authenticate(req);
    const rl = limiter?.take(principal?.rateKey ?? `ip:${req.socket.remoteAddress ?? ''}`, Date.now());
    const headers = rl?.headers ?? {};
    if (!principal) {
      sendJson(res, 401, NOT_AUTHORIZED, headers);
      return true;
    }
    if (rl && !rl.allowed) {
      sendAlpacaError(res, 429, 42910000, 'rate limit exceeded', headers);
      return true;
    }
    const fault = faults.statuses.shift();
    if (fault !== undefined) {
      const message = fault === 429 ? 'rate limit exceeded' : fault === 503 ? 'service unavailable' : 'internal server error';
      sendAlpacaError(res, fault, fault === 429 ? 42910000 : fault * 100000 + 10000, message, headers);
      return true;
    }
    if (!route) {
      sendAlpacaError(res, 405, 40510000, 'method not allowed', headers);
      return true;
    }
    const hang = route.hangable === true && faults.hangOrders > 0;
    if (hang) faults.hangOrders -= 1;
    let reply: Reply;
    try {
      const params = route.pattern.exec(path)?.slice(1) ?? [];
      reply = await route.run({ req, url, account: engine.account(principal.login), params });
    } catch (e) {
      if (e instanceof AlpacaApiError) reply = { status: e.status, body: { code: e.code, message: e.message } };
      else if (e instanceof BodyTooLargeError) {
        headers.connection = 'close';
        req.resume();
        reply = { status: 413, body: { code: 40010000, message: 'request body too large' } };
      } else reply = { status: 500, body: { code: 50010000, message: 'internal server error' } };
    }
    if (hang) {
      // In-doubt submit: the order exists, the client never hears back. Held until the client gives up.
      held.add(res);
      res.on('close', () => held.delete(res));
      return true;
    }
    send(res, reply, headers);
    return true;
  };

  const controlRoutes: Array<{ method: string; pattern: RegExp; run: (req: IncomingMessage, url: URL, params: string[]) => Promise<Reply> | Reply }> = [
    {
      method: 'POST',
      pattern: /^\/_control\/trading\/faults\/status$/,
      run: async (req) => {
        const body = await jsonBody(req);
        const status = Number(body.status);
        const count = Number(body.count ?? 1);
        if (![429, 500, 502, 503, 504].includes(status) || !(count >= 1)) throw new AlpacaApiError(422, 40010001, 'status must be 429/500/502/503/504, count >= 1');
        for (let i = 0; i < count; i++) faults.statuses.push(status);
        return { status: 200, body: { pending: faults.statuses.length } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/_control\/trading\/faults\/hang-next-order$/,
      run: async (req) => {
        const body = await jsonBody(req);
        faults.hangOrders += Math.max(1, Number(body.count ?? 1) || 1);
        return { status: 200, body: { pending: faults.hangOrders } };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/_control\/trading\/faults$/,
      run: () => {
        faults.statuses = [];
        faults.hangOrders = 0;
        return { status: 200, body: { cleared: true, held: held.size } };
      },
    },
    { method: 'POST', pattern: /^\/_control\/trading\/reset-rate-limits$/, run: () => (limiter?.reset(), { status: 200, body: { reset: true } }) },
    { method: 'POST', pattern: /^\/_control\/trading\/sweep$/, run: () => (engine.sweep(), { status: 200, body: { swept: true } }) },
    {
      method: 'GET',
      pattern: /^\/_control\/trading\/accounts$/,
      run: () => ({
        status: 200,
        body: [...engine.accounts.values()].map((a) => ({ login: a.login, account: engine.accountJson(a), positions: a.positions.size, orders: a.orders.length })),
      }),
    },
    {
      method: 'GET',
      pattern: /^\/_control\/trading\/accounts\/([^/]+)$/,
      run: (_req, _url, params) => {
        const a = engine.accountById(decodeURIComponent(params[0] ?? ''));
        if (!a) throw new AlpacaApiError(404, 40410000, 'account not found');
        return {
          status: 200,
          body: { login: a.login, account: engine.accountJson(a), positions: [...a.positions.values()].map((p) => engine.positionJson(p)), orders: a.orders.map(orderJson) },
        };
      },
    },
    {
      method: 'PATCH',
      pattern: /^\/_control\/trading\/accounts\/([^/]+)$/,
      run: async (req, _url, params) => {
        const login = decodeURIComponent(params[0] ?? '');
        const a = engine.accountById(login) ?? engine.account(login);
        const body = await jsonBody(req);
        const cash = parseAmount(body.cash);
        if (cash !== undefined && Number.isFinite(cash)) a.cash = cash;
        if (typeof body.multiplier === 'number' && body.multiplier >= 1) a.multiplier = body.multiplier;
        if (typeof body.shorting_enabled === 'boolean') a.shortingEnabled = body.shorting_enabled;
        return { status: 200, body: engine.accountJson(a) };
      },
    },
    {
      method: 'GET',
      pattern: /^\/_control\/trading\/orders$/,
      run: (_req, url) => {
        const who = url.searchParams.get('account');
        const accounts = who ? [engine.accountById(who)].filter((a): a is SimAccount => a !== undefined) : [...engine.accounts.values()];
        return { status: 200, body: accounts.flatMap((a) => a.orders.map((o) => ({ login: a.login, ...orderJson(o) }))) };
      },
    },
  ];

  const control: RouteHandler = async (req, res, url) => {
    if (!url.pathname.startsWith('/_control/trading/')) return false;
    if (!isLoopbackAddress(req.socket.remoteAddress)) {
      sendJson(res, 403, { message: 'control endpoints answer loopback only' });
      return true;
    }
    const route = controlRoutes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
    if (!route) {
      sendJson(res, 404, { message: 'unknown control route' });
      return true;
    }
    try {
      send(res, await route.run(req, url, route.pattern.exec(url.pathname)?.slice(1) ?? []), {});
    } catch (e) {
      if (e instanceof AlpacaApiError) sendAlpacaError(res, e.status, e.code, e.message);
      else sendJson(res, e instanceof BodyTooLargeError ? 413 : 500, { message: e instanceof Error ? e.message : 'error' });
    }
    return true;
  };

  return {
    handle,
    control,
    engine,
    handleUpgrade(req, socket, head) {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path !== '/stream') return false;
      stream.handleUpgrade(req, socket, head);
      return true;
    },
    async close() {
      clearInterval(sweepTimer);
      for (const u of unsubscribers) u();
      for (const res of held) res.destroy();
      held.clear();
      await stream.close();
    },
  };
}
