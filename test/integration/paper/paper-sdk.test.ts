// End to end with the official SDK: a bot written for Alpaca paper runs on MBT by changing its base URL. The whole
// `gateway` role in-process (as `npm run role -- gateway` wires it) plus a real `accounts` role process on real Redis
// (DB 13, a unique user) and PostgreSQL; the simulator serves the asset list, the clock and the calendar.
// The SDK talks to the gateway through `trading.Configuration({ accessToken: <session token>, basePath: <gateway>/paper })`
// and its trade stream through `alpaca.trading.stream({ url: <gateway ws>/paper/stream })`.
import { randomUUID } from 'node:crypto';
import { Alpaca, trading } from '@alpacahq/alpaca-trade-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, users, withTenant } from '../../../src/infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { signSession, startTestGatewayRole, type TestGatewayRole } from '../../support/gateway.js';
import { startRoleProcess, type RoleProcess } from '../../support/processes.js';
import { testRedisUrl } from '../../support/redis.js';
import { startTestSimulator } from '../../support/simulator.js';
import { waitFor } from '../../support/wait.js';

const SECRET = 'paper-sdk-test-secret-0123456789abcdef';
const USER = `paper-sdk-${randomUUID().slice(0, 8)}`;
const SIM_KEYS = { ALPACA_KEY_ID: 'raxx-dev-key', ALPACA_SECRET_KEY: 'raxx-dev-secret' };

let t: TestDatabase;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let accounts: RoleProcess;
let gw: TestGatewayRole;
let token: string;
let cfg: trading.Configuration;

beforeAll(async () => {
  t = await createTestDatabase('raxx_paper_sdk');
  const app = createDb(t.appUrl, { max: 1 });
  await withTenant(app.db, [USER], (tx) => tx.insert(users).values({ id: USER, tier: 'pro' }));
  await app.close();
  sim = await startTestSimulator({ SIM_SYMBOLS: '50', SIM_RATE: '0' });
  const env = {
    REDIS_URL: testRedisUrl('paper-sdk'),
    DATABASE_URL: t.appUrl,
    DATABASE_BATCH_URL: t.batchUrl,
    ACCOUNTS_PARTITIONS: '4',
    ALPACA_TRADING_URL: sim.url,
    ALPACA_DATA_REST_URL: sim.url,
    ALPACA_MARKET_DATA_DISABLED: '1',
    SESSION_JWT_SECRET: SECRET,
    ...SIM_KEYS,
  };
  accounts = startRoleProcess('accounts', { ...env, PAPER_STARTING_CASH: '25000' }, 30_000);
  await accounts.ready;
  gw = await startTestGatewayRole(env);
  token = await signSession(USER, SECRET);
  // The account is opened through the command API (the same partition and actor as the orders).
  const opened = await fetch(`${gw.url}/api/commands`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'account.open', payload: {} }),
  });
  expect(opened.status).toBe(200);
  expect(((await opened.json()) as { outcome: string }).outcome).toBe('accepted');
  cfg = new trading.Configuration({ accessToken: token, basePath: `${gw.url}/paper` });
}, 90_000);

afterAll(async () => {
  await gw?.stop();
  await accounts?.stop();
  await sim?.close();
  await t?.drop();
});

