// The Alpaca-compatible paper API and /paper/stream in-process on real Redis (DB 13), PostgreSQL, uWS and the
// simulator (asset list, market clock). No account actor runs here: rows are inserted as the actor's projection would
// write them, and where a decision is needed the test plays the actor (reads the envelope from cmd:{pN}, stores the
// decision in processed_commands and publishes the decision event), following src/contracts/paper-orders.ts.
// Pub/sub is server-wide and DB 13 is shared: every user id here carries a random suffix.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { orderSubmitPayloadSchema, orderReplacePayloadSchema, userEventChannel, userEventKeys } from '../../../src/contracts/index.js';
import { createAssetDirectory, createTradingClockClient, type AssetDirectory } from '../../../src/infra/alpaca/index.js';
import { createDb, orders, paperAccounts, positions, processedCommands, settledCycles, users, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { ENVELOPE_FIELD, envelopeSchema, partitionOf, runtimeKeys, type Envelope } from '../../../src/runtime/index.js';
import { TierDirectory, type Gateway } from '../../../src/gateway/index.js';
import { unlimited, type RequestLimiter } from '../../../src/gateway/http/request-limiter.js';
import type { RateLimiter } from '../../../src/infra/rate-limit/index.js';
import { createCommandSubmitter } from '../../../src/gateway/http/command-submitter.js';
import { createPaperRoutes } from '../../../src/gateway/http/paper/routes.js';
import { createPaperStream } from '../../../src/gateway/paper-stream.js';
import { createUserEventBus, type UserEventBus } from '../../../src/gateway/private-events.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { hmacAuth, signSession, startTestGateway } from '../../support/gateway.js';
import { testRedisUrl } from '../../support/redis.js';
import { startTestSimulator } from '../../support/simulator.js';
import { sleep, waitFor } from '../../support/wait.js';

const P = 4;
const SECRET = 'paper-api-test-secret-0123456789abcdef';
const SIM_KEYS = { keyId: 'raxx-dev-key', secret: 'raxx-dev-secret' };
const tag = randomUUID().slice(0, 8);
const A = `paper-a-${tag}`;
const B = `paper-b-${tag}`;
const NOACCT = `paper-none-${tag}`;
const LIMITED = `paper-limited-${tag}`;
const BUSY = `paper-busy-${tag}`;

let t: TestDatabase;
let app: DbHandle;
let redis: Redis;
let subscriber: Redis;
let bus: UserEventBus;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let assets: AssetDirectory;
let gateway: Gateway;
let url: string;
const tokens: Record<string, string> = {};
const accountIds: Record<string, string> = {};

// LIMITED has spent its HTTP budget; BUSY its order budget (the extra budget a submit counts with the HTTP one).
const limiter: RequestLimiter = {
  check: async (userId, tier, extra) => {
    if (userId === LIMITED) return { allowed: false, limit: 60, remaining: 0, retryAfterSeconds: 7, refusedBy: 'request' };
    if (userId === BUSY && extra) return { allowed: false, limit: extra.limit, remaining: 0, retryAfterSeconds: 1, refusedBy: 'extra' };
    return unlimited.check(userId, tier);
  },
};
// Replace and cancel count the order budget on their own: never spent here.
const orderBudget: RateLimiter = {
  limit: async (_scope, _subject, limit) => ({ allowed: true, limit, remaining: limit, retryAfterMs: 0, retryAfterSeconds: 0 }),
  limitAll: async () => {
    throw new Error('not used by the paper routes');
  },
};

// ---- helpers ----

/** A parsed response body: an object (fields read loosely) or a list of them. */
type Json = Record<string, unknown> & { code?: number; message?: string; id?: string; data?: unknown; missing?: Array<{ rule: string }> };
const list = (j: unknown) => j as Array<Record<string, unknown>>;
const ids = (j: unknown) => list(j).map((o) => o.id);

async function call(user: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(user ? { authorization: `Bearer ${tokens[user]}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: (text === '' ? null : JSON.parse(text)) as Json };
}

const streamKey = (user: string) => runtimeKeys.stream(partitionOf(user, P));
const streamLen = (user: string) => redis.xlen(streamKey(user));

/** Envelopes of `user` appended after stream id `after`. */
async function envelopesOf(user: string, after = '-'): Promise<Array<Envelope & { entry: string }>> {
  const rows = (await redis.xrange(streamKey(user), after, '+')) as Array<[string, string[]]>;
  return rows
    .map(([entry, f]) => ({ entry, ...envelopeSchema.parse(JSON.parse(f[f.indexOf(ENVELOPE_FIELD) + 1]!)) }))
    .filter((e) => e.userId === user);
}

async function lastEntry(user: string): Promise<string> {
  const rows = (await redis.xrevrange(streamKey(user), '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  return rows[0] ? `(${rows[0][0]}` : '-';
}

/** The test plays the account actor: waits for the next command of `user`, stores and publishes `decide(env)`. */
async function actOnce(user: string, after: string, decide: (env: Envelope) => { outcome: 'accepted' | 'rejected'; code?: string; result: unknown; eventData?: unknown }): Promise<Envelope> {
  let env: Envelope | undefined;
  await waitFor(async () => (env = (await envelopesOf(user, after))[0]) !== undefined, 5000, `a command of ${user}`);
  const d = decide(env!);
  await withTenant(app.db, [user], (tx) =>
    tx.insert(processedCommands).values({
      commandId: env!.id,
      userId: user,
      partition: partitionOf(user, P),
      type: env!.type,
      resultCode: d.code ?? d.outcome,
      result: { outcome: d.outcome, ...(d.code ? { code: d.code } : {}), result: d.result },
    }),
  );
  await publish(user, { kind: 'decision', commandId: env!.id, outcome: d.outcome, ...(d.code ? { code: d.code } : {}), data: d.eventData ?? { type: env!.type } });
  return env!;
}

async function publish(user: string, ev: Record<string, unknown>): Promise<void> {
  const seq = await redis.incr(userEventKeys.seq(user));
  const frame = JSON.stringify({ T: 'event', seq, ...ev, at: new Date().toISOString() });
  await redis.multi().xadd(userEventKeys.log(user), '*', 's', String(seq), 'f', frame).publish(userEventChannel(user), frame).exec();
}

/** An engine order view (what the actor's decision carries). */
function orderView(o: { id: string; client_order_id: string; symbol: string; side?: string; type?: string; qty?: string; limit_price?: string; status?: string }) {
  const now = new Date().toISOString();
  return {
    id: o.id,
    client_order_id: o.client_order_id,
    symbol: o.symbol,
    side: o.side ?? 'buy',
    type: o.type ?? 'limit',
    time_in_force: 'day',
    qty: o.qty ?? '1',
    notional: null,
    filled_qty: '0',
    filled_avg_price: null,
    limit_price: o.limit_price ?? '10',
    stop_price: null,
    extended_hours: false,
    status: o.status ?? 'new',
    replaces: null,
    replaced_by: null,
    submitted_at: now,
    updated_at: now,
    filled_at: null,
    canceled_at: null,
    expired_at: null,
    replaced_at: null,
    failed_at: null,
    reserved_cash: '10',
  };
}

async function insertOrder(user: string, o: Partial<typeof orders.$inferInsert> & { symbol: string }): Promise<string> {
  const id = o.id ?? randomUUID();
  await withTenant(app.db, [user], (tx) =>
    tx.insert(orders).values({
      id,
      clientOrderId: o.clientOrderId ?? `coid-${id.slice(0, 8)}`,
      userId: user,
      accountId: accountIds[user]!,
      side: 'buy',
      type: 'limit',
      timeInForce: 'day',
      qty: '10',
      limitPrice: '100.5',
      status: 'new',
      ...o,
    }),
  );
  return id;
}

// ---- set-up ----

beforeAll(async () => {
  t = await createTestDatabase('raxx_paper');
  app = createDb(t.appUrl, { max: 4 });
  const ids = [A, B, NOACCT, LIMITED, BUSY];
  await withTenant(app.db, ids, async (tx) => {
    await tx.insert(users).values(ids.map((id) => ({ id, tier: 'pro' as const })));
    for (const id of [A, B]) {
      const [row] = await tx.insert(paperAccounts).values({ userId: id, cash: '50000', startingCash: '100000', reservedCash: '1000' }).returning({ id: paperAccounts.id });
      accountIds[id] = row!.id;
    }
  });
  for (const id of ids) tokens[id] = await signSession(id, SECRET);

  redis = createRedis(testRedisUrl('paper-api'), 'paper-test');
  subscriber = createRedis(testRedisUrl('paper-api'), 'paper-test-events');
  bus = createUserEventBus(subscriber);
  sim = await startTestSimulator({ SIM_SYMBOLS: '50', SIM_RATE: '0' });
  assets = createAssetDirectory({ tradingUrl: sim.url, credentials: () => SIM_KEYS });
  await assets.ready();

  const clock = { now: () => Date.now() };
  const auth = hmacAuth(SECRET);
  const directory = new TierDirectory(app.db, { cacheMs: 60_000 });
  const submitter = createCommandSubmitter({ redis, db: app.db, events: bus, partitions: P, clock, options: { decisionWaitMs: 1500 } });
  const routes = createPaperRoutes({
    auth,
    directory,
    limiter,
    rateLimiter: orderBudget,
    db: app.db,
    submitter,
    assets,
    clock: createTradingClockClient({ tradingUrl: sim.url, credentials: () => SIM_KEYS }),
    options: { maxBodyBytes: 2048, gateCycles: 3 },
  });
  const stream = createPaperStream({ auth, directory, bus, maxBackpressureBytes: 1 << 20, options: { authTimeoutMs: 1500 } });
  ({ gateway } = await startTestGateway({ auth, directory, clock, routes: [routes, stream] }));
  url = gateway.url;
});

afterAll(async () => {
  await gateway?.close();
  await bus?.close();
  assets?.close();
  await sim?.close();
  await Promise.all([redis, subscriber].filter(Boolean).map((r) => closeRedis(r)));
  await app?.close();
  await t?.drop();
});

// ---- reads ----

describe('reads from the query tables', () => {
  it('GET /paper/v2/account: Alpaca account JSON, equity = cash + positions at their average entry price', async () => {
    await withTenant(app.db, [A], (tx) =>
      tx.insert(positions).values({ accountId: accountIds[A]!, symbol: 'AAPL', userId: A, qty: '10', avgEntryPrice: '150.25', costBasis: '1502.5' }),
    );
    const r = await call(A, 'GET', '/paper/v2/account');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      id: accountIds[A],
      status: 'ACTIVE',
      currency: 'USD',
      cash: '50000',
      buying_power: '49000',
      equity: '51502.5',
      portfolio_value: '51502.5',
      long_market_value: '1502.5',
      multiplier: '1',
      shorting_enabled: false,
      pattern_day_trader: false,
      trading_blocked: false,
      last_equity: '100000',
    });
    expect(r.json.account_number).toMatch(/^PA[0-9A-F]{10}$/);
    expect(typeof r.json.created_at).toBe('string');
  });

  it('a user without a paper account gets 404 in Alpaca shape', async () => {
    const r = await call(NOACCT, 'GET', '/paper/v2/account');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ code: 40410000, message: expect.any(String) });
  });

  it('orders: list with status, limit, direction, symbols, after/until; get by id and by client_order_id', async () => {
    const base = Date.parse('2026-03-02T15:00:00Z');
    const open1 = await insertOrder(A, { symbol: 'MSFT', clientOrderId: `c1-${tag}`, submittedAt: new Date(base), createdAt: new Date(base) });
    const open2 = await insertOrder(A, { symbol: 'AAPL', submittedAt: new Date(base + 1000), createdAt: new Date(base + 1000) });
    const filled = await insertOrder(A, { symbol: 'AAPL', status: 'filled', filledQty: '10', filledAvgPrice: '100.5', submittedAt: new Date(base + 2000), filledAt: new Date(base + 2500) });

    const open = await call(A, 'GET', '/paper/v2/orders');
    expect(open.status).toBe(200);
    expect(ids(open.json)).toEqual([open2, open1]); // default: open, newest first
    const all = await call(A, 'GET', '/paper/v2/orders?status=all&direction=asc');
    expect(ids(all.json)).toEqual([open1, open2, filled]);
    const closed = await call(A, 'GET', '/paper/v2/orders?status=closed');
    expect(ids(closed.json)).toEqual([filled]);
    expect((await call(A, 'GET', '/paper/v2/orders?status=all&limit=1')).json).toHaveLength(1);
    expect(ids((await call(A, 'GET', '/paper/v2/orders?status=all&symbols=msft')).json)).toEqual([open1]);
    const window = await call(A, 'GET', `/paper/v2/orders?status=all&after=${new Date(base).toISOString()}&until=${new Date(base + 2000).toISOString()}`);
    expect(ids(window.json)).toEqual([open2]);

    const one = await call(A, 'GET', `/paper/v2/orders/${filled}`);
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({
      id: filled,
      symbol: 'AAPL',
      asset_class: 'us_equity',
      qty: '10',
      filled_qty: '10',
      filled_avg_price: '100.5',
      limit_price: '100.5',
      type: 'limit',
      order_type: 'limit',
      side: 'buy',
      time_in_force: 'day',
      status: 'filled',
      extended_hours: false,
      filled_at: new Date(base + 2500).toISOString(),
    });
    const byCoid = await call(A, 'GET', `/paper/v2/orders:by_client_order_id?client_order_id=c1-${tag}`);
    expect(byCoid.status).toBe(200);
    expect(byCoid.json.id).toBe(open1);
  });

  it('bad list parameters answer 422 40010001', async () => {
    for (const q of ['status=pending', 'limit=501', 'limit=0', 'direction=up', 'after=yesterday']) {
      const r = await call(A, 'GET', `/paper/v2/orders?${q}`);
      expect(r.status, q).toBe(422);
      expect(r.json.code, q).toBe(40010001);
    }
  });

  it('positions: list, by symbol, 404 when none', async () => {
    await insertOrder(A, { symbol: 'AAPL', side: 'sell', qty: '4', filledQty: '1' }); // holds 3 of the 10 shares
    const positionsRes = await call(A, 'GET', '/paper/v2/positions');
    expect(positionsRes.status).toBe(200);
    expect(list(positionsRes.json)).toHaveLength(1);
    expect(list(positionsRes.json)[0]).toMatchObject({ symbol: 'AAPL', qty: '10', qty_available: '7', avg_entry_price: '150.25', side: 'long', cost_basis: '1502.5', market_value: '1502.5', unrealized_pl: '0' });
    const one = await call(A, 'GET', '/paper/v2/positions/aapl');
    expect(one.status).toBe(200);
    expect(one.json.symbol).toBe('AAPL');
    const byAssetId = await call(A, 'GET', `/paper/v2/positions/${String(one.json.asset_id)}`);
    expect(byAssetId.json.symbol).toBe('AAPL');
    const none = await call(A, 'GET', '/paper/v2/positions/MSFT');
    expect(none.status).toBe(404);
    expect(none.json).toEqual({ code: 40410000, message: 'position does not exist' });
  });

  it('GET /paper/v2/clock is the upstream clock', async () => {
    const [ours, upstream] = await Promise.all([
      call(A, 'GET', '/paper/v2/clock'),
      fetch(`${sim.url}/v2/clock`, { headers: { 'APCA-API-KEY-ID': SIM_KEYS.keyId, 'APCA-API-SECRET-KEY': SIM_KEYS.secret } }).then((r) => r.json() as Promise<Json>),
    ]);
    expect(ours.status).toBe(200);
    expect(Object.keys(ours.json).sort()).toEqual(['is_open', 'next_close', 'next_open', 'timestamp']);
    expect(ours.json.is_open).toBe(upstream.is_open);
    expect(ours.json.next_open).toBe(upstream.next_open);
  });
});

describe('access', () => {
  it('no token → 401, spent budget → 429 with Retry-After, unknown route → 404, all in Alpaca shape', async () => {
    const anon = await call(null, 'GET', '/paper/v2/account');
    expect(anon.status).toBe(401);
    expect(anon.json).toEqual({ code: 40110000, message: 'request is not authorized' });
    const limited = await call(LIMITED, 'GET', '/paper/v2/orders');
    expect(limited.status).toBe(429);
    expect(limited.json.code).toBe(42910000);
    expect(limited.headers.get('retry-after')).toBe('7');
    // Over the HTTP budget, an order that would be refused anyway is refused by the budget first.
    const limitedOrder = await call(LIMITED, 'POST', '/paper/v2/orders', { symbol: 'NOPE', qty: '1', side: 'buy', type: 'market', time_in_force: 'day' });
    expect(limitedOrder.status).toBe(429);
    expect(limitedOrder.json.message).toMatch(/requests per minute/);
    const unknown = await call(A, 'GET', '/paper/v2/watchlists');
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe(40410000);
  });

  it('a spent order budget refuses a valid order with 429 and appends nothing; an invalid one is still a 422', async () => {
    const before = await streamLen(BUSY);
    const order = { symbol: 'AAPL', qty: '1', side: 'buy', type: 'market', time_in_force: 'day' };
    const refused = await call(BUSY, 'POST', '/paper/v2/orders', order);
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({ code: 42910000, message: 'at most 20 orders per second' });
    expect(refused.headers.get('retry-after')).toBe('1');
    const invalidOrder = await call(BUSY, 'POST', '/paper/v2/orders', { ...order, symbol: 'NOPE' });
    expect(invalidOrder.status).toBe(422);
    expect(await streamLen(BUSY)).toBe(before);
  });

  it("isolation: another user's order and position are 404 (not 403), and cancel/replace of them append nothing", async () => {
    const mine = await insertOrder(A, { symbol: 'NVDA', clientOrderId: `iso-${tag}` });
    const before = await streamLen(B);
    for (const [method, path, body] of [
      ['GET', `/paper/v2/orders/${mine}`, undefined],
      ['GET', `/paper/v2/orders:by_client_order_id?client_order_id=iso-${tag}`, undefined],
      ['GET', '/paper/v2/positions/AAPL', undefined],
      ['DELETE', `/paper/v2/orders/${mine}`, undefined],
      ['PATCH', `/paper/v2/orders/${mine}`, { qty: '2' }],
    ] as const) {
      const r = await call(B, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json.code).toBe(40410000);
    }
    expect((await call(B, 'GET', '/paper/v2/orders?status=all')).json).toEqual([]);
    expect(await streamLen(B)).toBe(before);
  });
});

// ---- writes ----

describe('writes: validation appends nothing', () => {
  const good = { symbol: 'AAPL', qty: '1', side: 'buy', type: 'limit', time_in_force: 'day', limit_price: '10' };
  const cases: Array<{ name: string; body: unknown; headers?: Record<string, string>; status: number; code: number; message?: RegExp }> = [
    { name: 'unknown type', body: { ...good, type: 'iceberg' }, status: 422, code: 40010001, message: /order type/ },
    { name: 'missing price', body: { ...good, limit_price: undefined }, status: 422, code: 40010001, message: /limit_price is required/ },
    { name: 'missing stop price', body: { ...good, type: 'stop' }, status: 422, code: 40010001, message: /stop_price is required/ },
    { name: 'negative qty', body: { ...good, qty: '-5' }, status: 422, code: 40010001, message: /qty/ },
    { name: 'zero qty', body: { ...good, qty: '0' }, status: 422, code: 40010001 },
    { name: 'sub-penny price', body: { ...good, limit_price: '10.123' }, status: 422, code: 42210000, message: /sub-penny/ },
    { name: 'unknown symbol', body: { ...good, symbol: 'ZZZZQ' }, status: 422, code: 40010001, message: /not found/ },
    { name: 'missing symbol', body: { ...good, symbol: undefined }, status: 422, code: 40010001 },
    { name: 'unknown side', body: { ...good, side: 'short' }, status: 422, code: 40010001 },
    { name: 'unknown time in force', body: { ...good, time_in_force: 'forever' }, status: 422, code: 40010001 },
    { name: 'qty and notional', body: { ...good, type: 'market', limit_price: undefined, notional: '100' }, status: 422, code: 40010001 },
    { name: 'client_order_id over 128 chars', body: { ...good, client_order_id: 'x'.repeat(129) }, status: 422, code: 40010001 },
    { name: 'not an object', body: '[1,2]', status: 422, code: 40010001 },
    { name: 'malformed JSON', body: '{"symbol":', status: 400, code: 40010000 },
    { name: 'wrong content type', body: JSON.stringify(good), headers: { 'content-type': 'text/plain' }, status: 415, code: 41510000 },
    { name: 'oversized body', body: { ...good, pad: 'x'.repeat(4096) }, status: 413, code: 41310000 },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const before = await streamLen(A);
      const r = await call(A, 'POST', '/paper/v2/orders', c.body, c.headers);
      expect(r.status).toBe(c.status);
      expect(r.json.code).toBe(c.code);
      expect(typeof r.json.message).toBe('string');
      if (c.message) expect(r.json.message).toMatch(c.message);
      expect(await streamLen(A)).toBe(before);
    });
  }

  it('a PATCH with bad values appends nothing', async () => {
    const id = await insertOrder(A, { symbol: 'AMD' });
    const before = await streamLen(A);
    for (const [body, status, code] of [
      [{ qty: '-1' }, 422, 40010001],
      [{ limit_price: '1.001' }, 422, 42210000],
      [{}, 422, 40010001],
      ['nope', 400, 40010000],
    ] as const) {
      const r = await call(A, 'PATCH', `/paper/v2/orders/${id}`, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.json.code).toBe(code);
    }
    expect(await streamLen(A)).toBe(before);
  });
});

describe('writes: commands and decisions', () => {
  it('no decision within the wait → 504 with the command id; the envelope follows the contract', async () => {
    const after = await lastEntry(A);
    const r = await call(A, 'POST', '/paper/v2/orders', { symbol: 'aapl', qty: 2, side: 'buy', type: 'limit', time_in_force: 'gtc', limit_price: '101.5', client_order_id: `slow-${tag}` });
    expect(r.status).toBe(504);
    expect(r.json).toMatchObject({ code: 50410000, client_order_id: `slow-${tag}` });
    const envs = await envelopesOf(A, after);
    expect(envs).toHaveLength(1);
    expect(envs[0]!.id).toBe(r.json.command_id);
    expect(envs[0]!.type).toBe('order.submit');
    const payload = orderSubmitPayloadSchema.parse(envs[0]!.payload);
    expect(payload.order).toMatchObject({ id: r.json.id, client_order_id: `slow-${tag}`, symbol: 'AAPL', qty: '2', side: 'buy', type: 'limit', time_in_force: 'gtc', limit_price: '101.5' });
  });

  it('accepted → 200 with the order JSON (from the stored decision); the client_order_id is generated when absent', async () => {
    const after = await lastEntry(A);
    const pending = call(A, 'POST', '/paper/v2/orders', { symbol: 'MSFT', qty: '3', side: 'buy', type: 'market', time_in_force: 'day' });
    const env = await actOnce(A, after, (e) => {
      const o = orderSubmitPayloadSchema.parse(e.payload).order;
      return { outcome: 'accepted', result: { order: orderView({ ...o, type: 'market', qty: '3' }) } };
    });
    const r = await pending;
    const sent = orderSubmitPayloadSchema.parse(env.payload).order;
    expect(sent.client_order_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: sent.id, client_order_id: sent.client_order_id, symbol: 'MSFT', qty: '3', type: 'market', status: 'new', order_class: 'simple' });
  });

  it('rejected → the decision\'s status with Alpaca {code, message}', async () => {
    const after = await lastEntry(A);
    const pending = call(A, 'POST', '/paper/v2/orders', { symbol: 'AAPL', qty: '100000', side: 'buy', type: 'limit', time_in_force: 'day', limit_price: '100' });
    const rejection = { status: 403, code: 40310000, message: 'insufficient buying power' };
    await actOnce(A, after, (e) => ({ outcome: 'rejected', code: 'alpaca_40310000', result: rejection, eventData: { type: e.type, ...rejection } }));
    const r = await pending;
    expect(r.status).toBe(403);
    expect(r.json).toEqual({ code: 40310000, message: 'insufficient buying power' });
  });

  it('PATCH → order.replace with a new id; DELETE → 204; DELETE all → 207 with per-order statuses', async () => {
    const id = await insertOrder(A, { symbol: 'AMD', limitPrice: '50' });
    let after = await lastEntry(A);
    const patched = call(A, 'PATCH', `/paper/v2/orders/${id}`, { qty: '20', limit_price: '51' });
    const env = await actOnce(A, after, (e) => {
      const p = orderReplacePayloadSchema.parse(e.payload);
      return { outcome: 'accepted', result: { order: { ...orderView({ id: p.new_order_id, client_order_id: p.patch.client_order_id, symbol: 'AMD', qty: '20', limit_price: '51' }), replaces: id } } };
    });
    const replace = orderReplacePayloadSchema.parse(env.payload);
    expect(env.type).toBe('order.replace');
    expect(replace).toMatchObject({ order_id: id, patch: { qty: '20', limit_price: '51' } });
    expect(replace.new_order_id).not.toBe(id);
    const r = await patched;
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: replace.new_order_id, replaces: id, qty: '20', limit_price: '51' });

    after = await lastEntry(A);
    const canceled = call(A, 'DELETE', `/paper/v2/orders/${id}`);
    const cancelEnv = await actOnce(A, after, () => ({ outcome: 'accepted', result: { order: orderView({ id, client_order_id: 'x', symbol: 'AMD', status: 'canceled' }) } }));
    expect(cancelEnv).toMatchObject({ type: 'order.cancel', payload: { order_id: id } });
    const c = await canceled;
    expect(c.status).toBe(204);
    expect(c.text).toBe('');

    after = await lastEntry(A);
    const all = call(A, 'DELETE', '/paper/v2/orders');
    const o1 = orderView({ id: randomUUID(), client_order_id: 'a', symbol: 'AMD', status: 'canceled' });
    const o2 = orderView({ id: randomUUID(), client_order_id: 'b', symbol: 'MSFT', status: 'canceled' });
    const allEnv = await actOnce(A, after, () => ({ outcome: 'accepted', result: { orders: [o1, o2] } }));
    expect(allEnv).toMatchObject({ type: 'order.cancel_all', payload: {} });
    const m = await all;
    expect(m.status).toBe(207);
    expect(m.json).toEqual([
      { id: o1.id, status: 200, body: expect.objectContaining({ id: o1.id, status: 'canceled' }) },
      { id: o2.id, status: 200, body: expect.objectContaining({ id: o2.id, status: 'canceled' }) },
    ]);
  });
});

describe('the paper-profitable gate', () => {
  it('GET /paper/v2/gate shows where the user stands (N = 3 here), counting only cycles since the cycle start', async () => {
    const start = new Date(Date.now() - 10 * 86_400_000);
    await withTenant(app.db, [B], async (tx) => {
      await tx.update(paperAccounts).set({ cycleStartedAt: start }).where(eq(paperAccounts.userId, B));
      const row = (day: string, pnl: string, active: boolean, settledAt: Date) => ({
        userId: B, accountId: accountIds[B]!, tradingDay: day, equityOpen: '100000', equityClose: '100000', pnl, hadActivity: active, settledAt,
      });
      await tx.insert(settledCycles).values([
        row('2020-01-02', '-999', true, new Date(start.getTime() - 1000)), // before the reset: ignored
        row('2026-03-02', '-40', true, new Date(start.getTime() + 1000)),
        row('2026-03-03', '25.5', false, new Date(start.getTime() + 2000)),
      ]);
    });
    const first = await call(B, 'GET', '/paper/v2/gate');
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ passes: false, required_cycles: 3, settled_cycles: 2, pnl: '-14.50', active_cycles: 1, required_active_cycles: 2 });
    expect(first.json.missing!.map((m) => m.rule)).toEqual(['cycles', 'pnl', 'activity']);

    await withTenant(app.db, [B], (tx) =>
      tx.insert(settledCycles).values({ userId: B, accountId: accountIds[B]!, tradingDay: '2026-03-04', equityOpen: '1', equityClose: '1', pnl: '30', hadActivity: true, settledAt: new Date(start.getTime() + 3000) }),
    );
    const second = await call(B, 'GET', '/paper/v2/gate');
    expect(second.json).toMatchObject({ passes: true, settled_cycles: 3, pnl: '15.50', active_cycles: 2, window: { from: '2026-03-02', to: '2026-03-04' }, missing: [] });
    expect((await call(NOACCT, 'GET', '/paper/v2/gate')).status).toBe(404);
  });
});

// ---- /paper/stream ----

interface Frame {
  stream?: string;
  action?: string;
  data?: Record<string, unknown> & { status?: string; streams?: string[] };
}

class StreamClient {
  readonly frames: Frame[] = [];
  binary = true;
  readonly closeCode: Promise<number>;
  constructor(readonly ws: WebSocket) {
    this.closeCode = new Promise((res) => ws.once('close', (code) => res(code)));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.binary = false;
      this.frames.push(JSON.parse(data.toString()) as Frame);
    });
  }
  static async open(): Promise<StreamClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/paper/stream`);
    const c = new StreamClient(ws);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    return c;
  }
  send(m: unknown): void {
    this.ws.send(JSON.stringify(m));
  }
  async next(pred: (f: Frame) => boolean, what: string): Promise<Frame> {
    let found: Frame | undefined;
    await waitFor(() => (found = this.frames.find(pred)) !== undefined, 5000, what);
    return found!;
  }
  closed(): Promise<number> {
    return this.closeCode;
  }
}

describe('/paper/stream (trade_updates)', () => {
  it("auth (SDK's authenticate with the token as secret_key) and listen; a user gets only their own trade updates", async () => {
    const a = await StreamClient.open();
    const b = await StreamClient.open();
    a.send({ action: 'listen', data: { streams: ['trade_updates'] } });
    expect(await a.next((f) => f.stream === 'authorization', 'listen refusal')).toEqual({ stream: 'authorization', data: { action: 'listen', status: 'unauthorized' } });
    a.send({ action: 'authenticate', data: { key_id: 'session', secret_key: tokens[A] } });
    b.send({ action: 'auth', key: 'session', secret: tokens[B] });
    for (const c of [a, b]) {
      expect(await c.next((f) => f.data?.status === 'authorized', 'authorized')).toEqual({ stream: 'authorization', data: { action: 'authenticate', status: 'authorized' } });
      c.send({ action: 'listen', data: { streams: ['trade_updates'] } });
      expect(await c.next((f) => f.stream === 'listening', 'listening')).toEqual({ stream: 'listening', data: { streams: ['trade_updates'] } });
    }
    const order = orderView({ id: randomUUID(), client_order_id: `s-${tag}`, symbol: 'AAPL', status: 'filled' });
    await publish(A, { kind: 'decision', commandId: randomUUID(), outcome: 'accepted', data: { type: 'order.submit' } }); // not a trade update
    await publish(A, { kind: 'trade_update', data: { event: 'fill', timestamp: new Date().toISOString(), order, price: '100.5', qty: '1', position_qty: '11', execution_id: `${order.id}-1` } });
    const update = await a.next((f) => f.stream === 'trade_updates', 'trade update');
    expect(update.data).toMatchObject({ event: 'fill', price: '100.5', qty: '1', position_qty: '11', order: { id: order.id, client_order_id: `s-${tag}`, status: 'filled', asset_class: 'us_equity', order_type: 'limit' } });
    expect(a.frames.filter((f) => f.stream === 'trade_updates')).toHaveLength(1);
    await sleep(300);
    expect(b.frames.filter((f) => f.stream === 'trade_updates')).toHaveLength(0);
    expect(a.binary && b.binary).toBe(true); // Alpaca paper sends JSON in binary frames

    // listen with [] stops the updates
    a.send({ action: 'listen', data: { streams: [] } });
    await a.next((f) => f.stream === 'listening' && f.data?.streams?.length === 0, 'listening []');
    await publish(A, { kind: 'trade_update', data: { event: 'canceled', timestamp: new Date().toISOString(), order } });
    await sleep(300);
    expect(a.frames.filter((f) => f.stream === 'trade_updates')).toHaveLength(1);
    a.ws.close();
    b.ws.close();
  });

  it('a bad token is unauthorized and closed; malformed messages get an error frame; no auth within the timeout closes', async () => {
    const c = await StreamClient.open();
    c.send('not json' as unknown);
    c.ws.send('{oops');
    expect(await c.next((f) => f.action === 'error', 'error frame')).toEqual({ action: 'error', data: { error_message: 'invalid syntax' } });
    c.send({ action: 'authenticate', data: { oauth_token: 'forged.token.value' } });
    expect(await c.next((f) => f.stream === 'authorization', 'unauthorized')).toEqual({ stream: 'authorization', data: { action: 'authenticate', status: 'unauthorized' } });
    expect(await c.closed()).toBe(1008);

    const idle = await StreamClient.open();
    expect(await idle.closed()).toBe(1008);
  });
});
