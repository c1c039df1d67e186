// A live submit survives the death of the replica that sent it (security notes T1): a real `accounts` process sends
// the order to the simulator's broker, which takes it and holds the answer; the process is SIGKILLed mid-call; a
// second replica takes the partition, the command is redelivered, and the order is reconciled by its client_order_id
// — exactly one order at the broker, one outcome, nothing sent twice. And T14: the same, with Redis losing the command
// too (nothing redelivers it), found by the takeover reconciliation of drafts with a submit attempt.
import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../../src/infra/db/index.js';
import { createAlpacaBroker } from '../../src/infra/broker/index.js';
import { createKmsClient, Envelope } from '../../src/infra/kms/index.js';
import { activeConnection, insertSealedConnection, sealTokens } from '../../src/infra/live/connections.js';
import { getLiveOrder, insertDraft } from '../../src/infra/live/live-orders.js';
import { withTenant } from '../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../src/infra/redis/index.js';
import { appendCommand, partitionOf, runtimeKeys } from '../../src/runtime/index.js';
import { startAccountsReplica, type AccountsReplica } from '../support/accounts.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { testRedisUrl } from '../support/redis.js';
import { SIM_KMS_SECRET, simKmsOptions } from '../support/sim-kms.js';
import { simOAuthToken } from '../support/sim-oauth-token.js';
import { startTestSimulator } from '../support/simulator.js';
import { waitFor } from '../support/wait.js';

const P = 4;
const USER = `live-crash-${randomBytes(3).toString('hex')}`;
const LOGIN = `login-${USER}`;

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let tdb: TestDatabase;
let su: postgres.Sql;
let app: DbHandle;
let redis: Redis;
const replicas: AccountsReplica[] = [];

beforeAll(async () => {
  sim = await startTestSimulator({ SIM_OAUTH_AUTO_APPROVE: '1', SIM_HALT_PROBABILITY: '0', SIM_SYMBOLS: '50' });
  tdb = await createTestDatabase('raxx_live_crash');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  app = createDb(tdb.appUrl, { max: 2, role: 'raxx_app', appName: 'live-crash-test' });
  redis = createRedis(testRedisUrl('live-crash'), 'live-crash-test');
  await redis.flushdb();
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.stop('SIGKILL');
  await closeRedis(redis);
  await app?.close();
  await su?.end();
  await tdb?.drop();
  await sim?.close();
});

const env = () => ({
  REDIS_URL: testRedisUrl('live-crash'),
  DATABASE_URL: tdb.appUrl,
  DATABASE_BATCH_URL: tdb.batchUrl,
  ACCOUNTS_PARTITIONS: String(P),
  ACCOUNTS_LEASE_TTL_MS: '2000',
  ALPACA_TRADING_URL: sim.url,
  ALPACA_DATA_REST_URL: sim.url,
  // Long enough that the kill lands while the call is open (the simulator holds the answer until then).
  ALPACA_BROKER_TIMEOUT_MS: '30000',
  KMS_ENDPOINT: sim.kmsUrl,
  KMS_SECRET_ACCESS_KEY: SIM_KMS_SECRET,
});

/** A Pro user in live mode (gate overridden) with a sealed connection to a fresh simulated brokerage account; its token. */
async function liveUser(user: string, login: string): Promise<string> {
  const token = await simOAuthToken(sim.url, login);
  const envelope = new Envelope(createKmsClient(simKmsOptions(sim.kmsUrl)), { keyId: 'alias/raxx-live-tokens', timeoutMs: 5000 });
  const sealed = await sealTokens(envelope, user, randomUUID(), { accessToken: token, scope: 'trading' });
  await su.begin(async (tx) => {
    await tx`set local role raxx_batch`;
    await tx`insert into users (id, tier) values (${user}, 'pro')`;
    await tx`insert into live_gate_overrides (user_id, granted_by, reason) values (${user}, 'operator:test', 'test')`;
    await tx`insert into customer_trading_mode_overrides (user_id, mode, set_by) values (${user}, 'live', 'test')`;
  });
  await withTenant(app.db, [user], (tx) => insertSealedConnection(tx, { sealed, now: new Date(), reconsentDays: 90 }));
  return token;
}

/** A stored draft: a market buy of 1 AAPL; its live order id. */
async function marketDraft(user: string): Promise<string> {
  const id = randomUUID();
  await withTenant(app.db, [user], async (tx) => {
    const c = await activeConnection(tx, user);
    await insertDraft(tx, { id, userId: user, draft: { symbol: 'AAPL', side: 'buy', qty: '1', type: 'market', time_in_force: 'day' }, connectionId: c!.id });
  });
  return id;
}

/** The orders the simulated brokerage holds for a login. */
async function brokerOrders(login: string): Promise<Array<{ client_order_id: string; status: string }>> {
  const accounts = (await (await fetch(`${sim.url}/_control/trading/accounts`)).json()) as Array<{ login: string; account: { id: string } }>;
  const acc = accounts.find((a) => a.login === login);
  if (!acc) return [];
  return (await (await fetch(`${sim.url}/_control/trading/orders?account=${acc.account.id}`)).json()) as Array<{ client_order_id: string; status: string }>;
}