describe('the official SDK against /paper/v2', () => {
  it('account, clock, orders (create, list, get, by client id, replace, cancel, cancel all), positions, trade_updates', async () => {
    const accountsApi = new trading.AccountsApi(cfg);
    const orders = new trading.OrdersApi(cfg);
    const positions = new trading.PositionsApi(cfg);

    const account = await accountsApi.getAccount();
    expect(account.status).toBe('ACTIVE');
    expect(account.cash).toBe('25000');
    expect(account.buyingPower).toBe('25000');

    const clock = await new trading.ClockApi(cfg).legacyClock();
    expect(typeof clock.isOpen).toBe('boolean');

    // The trade stream: the facade's TradingStream with the session token as the secret.
    const alpaca = new Alpaca({ keyId: 'session', secret: token });
    const stream = alpaca.trading.stream({ url: `${gw.url.replace(/^http/, 'ws')}/paper/stream`, reconnect: false });
    const updates: Array<{ event: string; order: { id: string } }> = [];
    stream.onTradeUpdate((u) => updates.push(u as unknown as { event: string; order: { id: string } }));
    let listening = false;
    stream.on('subscription', () => (listening = true));
    stream.subscribeTradeUpdates();
    stream.connect();
    await waitFor(() => listening, 10_000, 'trade_updates listening');

    // A GTC limit buy far below the market: it rests (whatever the session: a DAY order placed after the close expires).
    const created = await orders.postOrder({
      postOrderRequest: { symbol: 'AAPL', qty: '2', side: 'buy', type: 'limit', timeInForce: 'gtc', limitPrice: '1.5', clientOrderId: `sdk-${USER}` } as trading.PostOrderRequest,
    });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.clientOrderId).toBe(`sdk-${USER}`);
    expect(['new', 'accepted']).toContain(created.status);
    expect(created.limitPrice).toBe('1.5');

    const listed = await orders.getAllOrders({ status: 'open' });
    expect(listed.map((o) => o.id)).toContain(created.id);
    expect((await orders.getOrderByOrderID({ orderId: created.id! })).id).toBe(created.id);
    expect((await orders.getOrderByClientOrderId({ clientOrderId: `sdk-${USER}` })).id).toBe(created.id);

    const replaced = await orders.patchOrderByOrderId({ orderId: created.id!, patchOrderRequest: { qty: '3', limitPrice: '1.6' } as trading.PatchOrderRequest });
    expect(replaced.id).not.toBe(created.id);
    expect(replaced.replaces).toBe(created.id);
    expect(replaced.qty).toBe('3');
    const old = await orders.getOrderByOrderID({ orderId: created.id! });
    expect(old.status).toBe('replaced');

    await orders.deleteOrderByOrderID({ orderId: replaced.id! });
    await waitFor(async () => (await orders.getOrderByOrderID({ orderId: replaced.id! })).status === 'canceled', 10_000, 'canceled');
    // Closed orders are no longer in the engine's state: a second cancel still gets Alpaca's 422, and resending the
    // first request (same client_order_id and payload) answers with that order, now replaced — not a new one.
    await expect(orders.deleteOrderByOrderID({ orderId: replaced.id! })).rejects.toMatchObject({ status: 422 });
    const resent = await orders.postOrder({
      postOrderRequest: { symbol: 'AAPL', qty: '2', side: 'buy', type: 'limit', timeInForce: 'gtc', limitPrice: '1.5', clientOrderId: `sdk-${USER}` } as trading.PostOrderRequest,
    });
    expect(resent).toMatchObject({ id: created.id, status: 'replaced' });

    const second = await orders.postOrder({
      postOrderRequest: { symbol: 'MSFT', qty: '1', side: 'buy', type: 'limit', timeInForce: 'gtc', limitPrice: '2' } as trading.PostOrderRequest,
    });
    const all = await orders.deleteAllOrders();
    expect(all.map((r) => r.id)).toContain(second.id);
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect((await orders.getAllOrders({ status: 'open' })).length).toBe(0);

    expect(await positions.getAllOpenPositions()).toEqual([]);
    await expect(positions.getOpenPosition({ symbolOrAssetId: 'AAPL' })).rejects.toMatchObject({ status: 404 });

    // Refusals come back as the SDK's typed errors with Alpaca's status.
    await expect(orders.postOrder({ postOrderRequest: { symbol: 'ZZZZQ', qty: '1', side: 'buy', type: 'market', timeInForce: 'day' } as trading.PostOrderRequest })).rejects.toMatchObject({ status: 422 });
    await expect(orders.postOrder({ postOrderRequest: { symbol: 'AAPL', qty: '100000', side: 'buy', type: 'limit', timeInForce: 'day', limitPrice: '100' } as trading.PostOrderRequest })).rejects.toMatchObject({ status: 403 });

    await waitFor(() => updates.some((u) => u.order.id === replaced.id && u.event === 'canceled'), 10_000, 'canceled trade update');
    expect(updates.some((u) => u.order.id === created.id && u.event === 'replaced')).toBe(true);
    stream.disconnect();
  }, 120_000);
});
