// The simulated Alpaca trading API end to end: the official SDK, wire conformance, fill rules, faults and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveHandlers } from '../../support/sim-server.js';
import { Alpaca } from '@alpacahq/alpaca-trade-api';
import type { MarketClock, TradingSession } from '../../../src/sim/clock/types.js';
import type { MarketState, SimMessage, SimQuote, SymbolInfo } from '../../../src/sim/market/types.js';
import { createTradingApi, type TradingApi, type TradingApiOptions } from '../../../src/sim/trading/index.js';

// ------------------------------------------------------------------ deterministic market and clock under test control

function testMarket() {
  const infos: SymbolInfo[] = [
    { symbol: 'AAPL', name: 'Apple Inc.', exchange: 'NASDAQ', basePrice: 100, fractionable: true },
    { symbol: 'MSFT', name: 'Microsoft Corp.', exchange: 'NASDAQ', basePrice: 300, fractionable: true },
    { symbol: 'PNY', name: 'Penny Co.', exchange: 'NYSE', basePrice: 0.5, fractionable: false },
  ];
  const quotes = new Map<string, SimQuote>();
  const listeners = new Set<(b: readonly SimMessage[]) => void>();
  const market: MarketState = {
    symbols: () => infos,
    hasSymbol: (s) => infos.some((i) => i.symbol === s),
    latestQuote: (s) => quotes.get(s),
    latestTrade: () => undefined,
    latestMinuteBar: () => undefined,
    dailyBar: () => undefined,
    prevDailyBar: () => undefined,
    isHalted: () => false,
    historicalBars: () => [],
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const quote = (symbol: string, bid: number, ask: number, size = 1000) => {
    const q: SimQuote = { T: 'q', S: symbol, bx: 'V', bp: bid, bs: size, ax: 'V', ap: ask, as: size, c: ['R'], z: 'C', t: BigInt(Date.now()) * 1_000_000n };
    quotes.set(symbol, q);
    for (const l of listeners) l([q]);
  };
  return { market, quote };
}

function testClock() {
  const state = { offsetMs: 0, open: true, closeAt: Date.now() + 3_600_000 };
  const session = (date: string): TradingSession => ({
    date,
    open: new Date(`${date}T13:30:00Z`),
    close: new Date(`${date}T20:00:00Z`),
    sessionOpen: new Date(`${date}T08:00:00Z`),
    sessionClose: new Date(`${date}T00:00:00Z`),
  });
  const clock: MarketClock = {
    now: () => new Date(Date.now() + state.offsetMs),
    isOpen: () => state.open,
    session: (date) => (new Date(`${date}T12:00:00Z`).getUTCDay() % 6 === 0 ? undefined : session(date)),
    calendar(start, end) {
      const out: TradingSession[] = [];
      for (let d = Date.parse(`${start}T12:00:00Z`); d <= Date.parse(`${end}T12:00:00Z`); d += 86_400_000) {
        const date = new Date(d).toISOString().slice(0, 10);
        if (new Date(d).getUTCDay() % 6 !== 0) out.push(session(date));
      }
      return out;
    },
    nextOpen: () => new Date(Date.now() + state.offsetMs + 60_000),
    nextClose: () => new Date(state.closeAt),
  };
  return { clock, state };
}

interface Harness {
  base: string;
  api: TradingApi;
  quote: (symbol: string, bid: number, ask: number, size?: number) => void;
  clock: ReturnType<typeof testClock>['state'];
  stop(): Promise<void>;
}

async function startSim(extra: Partial<TradingApiOptions> = {}): Promise<Harness> {
  const m = testMarket();
  const c = testClock();
  const api = createTradingApi({ market: m.market, clock: c.clock, keys: [{ keyId: 'SIMKEY', secret: 'SIMSECRET' }, { keyId: 'OTHER', secret: 'OTHERSECRET' }], ...extra });
  const served = await serveHandlers([api.handle, api.control], [api.handleUpgrade]);
  const base = served.base;
  return {
    base,
    api,
    quote: m.quote,
    clock: c.state,
    async stop() {
      await api.close();
      await served.close();
    },
  };
}

const KEY = { 'APCA-API-KEY-ID': 'SIMKEY', 'APCA-API-SECRET-KEY': 'SIMSECRET' };

async function call(h: Harness, method: string, path: string, body?: unknown, headers: Record<string, string> = KEY) {
  const res = await fetch(h.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown> & Array<Record<string, unknown>>) : undefined };
}

const order = (over: Record<string, unknown>) => ({ symbol: 'AAPL', qty: '1', side: 'buy', type: 'market', time_in_force: 'day', ...over });

