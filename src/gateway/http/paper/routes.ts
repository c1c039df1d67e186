// The Alpaca-compatible paper API under /paper/v2/…: reads straight from the account actor's query tables (tenant
// scoped), writes as order commands through the user's partition, answered with the actor's decision. Authenticated
// by the session token (`Authorization: Bearer`), counted against the per-tier HTTP budget. See docs/paper-api.md.
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import {
  ORDER_COMMAND_TYPES,
  orderRejectionSchema,
  type OrderCommandType,
} from '../../../contracts/index.js';
import { mbt } from '../../../domain/index.js';
import type { AssetFacts, TradingClockClient } from '../../../infra/alpaca/index.js';
import type { Db } from '../../../infra/db/index.js';
import type { Logger } from '../../../infra/logging/index.js';
import type { RateLimiter } from '../../../infra/rate-limit/index.js';
import type { UserRecord } from '../../tier-directory.js';
import type { CommandDecisionBody, CommandSubmitter } from '../command-submitter.js';
import { identify, readRequest, spend, type AccessDeps } from '../market-rest.js';
import type { ExtraBudget, LimitDecision } from '../request-limiter.js';
import { guard, readBody, type ResState } from '../response.js';
import type { RouteModule } from '../routes.js';
import { accountJson, asOrderRecord, assetId, orderJson, positionJson, type OrderRecord } from './format.js';
import { noMarks, type MarkSource } from './marks.js';
import { parseJsonObject, replacePayload, submitPayload } from './order-request.js';
import { admitFailure, alpacaError, ALPACA_CODES, invalid, isAlpacaError, notFound, reply, replyError, type AlpacaError } from './reply.js';
import { createPaperStore, type OrderQuery, type PaperStore } from './store.js';

export interface PaperRoutesOptions {
  /** Largest accepted order body. Default 16 KiB. */
  maxBodyBytes?: number;
  /** Order commands per user per second (Redis limiter, scope `cmd`, shared with /api/commands). Default 20. */
  commandsPerSecond?: number;
  /** N of the paper-profitable gate (config MBT_GATE_CYCLES). Default 20. */
  gateCycles?: number;
}

export interface PaperRoutesDeps extends AccessDeps {
  /** App-role database: every read runs under withTenant. */
  db: Db;
  /** The shared append-and-wait path (the same one /api/commands uses). */
  submitter: CommandSubmitter;
  /** The upstream asset list: unknown symbols are refused with 422 before anything is appended. */
  assets: { get(symbol: string): AssetFacts | undefined; size(): number };
  clock: TradingClockClient;
  /** Prices positions are valued at (default: none, i.e. the average entry price). */
  marks?: MarkSource;
  /**
   * Per-user order budget (`options.commandsPerSecond`, scope `cmd`; createRedisRateLimiter) for replace and cancel;
   * a submit counts it through `limiter`, in the same call as the HTTP budget. None = only the HTTP budget.
   */
  rateLimiter?: RateLimiter;
  logger?: Logger;
  options?: PaperRoutesOptions;
}

interface Ctx {
  res: HttpResponse;
  state: ResState;
  user: UserRecord;
  query: URLSearchParams;
  params: string[];
  /** The body (write routes), already checked for size and content type. */
  body: Record<string, unknown> | null;
  /**
   * Only for routes whose handler counts the request itself (`budget: 'handler'`): counts it against the HTTP budget
   * (and `extra` in the same call); false after answering 429 for the HTTP budget. Every other route was counted
   * before its handler ran.
   */
  spend(extra?: ExtraBudget): Promise<LimitDecision | false>;
}

type Handler = (ctx: Ctx) => Promise<void>;

const internal = alpacaError(500, ALPACA_CODES.internal, 'internal server error');
const PREFIX = '/paper/v2';

