// The gateway's market-data REST API (JSON, authenticated, rate-limited per user): LKG snapshots from the hub, bars
// (Pro+) and option chains from the upstream market-data REST, cached, single-flighted and behind one upstream quota
// shared by every replica. See docs/http-api.md.
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import { symbolSchema, type Line, type TickKind } from '../../contracts/index.js';
import { channelKinds, grantFor, maxSymbolsPerConnection, type Clock, type MarketChannel, type Tier } from '../../domain/index.js';
import { UpstreamError, type MarketDataRestClient, type OptionChainQuery } from '../../infra/alpaca/index.js';
import type { Logger } from '../../infra/logging/index.js';
import { extractToken, type SessionAuth } from '../auth.js';
import type { HubPort } from '../hub-port.js';
import type { TierDirectory, UserRecord } from '../tier-directory.js';
import type { ExtraBudget, LimitDecision, RequestLimiter } from './request-limiter.js';
import { guard, type ResState } from './response.js';
import type { RouteModule } from './routes.js';

// ---- shared by the REST and SSE surfaces ----

export type ApiErrorCode =
  | 'unauthorized'
  | 'unknown_user'
  | 'tier_required'
  | 'invalid_request'
  | 'rate_limited'
  | 'upstream_quota'
  | 'delayed_unavailable'
  | 'upstream_error'
  | 'internal';

const STATUS_LINE: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_LINE[status] ?? `${status} Status`;
}

/** JSON reply after an await: skipped when the client went away, corked otherwise. */
export function sendJson(res: HttpResponse, state: ResState, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (state.aborted) return;
  state.aborted = true; // answered: nothing else may touch `res`
  const text = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(text);
  });
}

export function sendError(
  res: HttpResponse,
  state: ResState,
  status: number,
  code: ApiErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  sendJson(res, state, status, { code, message, ...extra }, headers);
}

/** What must be read from a uWS request before the first await (it is gone afterwards). */
export interface RequestParts {
  token: string;
  query: URLSearchParams;
  lastEventId: string;
}

export function readRequest(req: HttpRequest): RequestParts {
  const query = new URLSearchParams(req.getQuery() ?? '');
  return {
    token: extractToken({
      authorization: req.getHeader('authorization'),
      cookie: req.getHeader('cookie'),
      accessToken: query.get('access_token') ?? '',
    }),
    query,
    lastEventId: req.getHeader('last-event-id'),
  };
}

export interface AccessDeps {
  auth: SessionAuth;
  directory: Pick<TierDirectory, 'lookup'>;
  limiter: RequestLimiter;
}

/**
 * Session → user (tier from PostgreSQL) → one request of the user's budget. Answers 401/403/429 itself (through
 * `fail`: the paper API answers in Alpaca's error shape) and returns null then; the caller returns too.
 */
export async function admit(deps: AccessDeps, res: HttpResponse, state: ResState, token: string, fail: typeof sendError = sendError): Promise<UserRecord | null> {
  const user = await identify(deps, res, state, token, fail);
  return user && (await spend(deps, res, state, user, fail)) ? user : null;
}

/** admit without the budget: the session's user, or null after answering 401/403. */
export async function identify(deps: Pick<AccessDeps, 'auth' | 'directory'>, res: HttpResponse, state: ResState, token: string, fail: typeof sendError = sendError): Promise<UserRecord | null> {
  if (token === '') {
    fail(res, state, 401, 'unauthorized', 'a session token is required (cookie, Bearer or access_token)');
    return null;
  }
  const claims = await deps.auth.verify(token);
  if (!claims) {
    fail(res, state, 401, 'unauthorized', 'invalid or expired session token');
    return null;
  }
  const user = await deps.directory.lookup(claims.sub);
  if (!user) {
    fail(res, state, 403, 'unknown_user', 'the user does not exist');
    return null;
  }
  return user;
}

/**
 * One request of `user`'s budget (and of `extra` too, in the same call: LimitDecision `refusedBy`). False after
 * answering 429 for the request budget; a refusal by `extra` is the caller's to answer (returned as the decision).
 */