// ------------------------------------------------------------------ tests

describe('trading API through the official SDK', () => {
  let h: Harness;
  let alpaca: Alpaca;
  beforeAll(async () => {
    h = await startSim();
    h.quote('AAPL', 99.99, 100.01);
    h.quote('MSFT', 299.9, 300.1);
    alpaca = new Alpaca({
      keyId: 'SIMKEY',
      secret: 'SIMSECRET',
      paper: true,
      retry: false,
      fetchApi: (url, init) => fetch(String(url).replace(/^https:\/\/(paper-api|api|data)\.alpaca\.markets/, h.base), init),
    });
  });
  afterAll(() => h.stop());

  it('reads the account, trades, streams trade_updates, replaces and cancels', async () => {
    const account = await alpaca.trading.account.getAccount();
    expect(account.cash).toBe('100000');
    expect(account.status).toBe('ACTIVE');

    const stream = alpaca.trading.stream({ url: `${h.base.replace('http', 'ws')}/stream` });
    const events: Array<{ event: string; clientOrderId?: string; price?: unknown }> = [];
    stream.onTradeUpdate((u) => events.push({ event: u.event, clientOrderId: u.order.clientOrderId, price: u.price }));
    const listening = new Promise<void>((resolve) => stream.on('subscription', () => resolve()));
    stream.onConnect(() => stream.subscribeTradeUpdates());
    stream.connect();
    await listening;

    const filled = await alpaca.trading.orders.market({ symbol: 'AAPL', qty: 2, side: 'buy', clientOrderId: 'sdk-mkt-1' });
    expect(filled.status).toBe('filled');
    expect(filled.filledAvgPrice).toBe('100.01');
    expect(filled.filledQty).toBe('2');
    await expect.poll(() => events.filter((e) => e.clientOrderId === 'sdk-mkt-1').map((e) => e.event)).toEqual(['new', 'fill']);
    expect(events.find((e) => e.event === 'fill')?.price).toBe('100.01');

    const byCid = await alpaca.trading.orders.getOrderByClientOrderId({ clientOrderId: 'sdk-mkt-1' });
    expect(byCid.id).toBe(filled.id);
    const byId = await alpaca.trading.orders.getOrderByOrderID({ orderId: filled.id as unknown as string });
    expect(byId.symbol).toBe('AAPL');

    const resting = await alpaca.trading.orders.limit({ symbol: 'MSFT', qty: 1, side: 'buy', limitPrice: 250, clientOrderId: 'sdk-lmt-1' });
    expect(resting.status).toBe('new');
    const replaced = await alpaca.trading.orders.patchOrderByOrderId({ orderId: resting.id as unknown as string, patchOrderRequest: { limitPrice: '251.5' } });
    expect(replaced.replaces).toBe(resting.id);
    expect(replaced.limitPrice).toBe('251.5');
    const old = await alpaca.trading.orders.getOrderByOrderID({ orderId: resting.id as unknown as string });
    expect(old.status).toBe('replaced');
    expect(old.replacedBy).toBe(replaced.id);
    await alpaca.trading.orders.deleteOrderByOrderID({ orderId: replaced.id as unknown as string });
    const canceled = await alpaca.trading.orders.getOrderByOrderID({ orderId: replaced.id as unknown as string });
    expect(canceled.status).toBe('canceled');

    const all = await alpaca.trading.orders.getAllOrders({ status: 'all' });
    expect(all.map((o) => o.clientOrderId)).toEqual(expect.arrayContaining(['sdk-mkt-1', 'sdk-lmt-1']));
    const open = await alpaca.trading.orders.getAllOrders({});
    expect(open).toHaveLength(0);

    const positions = await alpaca.trading.positions.getAllOpenPositions();
    expect(positions).toHaveLength(1);
    expect(positions[0]?.qty).toBe('2');
    const position = await alpaca.trading.positions.getOpenPosition({ symbolOrAssetId: 'AAPL' });
    expect(position.avgEntryPrice).toBe('100.01');

    const clock = await alpaca.trading.clock.legacyClock();
    expect(clock.isOpen).toBe(true);
    expect(clock.nextClose).toBeInstanceOf(Date);
    stream.disconnect();
  });
});