export function createPaperRoutes(deps: PaperRoutesDeps): RouteModule {
  const o = deps.options ?? {};
  const maxBody = o.maxBodyBytes ?? 16 * 1024;
  const perSecond = o.commandsPerSecond ?? 20;
  const gateCycles = o.gateCycles ?? 20;
  const marks = deps.marks ?? noMarks;
  const store: PaperStore = createPaperStore(deps.db);

  /**
   * Wraps a handler: request parts read synchronously, admission (401/403/429), the body for writes, errors → 500.
   * `budget: 'handler'`: the handler counts the request itself (`ctx.spend`, once), so a valid order can count the HTTP
   * budget and the order budget in one call; a body refused here is counted first (over the budget: 429 first).
   */
  function route(fn: Handler, opts: { params?: number; body?: boolean; budget?: 'route' | 'handler' } = {}) {
    return (res: HttpResponse, req: HttpRequest): void => {
      const parts = readRequest(req);
      const params = Array.from({ length: opts.params ?? 0 }, (_, i) => decodeURIComponent(req.getParameter(i) ?? ''));
      const contentType = req.getHeader('content-type').toLowerCase();
      const state = guard(res);
      void (async () => {
        // The body is read first: uWS hands it over only to a reader attached inside the handler.
        const raw = opts.body ? await readBody(res, state, maxBody) : null;
        if (state.aborted) return;
        const user = await identify(deps, res, state, parts.token, admitFailure);
        if (!user) return;
        let spent = false;
        const charge = async (extra?: ExtraBudget): Promise<LimitDecision | false> => {
          if (spent) throw new Error('a request is counted once');
          spent = true;
          return spend(deps, res, state, user, admitFailure, extra);
        };
        if (opts.budget !== 'handler' && !(await charge())) return;
        const refuse = async (error: AlpacaError) => {
          if (spent || (await charge())) replyError(res, state, error);
        };
        let body: Record<string, unknown> | null = null;
        if (opts.body) {
          if (raw === null) return refuse(alpacaError(413, 41310000, `the request body is limited to ${maxBody} bytes`));
          if (!contentType.startsWith('application/json')) return refuse(alpacaError(415, 41510000, 'content-type must be application/json'));
          const parsed = parseJsonObject(raw.toString('utf8'));
          if (isAlpacaError(parsed)) return refuse(parsed);
          body = parsed;
        }
        await fn({ res, state, user, query: parts.query, params, body, spend: charge });
      })().catch((err: unknown) => {
        deps.logger?.warn({ err }, 'paper API request failed');
        replyError(res, state, internal);
      });
    };
  }

  // ---- commands: append, wait, map the decision ----

  /** The per-user command budget; answers 429 itself and returns false when spent. */
  async function commandBudget(c: Ctx): Promise<boolean> {
    if (!deps.rateLimiter) return true;
    const d = await deps.rateLimiter.limit('cmd', c.user.id, perSecond, 1000);
    return d.allowed || orderBudgetSpent(c, d.retryAfterSeconds);
  }

  function orderBudgetSpent(c: Ctx, retryAfterSeconds: number): false {
    const retry = Math.max(1, retryAfterSeconds);
    replyError(c.res, c.state, alpacaError(429, ALPACA_CODES.rateLimited, `at most ${perSecond} orders per second`), {}, {
      'retry-after': String(retry),
      'x-ratelimit-limit': String(perSecond),
      'x-ratelimit-remaining': '0',
    });
    return false;
  }

  interface Decided {
    accepted: boolean;
    order?: OrderRecord;
    orders?: OrderRecord[];
    error?: AlpacaError;
  }

  /** The decision as the contract defines it; the stored result (processed_commands) when the event lacks it. */
  async function resolve(userId: string, d: CommandDecisionBody): Promise<Decided> {
    const read = (data: unknown): Decided | null => {
      const r = (data ?? {}) as { order?: unknown; orders?: unknown };
      if (d.outcome === 'rejected') {
        const rej = orderRejectionSchema.safeParse(data);
        return rej.success ? { accepted: false, error: rej.data } : null;
      }
      const order = asOrderRecord(r.order);
      const orders = Array.isArray(r.orders) ? r.orders.map(asOrderRecord).filter((x): x is OrderRecord => x !== null) : undefined;
      return order || orders ? { accepted: true, ...(order ? { order } : {}), ...(orders ? { orders } : {}) } : null;
    };
    const fromEvent = read(d.data);
    if (fromEvent) return fromEvent;
    const stored = await deps.submitter.stored(userId, d.commandId);
    const fromStore = stored ? read(stored.data) : null;
    if (fromStore) return fromStore;
    // Not in the contract's shape (e.g. the runtime's HANDLER_ERROR, or an account-level refusal).
    if (d.outcome === 'accepted') return { accepted: true };
    if (d.code === 'HANDLER_ERROR') return { accepted: false, error: internal };
    const message = (stored?.data as { message?: unknown } | undefined)?.message ?? (d.data as { message?: unknown } | undefined)?.message;
    return { accepted: false, error: alpacaError(403, ALPACA_CODES.forbidden, typeof message === 'string' ? message : (d.code ?? 'rejected')) };
  }

  /** Appends one order command and waits; answers 504 (with the command id) itself when undecided. */
  async function run(c: Ctx, type: OrderCommandType, payload: unknown, pending: Record<string, unknown>): Promise<Decided | null> {
    const commandId = randomUUID();
    const r = await deps.submitter.submit(c.user.id, { commandId, clientChosenId: false, type, payload }, () => c.state.aborted);
    if (r.kind === 'decided') return resolve(c.user.id, r.decision);
    // A fresh random id cannot be another user's; treated like "undecided" all the same.
    replyError(c.res, c.state, alpacaError(504, ALPACA_CODES.timeout, 'the order command was accepted for processing but not decided yet; fetch the order by its client_order_id'), {
      command_id: commandId,
      ...pending,
    });
    return null;
  }

  /** The user's order (for cancel/replace): 404 without appending when it is not theirs. */
  async function ownOrder(c: Ctx): Promise<OrderRecord | null> {
    const found = await store.order(c.user.id, c.params[0]!);
    if (!found) replyError(c.res, c.state, notFound('order not found'));
    return found;
  }

  // Counts its own request (route budget 'handler'): a valid order counts the HTTP budget and the order budget in one
  // Redis call; one refused before that counts the HTTP budget alone, first.
  const submitOrder: Handler = async (c) => {
    // Before the first asset list arrived every symbol would look unknown: that is an outage, not a 422.
    if (deps.assets.size() === 0) {
      if (await c.spend()) replyError(c.res, c.state, alpacaError(503, ALPACA_CODES.unavailable, 'asset list unavailable; retry'), {}, { 'retry-after': '1' });
      return;
    }
    const payload = submitPayload(c.body!, (s) => deps.assets.get(s));
    if (isAlpacaError(payload)) {
      if (await c.spend()) replyError(c.res, c.state, payload);
      return;
    }
    const budget = await c.spend(deps.rateLimiter ? { scope: 'cmd', limit: perSecond, windowMs: 1000 } : undefined);
    if (!budget) return;
    if (!budget.allowed) return void orderBudgetSpent(c, budget.retryAfterSeconds);
    const d = await run(c, ORDER_COMMAND_TYPES.submit, payload, { id: payload.order.id, client_order_id: payload.order.client_order_id });
    if (!d) return;
    if (!d.accepted) return replyError(c.res, c.state, d.error!);
    // Without the order in the decision (a duplicate of a closed order: the engine keeps only open ones) the stored
    // order with this client_order_id is the answer, whichever id it has.
    reply(c.res, c.state, 200, orderJson(d.order ?? (await store.orderByClientId(c.user.id, payload.order.client_order_id)) ?? fallbackOrder(payload.order)));
  };

  const replaceOrder: Handler = async (c) => {
    const old = await ownOrder(c);
    if (!old) return;
    const payload = replacePayload(old.id, c.body!);
    if (isAlpacaError(payload)) return replyError(c.res, c.state, payload);
    if (!(await commandBudget(c))) return;
    const d = await run(c, ORDER_COMMAND_TYPES.replace, payload, { id: payload.new_order_id, client_order_id: payload.patch.client_order_id });
    if (!d) return;
    if (!d.accepted) return replyError(c.res, c.state, d.error!);
    const order = d.order ?? (await store.orderByClientId(c.user.id, payload.patch.client_order_id));
    if (!order) return replyError(c.res, c.state, internal);
    reply(c.res, c.state, 200, orderJson(order));
  };

  const cancelOrder: Handler = async (c) => {
    const own = await ownOrder(c);
    if (!own) return;
    if (!(await commandBudget(c))) return;
    const d = await run(c, ORDER_COMMAND_TYPES.cancel, { order_id: own.id }, { id: own.id });
    if (!d) return;
    if (!d.accepted) return replyError(c.res, c.state, d.error!);
    reply(c.res, c.state, 204);
  };

  const cancelAll: Handler = async (c) => {
    if (!(await commandBudget(c))) return;
    const d = await run(c, ORDER_COMMAND_TYPES.cancelAll, {}, {});
    if (!d) return;
    if (!d.accepted) return replyError(c.res, c.state, d.error!);
    const list = d.orders ?? (d.order ? [d.order] : []);
    reply(c.res, c.state, 207, list.map((order) => ({ id: order.id, status: 200, body: orderJson(order) })));
  };

  // ---- reads ----

  const getAccount: Handler = async (c) => {
    const found = await store.account(c.user.id);
    if (!found) return replyError(c.res, c.state, notFound('paper account not found: open one first'));
    const prices = await marks(found.positions.map((p) => p.symbol));
    reply(c.res, c.state, 200, accountJson(found.account, found.positions.map((p) => ({ qty: p.qty, mark: prices.get(p.symbol) ?? p.avgEntryPrice }))));
  };

  const listOrders: Handler = async (c) => {
    const q = orderQuery(c.query);
    if (isAlpacaError(q)) return replyError(c.res, c.state, q);
    const rows = await store.orders(c.user.id, q);
    reply(c.res, c.state, 200, rows.map(orderJson));
  };

  const getOrder: Handler = async (c) => {
    const found = await store.order(c.user.id, c.params[0]!);
    if (!found) return replyError(c.res, c.state, notFound('order not found'));
    reply(c.res, c.state, 200, orderJson(found));
  };

  const byClientOrderId: Handler = async (c) => {
    const id = c.query.get('client_order_id') ?? '';
    if (id === '') return replyError(c.res, c.state, invalid('client_order_id is required'));
    const found = await store.orderByClientId(c.user.id, id);
    if (!found) return replyError(c.res, c.state, notFound('order not found'));
    reply(c.res, c.state, 200, orderJson(found));
  };

  const listPositions: Handler = async (c) => {
    const rows = await store.positions(c.user.id);
    const prices = await marks(rows.map((p) => p.symbol));
    reply(c.res, c.state, 200, rows.map((p) => positionJson(p, prices.get(p.symbol))));
  };

  const getPosition: Handler = async (c) => {
    const found = await store.position(c.user.id, c.params[0]!, assetId);
    if (!found) return replyError(c.res, c.state, notFound('position does not exist'));
    const prices = await marks([found.symbol]);
    reply(c.res, c.state, 200, positionJson(found, prices.get(found.symbol)));
  };

  const getClock: Handler = async (c) => {
    let clock;
    try {
      clock = await deps.clock.get();
    } catch (err) {
      deps.logger?.warn({ err }, 'upstream market clock failed');
      return replyError(c.res, c.state, alpacaError(503, ALPACA_CODES.unavailable, 'market clock unavailable; retry'), {}, { 'retry-after': '1' });
    }
    reply(c.res, c.state, 200, clock);
  };

  const getGate: Handler = async (c) => {
    const found = await store.cycles(c.user.id);
    if (!found) return replyError(c.res, c.state, notFound('paper account not found: open one first'));
    const g = mbt.evaluateGate({ requiredCycles: gateCycles, cycleStartedAt: found.cycleStartedAt, cycles: found.cycles });
    reply(c.res, c.state, 200, {
      passes: g.passes,
      required_cycles: g.requiredCycles,
      settled_cycles: g.settledCycles,
      cycle_started_at: found.cycleStartedAt,
      window: g.window,
      window_cycles: g.windowCycles,
      pnl: g.pnl,
      active_cycles: g.activeCycles,
      required_active_cycles: g.requiredActiveCycles,
      missing: g.missing,
    });
  };

  return {
    register(app: TemplatedApp) {
      app.get(`${PREFIX}/account`, route(getAccount));
      app.get(`${PREFIX}/orders`, route(listOrders));
      app.post(`${PREFIX}/orders`, route(submitOrder, { body: true, budget: 'handler' }));
      app.del(`${PREFIX}/orders`, route(cancelAll));
      app.get(`${PREFIX}/orders:by_client_order_id`, route(byClientOrderId));
      app.get(`${PREFIX}/orders/:id`, route(getOrder, { params: 1 }));
      app.patch(`${PREFIX}/orders/:id`, route(replaceOrder, { params: 1, body: true }));
      app.del(`${PREFIX}/orders/:id`, route(cancelOrder, { params: 1 }));
      app.get(`${PREFIX}/positions`, route(listPositions));
      app.get(`${PREFIX}/positions/:symbol`, route(getPosition, { params: 1 }));
      app.get(`${PREFIX}/clock`, route(getClock));
      app.get(`${PREFIX}/gate`, route(getGate));
      app.any(`${PREFIX}/*`, (res) => {
        res.cork(() => replyError(res, { aborted: false }, notFound('endpoint not found')));
      });
    },
  };
}