export async function spend(
  deps: Pick<AccessDeps, 'limiter'>,
  res: HttpResponse,
  state: ResState,
  user: UserRecord,
  fail: typeof sendError = sendError,
  extra?: ExtraBudget,
): Promise<LimitDecision | false> {
  const decision = await deps.limiter.check(user.id, user.tier, extra);
  if (decision.allowed || decision.refusedBy === 'extra') return decision;
  const retry = Math.max(1, Math.ceil(decision.retryAfterSeconds));
  fail(res, state, 429, 'rate_limited', `at most ${decision.limit} requests per minute`, { retryAfterSeconds: retry }, {
    'retry-after': String(retry),
    'x-ratelimit-limit': String(decision.limit),
    'x-ratelimit-remaining': '0',
  });
  return false;
}

const CHANNELS: readonly MarketChannel[] = ['quotes', 'trades', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds', 'depth'];

export function isChannel(value: string): value is MarketChannel {
  return (CHANNELS as readonly string[]).includes(value);
}

/** `A,b, C` → `['A','B','C']` (deduplicated); a string with the first invalid symbol when one fails. */
export function parseSymbols(raw: string | null): string[] | { invalid: string } {
  const list = [...new Set((raw ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))];
  for (const s of list) if (!symbolSchema.safeParse(s).success) return { invalid: s.slice(0, 20) };
  return list;
}

export function parseChannels(raw: string | null, fallback: readonly MarketChannel[]): MarketChannel[] | { invalid: string } {
  if (raw === null || raw.trim() === '') return [...fallback];
  const list = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
  for (const c of list) if (!isChannel(c)) return { invalid: c.slice(0, 30) };
  return list as MarketChannel[];
}

// ---- upstream quota, cache and single flight ----

export const UPSTREAM_QUOTA_KEY = '{alpaca-rest}:quota';
const CACHE_PREFIX = '{alpaca-rest}:cache:';
const HISTORY_PREFIX = '{alpaca-rest}:opt-history:';

/** Fixed one-minute window shared by every replica: admit and count one upstream request, or say how long to wait. */
const QUOTA_SCRIPT = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl
if n >= tonumber(ARGV[1]) then
  ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return {0, ttl}
end
n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, redis.call('PTTL', KEYS[1])}`;

class QuotaExceeded extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('upstream quota exhausted');
  }
}

interface Fetched {
  body: Record<string, unknown>;
  fetchedAt: number;
}

// ---- the route module ----

export interface MarketRestOptions {
  /** Upstream requests per minute across all replicas (Alpaca's budget). Default 200. */
  quotaPerMinute?: number;
  /** Bars cache TTL when the range ended in the past. Default 60 s. */
  barsPastTtlMs?: number;
  /** Bars cache TTL when the range reaches now (or has no end). Default 5 s. */
  barsLiveTtlMs?: number;
  /** Real-time option chain cache TTL (Pro, Pro+). Default 2 s. */
  optionsRtTtlMs?: number;
  /** Minimum age of the option data Free receives. Never below 15 minutes outside tests. Default 15 min. */
  freeOptionsDelayMs?: number;
  /** How often the Free line records a new chain. Default 5 min. */
  freeOptionsRefreshMs?: number;
}

export interface MarketRestDeps extends AccessDeps {
  /** The gateway's hub (created inside startGateway, so read lazily). */
  hub: () => Pick<HubPort, 'snapshot'>;
  /** Cache, option history and the shared upstream quota. */
  redis: Redis;
  upstream: MarketDataRestClient;
  clock: Clock;
  logger?: Logger;
  options?: MarketRestOptions;
}

const TIMEFRAME = /^([1-9]|[1-5][0-9])(Min|T)$|^([1-9]|1[0-9]|2[0-3])(Hour|H)$|^1(Day|D)$|^1(Week|W)$|^([1-9]|1[0-2])(Month|M)$/;
const PAGE_TOKEN = /^[A-Za-z0-9+/=_.:-]{1,512}$/;
const SNAPSHOT_CHANNELS_DEFAULT: readonly MarketChannel[] = ['quotes', 'trades'];

export function createMarketRestRoutes(deps: MarketRestDeps): RouteModule {
  const o = deps.options ?? {};
  const quota = o.quotaPerMinute ?? 200;
  const barsPastTtl = o.barsPastTtlMs ?? 60_000;
  const barsLiveTtl = o.barsLiveTtlMs ?? 5_000;
  const optionsRtTtl = o.optionsRtTtlMs ?? 2_000;
  const freeDelay = o.freeOptionsDelayMs ?? 15 * 60_000;
  const freeRefresh = o.freeOptionsRefreshMs ?? 5 * 60_000;
  const { redis, upstream, clock } = deps;
  const inflight = new Map<string, Promise<Fetched>>();

  async function takeQuota(): Promise<void> {
    const [ok, ttl] = (await redis.eval(QUOTA_SCRIPT, 1, UPSTREAM_QUOTA_KEY, String(quota), '60000')) as [number, number];
    if (ok !== 1) throw new QuotaExceeded(Math.max(1, Math.ceil(Number(ttl) / 1000)));
  }

  /** Cache hit, or one upstream call shared by every concurrent caller of the same key (within this replica). */
  function cached(key: string, ttlMs: (f: Fetched) => number, fetcher: () => Promise<Record<string, unknown>>): Promise<Fetched> {
    const running = inflight.get(key);
    if (running) return running;
    const p = (async (): Promise<Fetched> => {
      const hit = await redis.get(CACHE_PREFIX + key);
      if (hit !== null) return JSON.parse(hit) as Fetched;
      await takeQuota();
      const fetched: Fetched = { body: await fetcher(), fetchedAt: clock.now() };
      await redis.set(CACHE_PREFIX + key, JSON.stringify(fetched), 'PX', Math.max(1, ttlMs(fetched)));
      return fetched;
    })().finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  }

  function upstreamFailure(res: HttpResponse, state: ResState, err: unknown): void {
    if (err instanceof QuotaExceeded) {
      return sendError(res, state, 503, 'upstream_quota', 'the shared upstream request budget is exhausted; retry later', { retryAfterSeconds: err.retryAfterSeconds }, {
        'retry-after': String(err.retryAfterSeconds),
      });
    }
    if (err instanceof UpstreamError) {
      if (err.status === 400 || err.status === 404 || err.status === 422) return sendError(res, state, 400, 'invalid_request', err.message);
      if (err.status === 429) return sendError(res, state, 503, 'upstream_quota', 'the upstream is rate limiting; retry later', { retryAfterSeconds: 60 }, { 'retry-after': '60' });
      deps.logger?.warn({ status: err.status, msg: err.message }, 'upstream market-data REST failed');
      return sendError(res, state, 502, 'upstream_error', 'the upstream market-data service failed');
    }
    deps.logger?.warn({ err }, 'market-data REST request failed');
    sendError(res, state, 500, 'internal', 'the request failed; retry');
  }

  /** Runs an async handler with abort tracking and a catch-all. */
  function handle(fn: (res: HttpResponse, state: ResState, parts: RequestParts, params: string[]) => Promise<void>, paramCount = 0) {
    return (res: HttpResponse, req: HttpRequest): void => {
      const parts = readRequest(req);
      const params = Array.from({ length: paramCount }, (_, i) => req.getParameter(i) ?? '');
      const state = guard(res);
      fn(res, state, parts, params).catch((err: unknown) => upstreamFailure(res, state, err));
    };
  }

  // GET /api/market-data/snapshots?symbols=AAPL,MSFT&channels=quotes,trades
  const snapshots = handle(async (res, state, { token, query }) => {
    const user = await admit(deps, res, state, token);
    if (!user) return;
    const symbols = parseSymbols(query.get('symbols'));
    if (!Array.isArray(symbols)) return sendError(res, state, 400, 'invalid_request', `invalid symbol: ${symbols.invalid}`);
    if (symbols.length === 0) return sendError(res, state, 400, 'invalid_request', 'symbols is required');
    const limit = maxSymbolsPerConnection[user.tier];
    if (symbols.length > limit) return sendError(res, state, 400, 'invalid_request', `at most ${limit} symbols per request`, { limit });
    const channels = parseChannels(query.get('channels'), SNAPSHOT_CHANNELS_DEFAULT);
    if (!Array.isArray(channels)) return sendError(res, state, 400, 'invalid_request', `unknown channel: ${channels.invalid}`);
    const plan: Array<{ line: Line; kind: TickKind }> = [];
    for (const channel of channels) {
      const grant = grantFor(user.tier, channel);
      if ('refused' in grant) {
        return sendError(res, state, 403, 'tier_required', `${channel} requires the ${grant.requiredTier} tier`, { channel, requiredTier: grant.requiredTier });
      }
      for (const kind of channelKinds[channel]) plan.push({ line: grant.line, kind: kind as TickKind });
    }
    const hub = deps.hub();
    const out: Record<string, unknown[]> = Object.fromEntries(symbols.map((s) => [s, []]));
    const results = await Promise.all(plan.map((p) => hub.snapshot(p.line, p.kind, symbols)));
    for (const frames of results) {
      for (const text of frames) {
        const f = JSON.parse(text) as { S?: string };
        if (f.S !== undefined) out[f.S]?.push(f);
      }
    }
    sendJson(res, state, 200, { tier: user.tier, line: user.tier === 'free' ? 'dl' : 'rt', snapshots: out });
  });

  // GET /api/market-data/bars?symbol=&timeframe=&start=&end=&limit=&page_token=
  const bars = handle(async (res, state, { token, query }) => {
    const user = await admit(deps, res, state, token);
    if (!user) return;
    if (user.tier !== 'pro_plus') {
      return sendError(res, state, 403, 'tier_required', 'historical bars require the pro_plus tier', { requiredTier: 'pro_plus' satisfies Tier });
    }
    const symbol = (query.get('symbol') ?? '').trim().toUpperCase();
    if (!symbolSchema.safeParse(symbol).success) return sendError(res, state, 400, 'invalid_request', 'symbol is missing or invalid');
    const timeframe = query.get('timeframe') ?? '';
    if (!TIMEFRAME.test(timeframe)) return sendError(res, state, 400, 'invalid_request', 'timeframe must be like 1Min, 15Min, 1Hour, 1Day');
    const start = parseInstant(query.get('start'));
    const end = parseInstant(query.get('end'));
    if (start === 'invalid' || end === 'invalid') return sendError(res, state, 400, 'invalid_request', 'start and end must be RFC 3339 or YYYY-MM-DD');
    if (start && end && start.getTime() > end.getTime()) return sendError(res, state, 400, 'invalid_request', 'start is after end');
    const limit = parseLimit(query.get('limit'), 10_000);
    if (limit === 'invalid') return sendError(res, state, 400, 'invalid_request', 'limit must be an integer from 1 to 10000');
    const pageToken = query.get('page_token') ?? undefined;
    if (pageToken !== undefined && !PAGE_TOKEN.test(pageToken)) return sendError(res, state, 400, 'invalid_request', 'invalid page_token');

    const key = ['bars', symbol, timeframe, start?.toISOString() ?? '', end?.toISOString() ?? '', limit ?? '', pageToken ?? ''].join('|');
    const fetched = await cached(
      key,
      (f) => (end && end.getTime() < f.fetchedAt - 60_000 ? barsPastTtl : barsLiveTtl),
      () =>
        upstream.bars({
          symbol,
          timeframe,
          ...(start ? { start } : {}),
          ...(end ? { end } : {}),
          ...(limit !== undefined ? { limit } : {}),
          ...(pageToken ? { pageToken } : {}),
        }),
    );
    sendJson(res, state, 200, fetched.body);
  });

  // GET /api/market-data/options/:underlying
  const options = handle(async (res, state, { token, query }, [rawUnderlying]) => {
    const user = await admit(deps, res, state, token);
    if (!user) return;
    let underlying: string;
    try {
      underlying = decodeURIComponent(rawUnderlying ?? '').toUpperCase();
    } catch {
      return sendError(res, state, 400, 'invalid_request', 'invalid underlying');
    }
    if (!symbolSchema.safeParse(underlying).success) return sendError(res, state, 400, 'invalid_request', 'invalid underlying');
    const q = parseOptionQuery(underlying, query);
    if (typeof q === 'string') return sendError(res, state, 400, 'invalid_request', q);
    const key = optionKey(q);
    const fetchChain = () => upstream.optionChain(q);

    if (user.tier !== 'free') {
      const fetched = await cached(`opt|rt|${key}`, () => optionsRtTtl, fetchChain);
      void record(key, fetched).catch((err: unknown) => deps.logger?.warn({ err }, 'option history write failed'));
      return sendJson(res, state, 200, { underlying, src: 'rt', asOf: new Date(fetched.fetchedAt).toISOString(), ...fetched.body });
    }

    // Free: only a chain recorded at least `freeDelay` ago; the Free line records a new one every `freeRefresh`.
    const now = clock.now();
    const hist = HISTORY_PREFIX + key;
    const [eligible, newest] = await Promise.all([
      redis.zrevrangebyscore(hist, now - freeDelay, '-inf', 'LIMIT', 0, 1),
      redis.zrevrange(hist, 0, 0, 'WITHSCORES'),
    ]);
    const newestAt = newest[1] !== undefined ? Number(newest[1]) : undefined;
    if (newestAt === undefined || now - newestAt >= freeRefresh) {
      // Background refresh for the Free line (single-flighted, counted against the quota; a full quota skips it).
      void cached(`opt|rec|${key}`, () => optionsRtTtl, fetchChain)
        .then((f) => record(key, f))
        .catch((err: unknown) => {
          if (!(err instanceof QuotaExceeded)) deps.logger?.warn({ err }, 'free option chain refresh failed');
        });
    }
    const entry = eligible[0];
    if (entry === undefined) {
      const oldest = await redis.zrange(hist, '0', '0', 'WITHSCORES');
      const firstAt = oldest[1] !== undefined ? Number(oldest[1]) : now;
      const wait = Math.max(1, Math.ceil((firstAt + freeDelay - now) / 1000));
      return sendError(res, state, 503, 'delayed_unavailable', 'no option chain old enough for the free tier yet', { retryAfterSeconds: wait }, {
        'retry-after': String(wait),
      });
    }
    const f = JSON.parse(entry) as Fetched;
    // Drop what is older than the chain Free is served now (it stays until a newer one turns eligible).
    void redis.zremrangebyscore(hist, '-inf', `(${f.fetchedAt}`).catch(() => {});
    sendJson(res, state, 200, { underlying, src: 'delayed', asOf: new Date(f.fetchedAt).toISOString(), ...f.body });
  }, 1);

  /** Keeps one chain per refresh interval for the Free line. */
  async function record(key: string, f: Fetched): Promise<void> {
    const hist = HISTORY_PREFIX + key;
    const newest = await redis.zrevrange(hist, 0, 0, 'WITHSCORES');
    if (newest[1] !== undefined && f.fetchedAt - Number(newest[1]) < freeRefresh) return;
    await redis
      .multi()
      .zadd(hist, f.fetchedAt, JSON.stringify(f))
      .pexpire(hist, freeDelay + 4 * freeRefresh + 3_600_000)
      .exec();
  }

  return {
    register(app: TemplatedApp) {
      app.get('/api/market-data/snapshots', snapshots);
      app.get('/api/market-data/bars', bars);
      app.get('/api/market-data/options/:underlying', options);
    },
  };
}

// ---- parsing ----

function parseInstant(raw: string | null): Date | undefined | 'invalid' {
  if (raw === null || raw === '') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw)) return 'invalid';
  const ms = Date.parse(raw);
  return Number.isFinite(ms) ? new Date(ms) : 'invalid';
}

function parseLimit(raw: string | null, max: number): number | undefined | 'invalid' {
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,6}$/.test(raw)) return 'invalid';
  const n = Number(raw);
  return n >= 1 && n <= max ? n : 'invalid';
}

function parseOptionQuery(underlying: string, query: URLSearchParams): OptionChainQuery | string {
  const q: OptionChainQuery = { underlying };
  const type = query.get('type');
  if (type !== null) {
    if (type !== 'call' && type !== 'put') return 'type must be call or put';
    q.type = type;
  }
  for (const [param, field] of [
    ['strike_price_gte', 'strikePriceGte'],
    ['strike_price_lte', 'strikePriceLte'],
  ] as const) {
    const v = query.get(param);
    if (v === null) continue;
    const n = Number(v);
    if (v === '' || !Number.isFinite(n) || n < 0) return `${param} must be a number`;
    q[field] = n;
  }
  for (const [param, field] of [
    ['expiration_date', 'expirationDate'],
    ['expiration_date_gte', 'expirationDateGte'],
    ['expiration_date_lte', 'expirationDateLte'],
  ] as const) {
    const v = query.get(param);
    if (v === null) continue;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || !Number.isFinite(Date.parse(v))) return `${param} must be YYYY-MM-DD`;
    q[field] = new Date(`${v}T00:00:00Z`);
  }
  const limit = parseLimit(query.get('limit'), 1000);
  if (limit === 'invalid') return 'limit must be an integer from 1 to 1000';
  if (limit !== undefined) q.limit = limit;
  const pageToken = query.get('page_token');
  if (pageToken !== null) {
    if (!PAGE_TOKEN.test(pageToken)) return 'invalid page_token';
    q.pageToken = pageToken;
  }
  return q;
}

function optionKey(q: OptionChainQuery): string {
  const d = (x?: Date) => x?.toISOString().slice(0, 10) ?? '';
  return [q.underlying, q.type ?? '', q.strikePriceGte ?? '', q.strikePriceLte ?? '', d(q.expirationDate), d(q.expirationDateGte), d(q.expirationDateLte), q.limit ?? '', q.pageToken ?? ''].join('|');
}