it('SIGKILL while the broker holds the submit: the next owner reconciles, the broker has one order', async () => {
  const token = await liveUser(USER, LOGIN);
  const liveOrderId = await marketDraft(USER);

  const first = await startAccountsReplica('first', env());
  replicas.push(first);
  await waitFor(async () => (await first.health()).owned.length === P, 15_000, 'the first replica owns every partition');
  // A resting order placed through the first replica: after the kill, the new owner must follow it on its own.
  const restingId = randomUUID();
  await withTenant(app.db, [USER], async (tx) => {
    const c = await activeConnection(tx, USER);
    await insertDraft(tx, { id: restingId, userId: USER, draft: { symbol: 'AAPL', side: 'buy', qty: '1', type: 'limit', time_in_force: 'gtc', limit_price: '1.00' }, connectionId: c!.id });
  });
  await appendCommand(redis, { id: randomUUID(), userId: USER, type: 'live.submit', payload: { liveOrderId: restingId }, issuedAt: new Date().toISOString() }, P);
  const resting = () => withTenant(app.db, [USER], (tx) => getLiveOrder(tx, USER, restingId));
  await waitFor(async () => (await resting())!.status === 'submitted', 15_000, 'the resting order at the broker');
  // The broker takes the next order and holds the answer: the replica sits in the call.
  await fetch(`${sim.url}/_control/trading/faults/hang-next-order`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const commandId = randomUUID();
  await appendCommand(redis, { id: commandId, userId: USER, type: 'live.submit', payload: { liveOrderId }, issuedAt: new Date().toISOString() }, P);

  const atBroker = () => brokerOrders(LOGIN);
  await waitFor(async () => (await atBroker()).length === 2, 15_000, 'the order at the broker');
  const attempts = async () => (await withTenant(app.db, [USER], (tx) => getLiveOrder(tx, USER, liveOrderId)))!.submitAttempts;
  expect(await attempts()).toBe(1); // the marker committed before the send
  await first.stop('SIGKILL');
  expect((await withTenant(app.db, [USER], (tx) => getLiveOrder(tx, USER, liveOrderId)))!.status).toBe('draft'); // the turn never committed

  const second = await startAccountsReplica('second', env());
  replicas.push(second);
  await waitFor(
    async () => (await withTenant(app.db, [USER], (tx) => getLiveOrder(tx, USER, liveOrderId)))!.status !== 'draft',
    30_000,
    'the redelivered command decided',
  );
  const row = (await withTenant(app.db, [USER], (tx) => getLiveOrder(tx, USER, liveOrderId)))!;
  expect(row.brokerOrderId).toBeTruthy();
  expect(['submitted', 'filled']).toContain(row.status);
  // Reconciled, not resent: still one order with this client_order_id, and no second attempt was sent.
  const orders = await atBroker();
  expect(orders.filter((o) => o.client_order_id === row.clientOrderId)).toHaveLength(1);
  expect(orders).toHaveLength(2);
  expect(row.submitAttempts).toBe(1);
  const outcome = await su.begin(async (tx) => {
    await tx`set local role raxx_batch`;
    return tx<Array<{ result: { outcome: string; result: { reconciled?: boolean } } }>>`select result from processed_commands where command_id = ${commandId}`;
  });
  expect(outcome).toHaveLength(1);
  expect(outcome[0]!.result).toMatchObject({ outcome: 'accepted', result: { reconciled: true } });
  // The new owner follows the user's trade updates by itself (partition taken over with a live order open): a cancel
  // made at the broker (e.g. in Alpaca's dashboard) reaches the order.
  await waitFor(async () => second.logs('live trade updates').some((l) => l.state === 'authorized'), 15_000, 'the new owner following');
  const broker = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 5000 });
  await broker.cancelOrder(token, (await resting())!.brokerOrderId!);
  await waitFor(async () => (await resting())!.status === 'canceled', 15_000, 'the cancel seen by the new owner');
  // The partition's pending entries drained.
  await waitFor(async () => {
    const pending = (await redis.call('XPENDING', runtimeKeys.stream(partitionOf(USER, P)), 'actors')) as [number];
    return Number(pending[0]) === 0;
  }, 15_000, 'the PEL drained');
}, 120_000);

it('T14: the replica dies while the broker holds the submit and Redis loses the command: the next owner still finds the order', async () => {
  for (const r of replicas.splice(0)) await r.stop('SIGKILL');
  await redis.flushdb();
  const user = `${USER}-t14`;
  const login = `login-${user}`;
  await liveUser(user, login);
  const liveOrderId = await marketDraft(user);
  const first = await startAccountsReplica('t14-first', env());
  replicas.push(first);
  await waitFor(async () => (await first.health()).owned.length === P, 15_000, 'the first replica owns every partition');
  await fetch(`${sim.url}/_control/trading/faults/hang-next-order`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  await appendCommand(redis, { id: randomUUID(), userId: user, type: 'live.submit', payload: { liveOrderId }, issuedAt: new Date().toISOString() }, P);
  await waitFor(async () => (await brokerOrders(login)).length === 1, 15_000, 'the order at the broker');
  const order = () => withTenant(app.db, [user], (tx) => getLiveOrder(tx, user, liveOrderId));
  expect((await order())!.submitAttempts).toBe(1);
  await first.stop('SIGKILL');
  // Redis restarts without its last unsynced second: the command entry (and its pending delivery) is gone, so no
  // owner will ever redeliver it. What is left: a draft with its attempt marker, and an order at the broker.
  await redis.flushdb();
  expect((await order())!.status).toBe('draft');

  const second = await startAccountsReplica('t14-second', env());
  replicas.push(second);
  await waitFor(async () => (await order())!.status !== 'draft', 30_000, 'the draft reconciled with the broker at takeover');
  const row = (await order())!;
  expect(row.brokerOrderId).toBeTruthy();
  expect(['submitted', 'filled']).toContain(row.status);
  // Known, not resent: one order for its client_order_id, one attempt.
  expect((await brokerOrders(login)).filter((o) => o.client_order_id === row.clientOrderId)).toHaveLength(1);
  expect(row.submitAttempts).toBe(1);
}, 120_000);
