// The Alpaca broker adapter against the real simulator: orders, reads, rejections, revoked tokens, rate limits,
// in-doubt submits (hung and dropped), unreachable broker, and no token in any error.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlpacaBroker, BrokerError, type BrokerErrorCode, type BrokerOrderRequest } from '../../../src/infra/broker/index.js';
import { revokeSimToken, simOAuthToken } from '../../support/sim-oauth-token.js';
import { startTestSimulator } from '../../support/simulator.js';
import { waitFor } from '../../support/wait.js';

const SIM_SETTINGS = { SIM_OAUTH_AUTO_APPROVE: '1', SIM_HALT_PROBABILITY: '0', SIM_SYMBOLS: '50' };
const CANARY = `raxx-canary-token-${randomUUID()}`;

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
/** Every token a test used: none may appear in any error. */
const tokens: string[] = [CANARY];

beforeAll(async () => {
  sim = await startTestSimulator(SIM_SETTINGS);
});
afterAll(async () => {
  await sim?.close();
});

async function newToken(): Promise<string> {
  const t = await simOAuthToken(sim.url);
  tokens.push(t);
  return t;
}

async function control(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return res.json();
}

/** Waits until the simulator quotes `symbol`, so buying-power checks have a price to work with. */
async function quoted(token: string, symbol: string): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${sim.url}/v2/stocks/${symbol}/quotes/latest`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { quote?: { ap?: number } | null };
      return (body.quote?.ap ?? 0) > 0;
    },
    10_000,
    `a ${symbol} quote`,
  );
}

function noTokenIn(err: unknown): void {
  const e = err as Error;
  const dump = [String(err), e.stack ?? '', JSON.stringify({ ...e }), inspect(err, { depth: 6 })].join('\n');
  for (const t of tokens) expect(dump.includes(t), 'a token leaked into an error').toBe(false);
}

/** Runs `p`, expects a BrokerError with `code`, checks it carries no token, returns it. */
async function brokerError(p: Promise<unknown>, code: BrokerErrorCode): Promise<BrokerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BrokerError);
  const be = err as BrokerError;
  expect(be.code, be.message).toBe(code);
  noTokenIn(be);
  return be;
}

const order = (over: Partial<BrokerOrderRequest> = {}): BrokerOrderRequest => ({
  symbol: 'AAPL',
  side: 'buy',
  qty: '2',
  type: 'market',
  time_in_force: 'day',
  client_order_id: `raxx-${randomUUID()}`,
  ...over,
});

describe('Alpaca broker adapter (real simulator)', () => {
  it('submits a market buy, reads it back every way, and cancels a resting limit order', async () => {
    const token = await newToken();
    const broker = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 5_000 });
    expect(broker.name).toBe('alpaca');
    await quoted(token, 'AAPL');

    const req = order();
    const placed = await broker.submitOrder(token, req);
    expect(placed.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(placed).toMatchObject({ client_order_id: req.client_order_id, symbol: 'AAPL', side: 'buy', qty: '2' });

    await waitFor(async () => (await broker.getOrder(token, placed.id)).status === 'filled', 10_000, 'the market order to fill');
    const filled = await broker.getOrder(token, placed.id);
    expect(filled.filled_qty).toBe('2');
    expect(Number(filled.filled_avg_price)).toBeGreaterThan(0);
    expect(filled.submitted_at).not.toBeNull();

    const byCid = await broker.getOrderByClientOrderId(token, req.client_order_id);
    expect(byCid?.id).toBe(placed.id);
    expect(await broker.getOrderByClientOrderId(token, `raxx-${randomUUID()}`)).toBeUndefined();

    const positions = await broker.getPositions(token);
    expect(positions).toHaveLength(1);
    expect(positions[0]).toMatchObject({ symbol: 'AAPL', qty: '2' });
    expect(Number(positions[0]?.avg_entry_price)).toBeCloseTo(Number(filled.filled_avg_price), 4);
    expect(positions[0]?.market_value).not.toBeNull();

    const account = await broker.getAccount(token);
    expect(account).toMatchObject({ status: 'ACTIVE', currency: 'USD' });
    expect(Number(account.cash)).toBeCloseTo(100_000 - 2 * Number(filled.filled_avg_price), 1);
    expect(Number(account.buying_power)).toBeLessThan(100_000);

    // A buy limit far below the market rests; cancel it.
    const resting = await broker.submitOrder(token, order({ type: 'limit', limit_price: '1.00', time_in_force: 'gtc', qty: '1' }));
    expect(['new', 'accepted']).toContain(resting.status);
    await broker.cancelOrder(token, resting.id);
    await waitFor(async () => (await broker.getOrder(token, resting.id)).status === 'canceled', 10_000, 'the cancel');
    // Cancelling again is refused in the broker's words.
    const again = await brokerError(broker.cancelOrder(token, resting.id), 'broker_rejected');
    expect(again.status).toBe(422);
    expect(again.reason).toMatch(/canceled/);
  });

  it('maps refusals to broker_rejected with the broker reason, and nothing is placed', async () => {
    const token = await newToken();
    const broker = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 5_000 });
    await quoted(token, 'AAPL');

    const big = order({ qty: '100000' });
    const poor = await brokerError(broker.submitOrder(token, big), 'broker_rejected');
    expect(poor).toMatchObject({ status: 403, brokerCode: 40310000, reason: 'insufficient buying power' });
    expect(poor.message).toContain('insufficient buying power');
    expect(await broker.getOrderByClientOrderId(token, big.client_order_id)).toBeUndefined();

    const unknown = await brokerError(broker.submitOrder(token, order({ symbol: 'ZZQXV' })), 'broker_rejected');
    expect(unknown.status).toBe(422);
    expect(unknown.reason).toMatch(/ZZQXV.*not found/);

    const missing = await brokerError(broker.getOrder(token, randomUUID()), 'broker_rejected');
    expect(missing.status).toBe(404);
  });

  it('answers needs_reauth once the token is revoked', async () => {
    const token = await newToken();
    const broker = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 5_000 });
    expect((await broker.getAccount(token)).status).toBe('ACTIVE');
    expect(await revokeSimToken(sim.url, token)).toBe(1);

    const reads = await brokerError(broker.getAccount(token), 'needs_reauth');
    expect(reads.status).toBe(401);
    await brokerError(broker.submitOrder(token, order()), 'needs_reauth');
    await brokerError(broker.getPositions(token), 'needs_reauth');
  });

  it('maps 429 to broker_rate_limited and 5xx to unavailable (reads) or in doubt (submit)', async () => {
    const token = await newToken();
    const broker = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 5_000 });

    await control(sim.url, 'POST', '/_control/trading/faults/status', { status: 429, count: 1 });
    const limited = await brokerError(broker.getAccount(token), 'broker_rate_limited');
    expect(limited.status).toBe(429);
    expect(limited.retryAfterMs).toBeGreaterThanOrEqual(0);
    // From X-RateLimit-Reset (whole seconds), so up to a second past the 60 s window.
    expect(limited.retryAfterMs).toBeLessThanOrEqual(61_000);

    await control(sim.url, 'POST', '/_control/trading/faults/status', { status: 503, count: 1 });
    expect((await brokerError(broker.getAccount(token), 'broker_unavailable')).status).toBe(503);

    // A 5xx on submit is in doubt; reconciling by client_order_id tells whether it exists (here the fault answered
    // before the order was taken), and only then is the same client_order_id sent again.
    const req = order();
    await control(sim.url, 'POST', '/_control/trading/faults/status', { status: 502, count: 1 });
    expect((await brokerError(broker.submitOrder(token, req), 'broker_in_doubt')).status).toBe(502);
    expect(await broker.getOrderByClientOrderId(token, req.client_order_id)).toBeUndefined();
    expect((await broker.submitOrder(token, req)).client_order_id).toBe(req.client_order_id);
  });

  it('a submit that is never answered is broker_in_doubt within its deadline; the order exists once; a resend is refused', async () => {
    const token = await newToken();
    const fast = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 500 });
    const broker = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 5_000 });
    const req = order({ type: 'limit', limit_price: '1.00', time_in_force: 'gtc', qty: '1' });

    await control(sim.url, 'POST', '/_control/trading/faults/hang-next-order', { count: 1 });
    const started = Date.now();
    const doubt = await brokerError(fast.submitOrder(token, req), 'broker_in_doubt');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(2_500);
    expect(doubt.status).toBeUndefined();
    expect(doubt.message).toMatch(/deadline/);

    const found = await broker.getOrderByClientOrderId(token, req.client_order_id);
    expect(found?.client_order_id).toBe(req.client_order_id);
    const all = (await control(sim.url, 'GET', '/_control/trading/orders')) as Array<{ client_order_id: string }>;
    expect(all.filter((o) => o.client_order_id === req.client_order_id)).toHaveLength(1);

    // The broker itself refuses a duplicate client_order_id (Alpaca: 422 40010001), so a blind resend cannot double.
    const dup = await brokerError(broker.submitOrder(token, req), 'broker_rejected');
    expect(dup).toMatchObject({ status: 422, brokerCode: 40010001, reason: 'client_order_id must be unique' });
  });

  it('a connection dropped after the submit was sent is broker_in_doubt, not unavailable', async () => {
    const other = await startTestSimulator(SIM_SETTINGS);
    try {
      const token = await simOAuthToken(other.url);
      tokens.push(token);
      const broker = createAlpacaBroker({ baseUrl: other.url, timeoutMs: 20_000 });
      const req = order({ type: 'limit', limit_price: '1.00', time_in_force: 'gtc', qty: '1' });
      await control(other.url, 'POST', '/_control/trading/faults/hang-next-order', { count: 1 });
      const pending = brokerError(broker.submitOrder(token, req), 'broker_in_doubt');
      await waitFor(
        async () => ((await control(other.url, 'GET', '/_control/trading/orders')) as Array<{ client_order_id: string }>).some((o) => o.client_order_id === req.client_order_id),
        10_000,
        'the simulator to take the order',
      );
      const dropped = Date.now();
      await other.close(); // destroys the held response: the socket closes under the waiting request
      const doubt = await pending;
      expect(Date.now() - dropped).toBeLessThan(5_000);
      expect(doubt.message).toMatch(/connection failed/);
    } finally {
      await other.close();
    }
  });

  it('an unreachable broker is broker_unavailable (nothing was sent), even for a submit, and the token stays out', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const broker = createAlpacaBroker({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2_000 });
    const submit = await brokerError(broker.submitOrder(CANARY, order()), 'broker_unavailable');
    expect(submit.message).toContain('ECONNREFUSED');
    await brokerError(broker.getAccount(CANARY), 'broker_unavailable');
    await brokerError(broker.cancelOrder(CANARY, randomUUID()), 'broker_unavailable');
  });
});
