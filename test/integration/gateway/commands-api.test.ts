// The command HTTP API in-process on real Redis (DB 1) and PostgreSQL. No account actor runs here: the test plays it
// (reads the appended envelope from cmd:{pN}, XADDs + publishes the decision event, stores processed_commands).
// Pub/sub is server-wide: this file only uses demo-pro and demo-free.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../support/redis.js';
import { createDb, processedCommands, seedDemoUsers, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { createRedisRateLimiter } from '../../../src/infra/rate-limit/index.js';
import { userEventChannel, userEventKeys } from '../../../src/contracts/user-events.js';
import { ENVELOPE_FIELD, envelopeSchema, partitionOf, runtimeKeys, type Envelope } from '../../../src/runtime/index.js';
import { TierDirectory, type Gateway } from '../../../src/gateway/index.js';
import { unlimited, type RequestLimiter } from '../../../src/gateway/http/request-limiter.js';
import { commandIdKey, createCommandRoutes } from '../../../src/gateway/http/commands.js';
import { createCommandSubmitter } from '../../../src/gateway/http/command-submitter.js';
import { createUserEventBus, type UserEventBus } from '../../../src/gateway/private-events.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { hmacAuth, signSession, startTestGateway } from '../../support/gateway.js';
import { waitFor } from '../../support/wait.js';

const P = 4;
const SECRET = 'commands-test-secret-0123456789abcdef';
const redisUrl = () => testRedisUrl('commands-api');

let t: TestDatabase;
let app: DbHandle;
let redis: Redis;
let subscriber: Redis;
let bus: UserEventBus;
let gateway: Gateway;
let url: string;
const tokens: Record<string, string> = {};
const denied = new Set<string>();
const cursors = new Map<number, string>();

// The HTTP budget is played by `denied`; the command budget (the extra one) is the real Redis limiter's.
const limiter: RequestLimiter = {
  check: async (userId, tier, extra) => {
    if (denied.has(userId)) return { allowed: false, limit: 60, remaining: 0, retryAfterSeconds: 7, refusedBy: 'request' };
    if (!extra) return unlimited.check(userId, tier);
    const d = await createRedisRateLimiter(redis).limit(extra.scope, userId, extra.limit, extra.windowMs);
    return d.allowed ? d : { ...d, refusedBy: 'extra' };
  },
};

// ---- the simulated account actor ----

/** Every envelope appended for `userId` since the last call (per partition cursor). */
async function appended(userId: string): Promise<Envelope[]> {
  const p = partitionOf(userId, P);
  const rows = (await redis.xrange(runtimeKeys.stream(p), cursors.has(p) ? `(${cursors.get(p)}` : '-', '+')) as Array<[string, string[]]>;
  const out: Envelope[] = [];
  for (const [id, fields] of rows) {
    cursors.set(p, id);
    const env = envelopeSchema.parse(JSON.parse(fields[fields.indexOf(ENVELOPE_FIELD) + 1]!));
    if (env.userId === userId) out.push(env);
  }
  return out;
}

async function nextCommand(userId: string): Promise<Envelope> {
  let found: Envelope | undefined;
  await waitFor(async () => (found = (await appended(userId))[0]) !== undefined, 3000, `a command of ${userId}`);
  return found!;
}

/** What the actor does when it decides: store, then append + publish the decision event. */
async function decide(env: Envelope, outcome: 'accepted' | 'rejected', code?: string, data?: unknown, opts: { store?: boolean; publish?: boolean } = {}): Promise<number> {
  if (opts.store !== false) {
    await withTenant(app.db, [env.userId], (tx) =>
      tx.insert(processedCommands).values({
        commandId: env.id,
        userId: env.userId,
        partition: partitionOf(env.userId, P),
        type: env.type,
        resultCode: code ?? outcome,
        result: { outcome, ...(code !== undefined ? { code } : {}), ...(data !== undefined ? { result: data } : {}) },
      }),
    );
  }
  const seq = await redis.incr(userEventKeys.seq(env.userId));
  if (opts.publish !== false) {
    const frame = JSON.stringify({ T: 'event', seq, kind: 'decision', commandId: env.id, outcome, ...(code ? { code } : {}), ...(data !== undefined ? { data } : {}), at: new Date().toISOString() });
    await redis.multi().xadd(userEventKeys.log(env.userId), '*', 's', String(seq), 'f', frame).publish(userEventChannel(env.userId), frame).exec();
  }
  return seq;
}

async function post(user: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}/api/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[user]}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function get(user: string | undefined, id: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/commands/${id}`, { headers: user ? { authorization: `Bearer ${tokens[user]}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

// ---- set-up ----

beforeAll(async () => {
  t = await createTestDatabase('raxx_cmdapi');
  app = createDb(t.appUrl, { max: 3 });
  await seedDemoUsers(app.db);
  redis = createRedis(redisUrl(), 'cmd-test');
  subscriber = createRedis(redisUrl(), 'cmd-test-events');
  await redis.flushdb();
  for (const user of ['demo-free', 'demo-pro']) tokens[user] = await signSession(user, SECRET);
  const clock = { now: () => Date.now() };
  const { logger } = createLogger({ role: 'gateway', level: 'silent' });
  const auth = hmacAuth(SECRET);
  const directory = new TierDirectory(app.db, { cacheMs: 60_000 });
  bus = createUserEventBus(subscriber);
  const commands = createCommandRoutes({
    auth,
    directory,
    limiter,
    redis,
    db: app.db,
    events: bus,
    partitions: P,
    clock,
    logger,
    options: { decisionWaitMs: 600, commandsPerSecond: 5, maxBodyBytes: 2048 },
  });
  ({ gateway } = await startTestGateway({ auth, directory, clock, routes: [commands] }));
  url = gateway.url;
});

afterAll(async () => {
  await gateway?.close();
  await bus?.close();
  await Promise.all([redis, subscriber].filter(Boolean).map((r) => closeRedis(r)));
  await app?.close();
  await t?.drop();
});

// ---- tests ----

describe('POST /api/commands', () => {
  it('appends the envelope and answers 200 with the decision from the private channel', async () => {
    const pending = post('demo-pro', { type: 'account.adjust_cash', payload: { amount: '250.00' } });
    const env = await nextCommand('demo-pro');
    expect(env).toMatchObject({ userId: 'demo-pro', type: 'account.adjust_cash', payload: { amount: '250.00' } });
    const seq = await decide(env, 'accepted', undefined, { cash: '100250.00' });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ commandId: env.id, outcome: 'accepted', data: { cash: '100250.00' }, seq });
    await waitFor(() => bus.size() === 0, 2000, 'the waiter to unsubscribe');
  });

  it('rejections come back as 200 with outcome rejected and the code', async () => {
    const id = randomUUID();
    const pending = post('demo-pro', { type: 'account.adjust_cash', payload: { amount: '-1e12' }, id });
    const env = await nextCommand('demo-pro');
    expect(env.id).toBe(id);
    await decide(env, 'rejected', 'insufficient_cash');
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ commandId: id, outcome: 'rejected', code: 'insufficient_cash' });
  });

  it('no decision in time → 504 with the id; GET is 404 until the decision is stored, then returns it; other users get 404', async () => {
    const res = await post('demo-pro', { type: 'account.reset' });
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ code: 'decision_pending' });
    const id = res.body.commandId as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const env = await nextCommand('demo-pro');
    expect(env.id).toBe(id);

    expect((await get('demo-pro', id)).status).toBe(404);
    expect((await get('demo-pro', id)).body).toMatchObject({ code: 'unknown_command' });
    await decide(env, 'accepted', undefined, { reset: true });
    const after = await get('demo-pro', id);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ commandId: id, outcome: 'accepted', code: 'accepted', data: { reset: true }, type: 'account.reset' });
    expect(typeof after.body.processedAt).toBe('string');

    const other = await get('demo-free', id);
    expect(other.status).toBe(404);
    expect(other.body).toMatchObject({ code: 'unknown_command' });
    expect((await get(undefined, id)).status).toBe(401);
    expect((await get('demo-pro', 'not-a-uuid')).status).toBe(400);
  });

  it('idempotent id: a retry while pending appends nothing and gets the decision; after it, the stored outcome', async () => {
    const id = randomUUID();
    const first = await post('demo-pro', { type: 'account.open', payload: {}, id });
    expect(first.status).toBe(504);
    const env = await nextCommand('demo-pro');
    expect(env.id).toBe(id);

    const retry = post('demo-pro', { type: 'account.open', payload: {}, id });
    await new Promise((r) => setTimeout(r, 150));
    expect(await appended('demo-pro')).toEqual([]); // not appended a second time
    const seq = await decide(env, 'accepted', undefined, { opened: true });
    expect((await retry).body).toEqual({ commandId: id, outcome: 'accepted', data: { opened: true }, seq });

    const third = await post('demo-pro', { type: 'account.open', payload: {}, id: id.toUpperCase() });
    expect(third.status).toBe(200);
    expect(third.body).toEqual({ commandId: id, outcome: 'accepted', code: 'accepted', data: { opened: true } });
    expect(await appended('demo-pro')).toEqual([]);

    // Another user cannot reuse (or probe) the id.
    const stolen = await post('demo-free', { type: 'account.open', payload: {}, id });
    expect(stolen.status).toBe(409);
    expect(stolen.body).toMatchObject({ code: 'id_conflict' });
    expect(await appended('demo-free')).toEqual([]);
  });

  it('only a client-chosen id is reserved: a server-chosen one costs no reservation key', async () => {
    const submitter = createCommandSubmitter({ redis, db: app.db, events: bus, partitions: P, clock: { now: () => Date.now() }, options: { decisionWaitMs: 2000 } });
    const submit = (commandId: string, clientChosenId: boolean) => submitter.submit('demo-pro', { commandId, clientChosenId, type: 'account.reset', payload: {} });

    const chosen = randomUUID();
    const withId = submit(chosen, true);
    const a = await nextCommand('demo-pro');
    expect(a.id).toBe(chosen);
    expect(await redis.get(commandIdKey(chosen))).toBe(a.userId);
    const seqA = await decide(a, 'accepted');
    expect(await withId).toMatchObject({ kind: 'decided', decision: { commandId: chosen, outcome: 'accepted', seq: seqA } });

    const serverId = randomUUID();
    const withoutId = submit(serverId, false);
    const b = await nextCommand('demo-pro');
    expect(b.id).toBe(serverId);
    expect(await redis.exists(commandIdKey(serverId))).toBe(0);
    const seqB = await decide(b, 'accepted');
    expect(await withoutId).toMatchObject({ kind: 'decided', decision: { commandId: serverId, outcome: 'accepted', seq: seqB } });
  });

  it('a decision stored but whose event was missed is still found when the wait ends', async () => {
    const pending = post('demo-pro', { type: 'account.reset' });
    const env = await nextCommand('demo-pro');
    await decide(env, 'accepted', undefined, undefined, { publish: false });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ commandId: env.id, outcome: 'accepted', code: 'accepted' });
  });

  it('past maxFallbackReads concurrent reads, a wait that ran out answers pending without reading PostgreSQL', async () => {
    const clock = { now: () => Date.now() };
    const submit = (maxFallbackReads: number) =>
      createCommandSubmitter({ redis, db: app.db, events: bus, partitions: P, clock, options: { decisionWaitMs: 300, maxFallbackReads } }).submit('demo-pro', {
        commandId: randomUUID(),
        clientChosenId: false,
        type: 'account.reset',
        payload: {},
      });
    for (const [max, expected] of [
      [0, 'pending'],
      [1, 'decided'],
    ] as const) {
      const pending = submit(max);
      const env = await nextCommand('demo-pro');
      await decide(env, 'accepted', undefined, undefined, { publish: false }); // stored, the event missed
      expect((await pending).kind).toBe(expected);
    }
  });

  it('validation: 400 invalid_request / unknown_command, 413, 415, 401; nothing appended', async () => {
    const bad = [
      [{ type: 'account.adjust_cash', payload: 'x' }, 'invalid_request'],
      [{ type: 'account.adjust_cash', id: 'nope' }, 'invalid_request'],
      [{ type: 'account.adjust_cash', extra: 1 }, 'invalid_request'],
      [{ payload: {} }, 'invalid_request'],
      [[1, 2], 'invalid_request'],
      ['{not json', 'invalid_request'],
      [{ type: 'orders.place', payload: {} }, 'unknown_command'],
      [{ type: 'account.delete_everything' }, 'unknown_command'],
    ] as const;
    for (const [body, code] of bad) {
      const res = await post('demo-free', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe(code);
    }
    expect((await post('demo-free', { type: 'account.adjust_cash', payload: { memo: 'x'.repeat(4000) } })).status).toBe(413);
    expect((await post('demo-free', { type: 'account.reset' }, { 'content-type': 'text/plain' })).status).toBe(415);
    const anon = await fetch(`${url}/api/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"account.reset"}' });
    expect(anon.status).toBe(401);
    expect(await appended('demo-free')).toEqual([]);
  });

  it('rate limits: the per-user command budget (429 + Retry-After) and the HTTP budget', async () => {
    const results = await Promise.all(Array.from({ length: 7 }, () => post('demo-free', { type: 'account.reset' })));
    const statuses = results.map((r) => r.status);
    // 5 per second: at least 2 of 7 are refused (earlier tests may have used part of this second's budget).
    const accepted = statuses.filter((s) => s === 504).length;
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
    expect(accepted + statuses.filter((s) => s === 429).length).toBe(7);
    const limited = results.find((r) => r.status === 429)!;
    expect(limited.body).toMatchObject({ code: 'rate_limited' });
    expect(limited.body.message).toMatch(/commands per second/);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await appended('demo-free')).toHaveLength(accepted); // refused commands are not appended

    denied.add('demo-free');
    try {
      const res = await post('demo-free', { type: 'account.reset' });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(res.body.message).toMatch(/requests per minute/);
      // Over the HTTP budget, an invalid body is refused by the budget first, as any request is.
      const invalid = await post('demo-free', { type: 'account.nope' });
      expect(invalid.status).toBe(429);
    } finally {
      denied.delete('demo-free');
    }
  });
});