/** `GET /v2/orders` query parameters (Alpaca's names and defaults), or the 422 Alpaca answers. */
export function orderQuery(q: URLSearchParams): OrderQuery | AlpacaError {
  const status = q.get('status') ?? 'open';
  if (status !== 'open' && status !== 'closed' && status !== 'all') return invalid(`invalid status: ${status.slice(0, 20)}`);
  const limitRaw = q.get('limit');
  const limit = limitRaw === null || limitRaw === '' ? 50 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) return invalid('limit must be an integer between 1 and 500');
  const direction = q.get('direction') ?? 'desc';
  if (direction !== 'asc' && direction !== 'desc') return invalid(`invalid direction: ${direction.slice(0, 20)}`);
  const out: OrderQuery = { status, limit, direction };
  for (const name of ['after', 'until'] as const) {
    const v = q.get(name);
    if (v === null || v === '') continue;
    const t = Date.parse(v);
    if (Number.isNaN(t)) return invalid(`invalid ${name}: expected an RFC 3339 time`);
    out[name] = new Date(t);
  }
  const symbols = q.get('symbols');
  if (symbols) out.symbols = [...new Set(symbols.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))].slice(0, 1000);
  const side = q.get('side');
  if (side !== null && side !== '') {
    if (side !== 'buy' && side !== 'sell') return invalid(`invalid side: ${side.slice(0, 20)}`);
    out.side = side;
  }
  // `nested` is accepted: MBT has no multi-leg orders, so `legs` is always null.
  return out;
}

/** Only when the actor accepted but neither the decision nor the tables show the order yet (should not happen). */
function fallbackOrder(o: { id: string; client_order_id: string; symbol: string; side: string; type: string; time_in_force: string; qty?: string; notional?: string; limit_price?: string; stop_price?: string }): OrderRecord {
  return { ...o, status: 'accepted', submitted_at: new Date().toISOString() };
}
