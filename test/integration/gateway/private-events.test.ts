// The private per-user channel on the gateway WebSocket, in-process on real Redis (DB 2: DB 1 is flushed by the
// command API test running in parallel). No account actor: the test appends/publishes user events as it would.
// Pub/sub is server-wide: this file only uses demo-pro-plus and demo-operator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../support/redis.js';
import { createDb, seedDemoUsers, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { userEventChannel, userEventKeys } from '../../../src/contracts/user-events.js';
import { TierDirectory, type Gateway } from '../../../src/gateway/index.js';
import { createPrivateEvents, createUserEventBus, type UserEventBus } from '../../../src/gateway/private-events.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { connectWs, hmacAuth, signSession, startTestGateway, type WsClient } from '../../support/gateway.js';
import { sleep, waitFor } from '../../support/wait.js';

const SECRET = 'private-events-secret-0123456789abcdef';
const ORIGIN = 'http://127.0.0.1';
const A = 'demo-pro-plus';
const B = 'demo-operator';
const BACKPRESSURE = 256 * 1024;
const redisUrl = () => testRedisUrl('private-events');

let t: TestDatabase;
let app: DbHandle;
let redis: Redis;
let subscriber: Redis;
let bus: UserEventBus;
let gateway: Gateway;
let wsUrl: string;
const tokens: Record<string, string> = {};
const clients: WsClient[] = [];

type Msg = Record<string, unknown>;

async function connect(user: string): Promise<WsClient> {
  const c = await connectWs(wsUrl, { Origin: ORIGIN, authorization: `Bearer ${tokens[user]}` }, { flatten: true });
  clients.push(c);
  return c;
}

/** The private events a client got, in order. */
const events = (c: WsClient): Msg[] => c.messages.filter((m): m is Msg => !Array.isArray(m)).filter((m) => m.T === 'event');

/** What the account actor does for each event: INCR seq, XADD to the log, PUBLISH on the user's channel. */
async function emit(user: string, kind = 'account.updated', data: unknown = {}): Promise<number> {
  const seq = await redis.incr(userEventKeys.seq(user));
  const frame = JSON.stringify({ T: 'event', seq, kind, data, at: new Date().toISOString() });
  await redis.multi().xadd(userEventKeys.log(user), '*', 's', String(seq), 'f', frame).publish(userEventChannel(user), frame).exec();
  return seq;
}

async function subscribedUsers(n: number): Promise<void> {
  await waitFor(() => bus.size() === n, 3000, `${n} private channels subscribed`);
}

beforeAll(async () => {
  t = await createTestDatabase('raxx_private');
  app = createDb(t.appUrl, { max: 2 });
  await seedDemoUsers(app.db);
  redis = createRedis(redisUrl(), 'private-test');
  subscriber = createRedis(redisUrl(), 'private-test-events');
  await redis.flushdb();
  for (const user of [A, B]) tokens[user] = await signSession(user, SECRET);
  const { logger } = createLogger({ role: 'gateway', level: 'silent' });
  const auth = hmacAuth(SECRET);
  const directory = new TierDirectory(app.db, { cacheMs: 60_000 });
  bus = createUserEventBus(subscriber);
  ({ gateway, wsUrl } = await startTestGateway({
    auth,
    directory,
    options: { allowedOrigins: [ORIGIN], maxBackpressureBytes: BACKPRESSURE },
    privateChannel: createPrivateEvents({ redis, bus, maxBackpressureBytes: BACKPRESSURE, logger, options: { replayPage: 3 } }),
  }));
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await gateway?.close();
  await bus?.close();
  await Promise.all([redis, subscriber].filter(Boolean).map((r) => closeRedis(r)));
  await app?.close();
  await t?.drop();
});

describe('private per-user channel', () => {
  it("A's socket receives A's events; B's socket never does", async () => {
    const a = await connect(A);
    const b = await connect(B);
    await subscribedUsers(2);
    const s1 = await emit(A, 'account.opened', { cash: '100000' });
    const s2 = await emit(A, 'decision');
    const sb = await emit(B, 'account.updated', { mine: 'B' });
    expect(await a.nextObject((m) => m.T === 'event' && m.seq === s2)).toMatchObject({ kind: 'decision' });
    expect(await b.nextObject((m) => m.T === 'event' && m.seq === sb)).toMatchObject({ data: { mine: 'B' } });
    await sleep(100);
    expect(events(a).map((e) => e.seq)).toEqual([s1, s2]);
    expect(events(b).map((e) => e.seq)).toEqual([sb]);

    // The ordinary protocol still works next to it.
    a.send({ action: 'ping' });
    await a.nextObject((m) => m.T === 'pong');
    a.ws.close();
    b.ws.close();
    await Promise.all([a.closed, b.closed]);
    await subscribedUsers(0);
  });

  it('resume_events replays what was missed, in order, then continues live without duplicates', async () => {
    const base = Number((await redis.get(userEventKeys.seq(A))) ?? '0');
    const missed = [await emit(A), await emit(A), await emit(A), await emit(A), await emit(A)];
    const a = await connect(A);
    a.send({ action: 'resume_events', after: base + 1 });
    const done = await a.nextObject((m) => m.T === 'events_resumed', 'events_resumed');
    expect(done).toMatchObject({ after: base + 1, last: missed[4], replayed: 4 });
    expect(events(a).map((e) => e.seq)).toEqual(missed.slice(1));
    expect(a.messages.some((m) => !Array.isArray(m) && m.T === 'events_gap')).toBe(false);
    const live = await emit(A);
    await a.nextObject((m) => m.T === 'event' && m.seq === live);
    expect(events(a).map((e) => e.seq)).toEqual([...missed.slice(1), live]);

    // Resuming again from an older point re-sends (the client chose the position), still in order.
    a.send({ action: 'resume_events', after: missed[2]! });
    await a.nextObject((m) => m.T === 'events_resumed');
    expect(events(a).map((e) => e.seq).slice(-3)).toEqual([missed[3], missed[4], live]);

    a.send({ action: 'resume_events', after: -1 });
    expect(await a.nextObject((m) => m.T === 'error')).toMatchObject({ code: 'invalid_message' });
    a.ws.close();
    await a.closed;
  });

  it('reports a gap when the log no longer reaches back, then replays what it holds', async () => {
    const first = await emit(A);
    for (let i = 0; i < 5; i++) await emit(A);
    await redis.xtrim(userEventKeys.log(A), 'MAXLEN', 3);
    const last = Number(await redis.get(userEventKeys.seq(A)));
    const a = await connect(A);
    a.send({ action: 'resume_events', after: first - 1 });
    expect(await a.nextObject((m) => m.T === 'events_gap')).toEqual({ T: 'events_gap', from: first, to: last - 3 });
    await a.nextObject((m) => m.T === 'events_resumed');
    expect(events(a).map((e) => e.seq)).toEqual([last - 2, last - 1, last]);

    // An empty log with a seq counter ahead: everything after `after` is reported missing.
    await redis.del(userEventKeys.log(A));
    a.send({ action: 'resume_events', after: last - 1 });
    expect(await a.nextObject((m) => m.T === 'events_gap')).toEqual({ T: 'events_gap', from: last, to: last });
    a.ws.close();
    await a.closed;
  });

  it('a socket that cannot take its private events is closed 4008, never skipped', async () => {
    const a = await connect(A);
    await subscribedUsers(1);
    const raw = (a.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const big = 'x'.repeat(32 * 1024);
    for (let i = 0; i < 600 && gateway.connections() > 0; i++) await emit(A, 'bulk', { big });
    await waitFor(() => gateway.connections() === 0, 10_000, 'the server to close the socket');
    raw.resume();
    const closed = await Promise.race([a.closed, sleep(10_000).then(() => ({ code: -1, reason: 'timeout' }))]);
    expect(closed.code).toBe(4008);
    expect(closed.reason).toBe('private events backlog');
    await subscribedUsers(0);
  });
});