describe('wire conformance', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSim();
    h.quote('AAPL', 99.99, 100.01);
  });
  afterAll(() => h.stop());

  it('sends money and quantities as strings and Alpaca status values', async () => {
    const o = await call(h, 'POST', '/v2/orders', order({ client_order_id: 'conf-1' }));
    expect(o.status).toBe(200);
    for (const k of ['qty', 'filled_qty', 'filled_avg_price']) expect(typeof o.body?.[k]).toBe('string');
    expect(o.body?.status).toBe('filled');
    expect(o.body?.asset_class).toBe('us_equity');
    expect(o.body?.order_class).toBe('');
    const a = await call(h, 'GET', '/v2/account');
    for (const k of ['cash', 'buying_power', 'equity', 'portfolio_value', 'long_market_value']) expect(typeof a.body?.[k]).toBe('string');
    expect(a.body?.cash).toBe('99899.99');
    const p = await call(h, 'GET', '/v2/positions/AAPL');
    for (const k of ['qty', 'avg_entry_price', 'market_value', 'cost_basis', 'unrealized_pl']) expect(typeof p.body?.[k]).toBe('string');
    const cal = await call(h, 'GET', '/v2/calendar?start=2025-07-11&end=2025-07-14');
    expect(cal.body).toEqual([
      { date: '2025-07-11', open: '09:30', close: '16:00', session_open: '0400', session_close: '2000', settlement_date: '2025-07-14' },
      { date: '2025-07-14', open: '09:30', close: '16:00', session_open: '0400', session_close: '2000', settlement_date: '2025-07-15' },
    ]);
    const asset = await call(h, 'GET', '/v2/assets/AAPL');
    expect(asset.body?.symbol).toBe('AAPL');
    expect((await call(h, 'GET', '/v2/assets/NOPE')).status).toBe(404);
  });

  it('answers 401 with the 8-digit code, rate-limit headers on every response', async () => {
    const r = await call(h, 'GET', '/v2/account', undefined, { 'APCA-API-KEY-ID': 'SIMKEY', 'APCA-API-SECRET-KEY': 'wrong' });
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ code: 40110000, message: 'request is not authorized' });
    const ok = await call(h, 'GET', '/v2/account');
    expect(ok.headers.get('x-ratelimit-limit')).toBe('200');
    expect(Number(ok.headers.get('x-ratelimit-remaining'))).toBeLessThan(200);
    expect(Number(ok.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(r.headers.get('x-ratelimit-limit')).toBe('200');
  });

  it('answers the 201st request in a minute with 429, per key', async () => {
    const rl = await startSim();
    try {
      const headers = { 'APCA-API-KEY-ID': 'OTHER', 'APCA-API-SECRET-KEY': 'OTHERSECRET' };
      const statuses = await Promise.all(Array.from({ length: 200 }, () => call(rl, 'GET', '/v2/clock', undefined, headers).then((r) => r.status)));
      expect(statuses.every((s) => s === 200)).toBe(true);
      const over = await call(rl, 'GET', '/v2/clock', undefined, headers);
      expect(over.status).toBe(429);
      expect(over.body).toEqual({ code: 42910000, message: 'rate limit exceeded' });
      expect(over.headers.get('x-ratelimit-remaining')).toBe('0');
      expect((await call(rl, 'GET', '/v2/clock')).status).toBe(200);
    } finally {
      await rl.stop();
    }
  });
});

describe('fill rules', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSim();
  });
  afterAll(() => h.stop());

  it('fills a marketable limit at the quote, not at the limit', async () => {
    h.quote('AAPL', 100.0, 100.05);
    const r = await call(h, 'POST', '/v2/orders', order({ type: 'limit', limit_price: '101', client_order_id: 'fr-1' }));
    expect(r.body?.status).toBe('filled');
    expect(r.body?.filled_avg_price).toBe('100.05');
  });

  it('rests a buy limit until a later ask is at or below it', async () => {
    h.quote('MSFT', 300.4, 300.5);
    const r = await call(h, 'POST', '/v2/orders', order({ symbol: 'MSFT', type: 'limit', limit_price: '300', time_in_force: 'gtc' }));
    expect(r.body?.status).toBe('new');
    h.quote('MSFT', 300.1, 300.2);
    expect((await call(h, 'GET', `/v2/orders/${String(r.body?.id)}`)).body?.status).toBe('new');
    h.quote('MSFT', 299.8, 299.9);
    const after = await call(h, 'GET', `/v2/orders/${String(r.body?.id)}`);
    expect(after.body?.status).toBe('filled');
    expect(after.body?.filled_avg_price).toBe('299.9');
  });

  it('triggers a sell stop when the bid falls through it', async () => {
    h.quote('AAPL', 100.0, 100.05);
    const s = await call(h, 'POST', '/v2/orders', order({ side: 'sell', type: 'stop', stop_price: '95', time_in_force: 'gtc' }));
    expect(s.body?.status).toBe('new');
    h.quote('AAPL', 94.9, 95.0);
    expect((await call(h, 'GET', `/v2/orders/${String(s.body?.id)}`)).body?.filled_avg_price).toBe('94.9');
  });

  it('rejects insufficient buying power, shorting a cash account, sub-penny prices and bad client_order_ids', async () => {
    h.quote('AAPL', 100.0, 100.05);
    h.quote('PNY', 0.5, 0.5001);
    expect(await call(h, 'POST', '/v2/orders', order({ qty: '5000' }))).toMatchObject({ status: 403, body: { code: 40310000, message: 'insufficient buying power' } });
    expect(await call(h, 'POST', '/v2/orders', order({ symbol: 'PNY', side: 'sell', qty: '5' }))).toMatchObject({
      status: 403,
      body: { code: 40310000, message: 'account is not allowed to short' },
    });
    expect((await call(h, 'POST', '/v2/orders', order({ qty: '2' }))).body?.status).toBe('filled');
    const long = Number((await call(h, 'GET', '/v2/positions/AAPL')).body?.qty);
    expect(long).toBeGreaterThanOrEqual(2);
    const tooMany = await call(h, 'POST', '/v2/orders', order({ side: 'sell', qty: String(long + 3) }));
    expect(tooMany).toMatchObject({ status: 403, body: { code: 40310000, message: `insufficient qty available for order (requested: ${long + 3}, available: ${long})` } });
    const sub = await call(h, 'POST', '/v2/orders', order({ type: 'limit', limit_price: '100.123' }));
    expect(sub.status).toBe(422);
    expect(sub.body?.code).toBe(42210000);
    expect(String(sub.body?.message)).toContain('sub-penny increment does not fulfill minimum pricing criteria');
    h.quote('PNY', 0.5, 0.5001);
    expect((await call(h, 'POST', '/v2/orders', order({ symbol: 'PNY', type: 'limit', limit_price: '0.12345' }))).status).toBe(422);
    expect((await call(h, 'POST', '/v2/orders', order({ symbol: 'PNY', type: 'limit', limit_price: '0.1234' }))).body?.status).toBe('new');
    expect((await call(h, 'POST', '/v2/orders', order({ client_order_id: 'dup' }))).status).toBe(200);
    expect(await call(h, 'POST', '/v2/orders', order({ client_order_id: 'dup' }))).toMatchObject({ status: 422, body: { code: 40010001, message: 'client_order_id must be unique' } });
    expect(await call(h, 'POST', '/v2/orders', order({ client_order_id: 'x'.repeat(129) }))).toMatchObject({
      status: 422,
      body: { code: 40010001, message: 'client_order_id must be no more than 128 characters' },
    });
    const filled = (await call(h, 'GET', '/v2/orders:by_client_order_id?client_order_id=dup')).body;
    expect(await call(h, 'DELETE', `/v2/orders/${String(filled?.id)}`)).toMatchObject({ status: 422, body: { code: 42210000 } });
  });

  it('ioc cancels the unfilled rest, fok fills all or nothing (quote-size liquidity)', async () => {
    const q = await startSim({ liquidity: 'quote-size' });
    try {
      q.quote('AAPL', 100.0, 100.05, 30);
      const ioc = await call(q, 'POST', '/v2/orders', order({ qty: '100', type: 'limit', limit_price: '100.1', time_in_force: 'ioc' }));
      expect(ioc.body).toMatchObject({ status: 'canceled', filled_qty: '30', filled_avg_price: '100.05' });
      q.quote('AAPL', 100.0, 100.05, 30);
      const fok = await call(q, 'POST', '/v2/orders', order({ qty: '50', time_in_force: 'fok' }));
      expect(fok.body).toMatchObject({ status: 'canceled', filled_qty: '0' });
      const fokOk = await call(q, 'POST', '/v2/orders', order({ qty: '20', time_in_force: 'fok' }));
      expect(fokOk.body).toMatchObject({ status: 'filled', filled_qty: '20' });
      const big = await call(q, 'POST', '/v2/orders', order({ qty: '25' }));
      expect(big.body).toMatchObject({ status: 'partially_filled', filled_qty: '10' });
      q.quote('AAPL', 100.0, 100.07, 30);
      expect((await call(q, 'GET', `/v2/orders/${String(big.body?.id)}`)).body).toMatchObject({ status: 'filled', filled_qty: '25' });
    } finally {
      await q.stop();
    }
  });

  it('queues market orders until the open and expires day orders at the close', async () => {
    const c = await startSim();
    try {
      c.quote('AAPL', 100.0, 100.05);
      c.clock.open = false;
      const queued = await call(c, 'POST', '/v2/orders', order({}));
      expect(queued.body?.status).toBe('accepted');
      c.clock.open = true;
      await call(c, 'POST', '/_control/trading/sweep', {});
      expect((await call(c, 'GET', `/v2/orders/${String(queued.body?.id)}`)).body?.status).toBe('filled');
      const day = await call(c, 'POST', '/v2/orders', order({ type: 'limit', limit_price: '90' }));
      const gtc = await call(c, 'POST', '/v2/orders', order({ type: 'limit', limit_price: '90', time_in_force: 'gtc' }));
      c.clock.offsetMs = 3_700_000;
      await call(c, 'POST', '/_control/trading/sweep', {});
      expect((await call(c, 'GET', `/v2/orders/${String(day.body?.id)}`)).body).toMatchObject({ status: 'expired' });
      expect((await call(c, 'GET', `/v2/orders/${String(gtc.body?.id)}`)).body).toMatchObject({ status: 'new' });
    } finally {
      await c.stop();
    }
  });
});

describe('faults and bad input', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSim();
    h.quote('AAPL', 100.0, 100.05);
  });
  afterAll(() => h.stop());

  it('holds an in-doubt submit forever, yet the order exists', async () => {
    expect((await call(h, 'POST', '/_control/trading/faults/hang-next-order', {})).status).toBe(200);
    await expect(
      fetch(`${h.base}/v2/orders`, { method: 'POST', headers: { ...KEY, 'content-type': 'application/json' }, body: JSON.stringify(order({ client_order_id: 'in-doubt-1' })), signal: AbortSignal.timeout(300) }),
    ).rejects.toThrow();
    const found = await call(h, 'GET', '/v2/orders:by_client_order_id?client_order_id=in-doubt-1');
    expect(found.status).toBe(200);
    expect(found.body?.status).toBe('filled');
    expect((await call(h, 'POST', '/v2/orders', order({ client_order_id: 'after-1' }))).status).toBe(200);
  });

  it('answers the next N requests with an injected status', async () => {
    await call(h, 'POST', '/_control/trading/faults/status', { status: 503, count: 2 });
    expect((await call(h, 'GET', '/v2/account')).status).toBe(503);
    expect((await call(h, 'GET', '/v2/orders')).status).toBe(503);
    expect((await call(h, 'GET', '/v2/account')).status).toBe(200);
    await call(h, 'POST', '/_control/trading/faults/status', { status: 429 });
    expect(await call(h, 'GET', '/v2/account')).toMatchObject({ status: 429, body: { code: 42910000 } });
  });

  it('rejects malformed JSON, unknown ids and oversized bodies and stays up', async () => {
    expect(await call(h, 'POST', '/v2/orders', '{"symbol":')).toMatchObject({ status: 400, body: { code: 40010000 } });
    expect(await call(h, 'POST', '/v2/orders', '[1,2]')).toMatchObject({ status: 422, body: { code: 40010001 } });
    expect(await call(h, 'POST', '/v2/orders', { symbol: 'AAPL' })).toMatchObject({ status: 422, body: { code: 40010001 } });
    expect(await call(h, 'POST', '/v2/orders', order({ symbol: 'ZZZZ' }))).toMatchObject({ status: 422, body: { code: 40010001 } });
    expect(await call(h, 'GET', '/v2/orders/00000000-0000-0000-0000-000000000000')).toMatchObject({ status: 404, body: { code: 40410000, message: 'order not found' } });
    expect(await call(h, 'DELETE', '/v2/positions/MSFT')).toMatchObject({ status: 404, body: { code: 40410000, message: 'position does not exist' } });
    const big = await fetch(`${h.base}/v2/orders`, { method: 'POST', headers: { ...KEY, 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(200_000) }) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: 40010000 });
    expect((await call(h, 'GET', '/v2/account')).status).toBe(200);
  });

  it('keeps accounts apart and lists them on the loopback control route', async () => {
    const other = { 'APCA-API-KEY-ID': 'OTHER', 'APCA-API-SECRET-KEY': 'OTHERSECRET' };
    expect((await call(h, 'GET', '/v2/orders?status=all', undefined, other)).body).toEqual([]);
    const accounts = await call(h, 'GET', '/_control/trading/accounts');
    expect(accounts.body?.map((a) => a.login)).toEqual(expect.arrayContaining(['SIMKEY', 'OTHER']));
    const detail = await call(h, 'GET', '/_control/trading/accounts/SIMKEY');
    expect((detail.body?.orders as unknown[]).length).toBeGreaterThan(0);
  });
});
