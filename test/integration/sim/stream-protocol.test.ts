// The market-data WebSocket against the official SDK and raw clients: protocol, encodings byte by byte, errors,
// pings, slow clients, delayed SIP, /v2/test and fault injection. Real servers on 127.0.0.1, manual market clock.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ExtensionCodec, decode, decodeTimestampToTimeSpec, encode } from '@msgpack/msgpack';
import { Alpaca } from '@alpacahq/alpaca-trade-api';
import { createSyntheticMarket, type SimMarket } from '../../../src/sim/market/index.js';
import { createMarketDataStream, type MarketDataStream, type MarketDataStreamOptions } from '../../../src/sim/stream/index.js';
import type { MarketClock } from '../../../src/sim/clock/types.js';

const T0 = Date.parse('2026-03-02T14:30:00Z');
const KEYS = [
  { keyId: 'PKPLUS', secret: 'plus-secret', plan: 'algo_trader_plus' },
  { keyId: 'PKBASIC', secret: 'basic-secret', plan: 'basic', symbolLimit: 3 },
  { keyId: 'PKOTHER', secret: 'other-secret', plan: 'algo_trader_plus' },
];

interface Sim {
  url: string;
  port: number;
  market: SimMarket;
  stream: MarketDataStream;
  logs: string[];
  /** Moves the manual clock forward and lets the market generate up to it. */
  advance(ms: number): void;
  close(): Promise<void>;
}

const open: Sim[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function startSim(opts: Partial<MarketDataStreamOptions> = {}, marketOpts: Record<string, unknown> = {}): Promise<Sim> {
  let now = T0;
  const clock: MarketClock = {
    now: () => new Date(now), isOpen: () => true, session: () => undefined, calendar: () => [],
    nextOpen: () => new Date(now), nextClose: () => new Date(now + 86_400_000),
  };
  const market = createSyntheticMarket(clock, { seed: 21, symbols: 40, ratePerSecond: 4000, haltProbability: 0, ...marketOpts });
  const logs: string[] = [];
  const stream = createMarketDataStream({ market, clock, keys: KEYS, log: (l) => logs.push(l), ...opts });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    void stream.control(req, res, url).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (!stream.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const sim: Sim = {
    url: `ws://127.0.0.1:${port}`, port, market, stream, logs,
    advance: (ms) => {
      now += ms;
      market.step(now);
    },
    close: async () => {
      await stream.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  open.push(sim);
  return sim;
}

// --- a raw client that records decoded frames and raw bytes --------------------------------------------------------

const tsCodec = new ExtensionCodec();
tsCodec.register({ type: -1, encode: () => null, decode: (data: Uint8Array) => ({ ext: -1, ...decodeTimestampToTimeSpec(data), len: data.length }) });

interface Raw {
  ws: WebSocket;
  frames: Buffer[];
  messages: Record<string, unknown>[];
  closed: Promise<number>;
  send(obj: unknown): void;
  waitFor(pred: (m: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

function connect(url: string, opts: { msgpack?: boolean; headers?: Record<string, string>; autoPong?: boolean } = {}): Promise<Raw> {
  const headers: Record<string, string> = { ...(opts.msgpack ? { 'Content-Type': 'application/msgpack' } : {}), ...opts.headers };
  const ws = new WebSocket(url, { headers, perMessageDeflate: false, autoPong: opts.autoPong ?? true });
  const frames: Buffer[] = [];
  const messages: Record<string, unknown>[] = [];
  const waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  ws.on('message', (data: Buffer, isBinary) => {
    frames.push(data);
    const arr = (isBinary ? decode(data, { extensionCodec: tsCodec }) : JSON.parse(data.toString())) as Record<string, unknown>[];
    for (const m of arr) {
      messages.push(m);
      for (const w of [...waiters]) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
    }
  });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  ws.on('error', () => {});
  const raw: Raw = {
    ws, frames, messages, closed,
    send: (obj) => ws.send(opts.msgpack ? encode(obj) : JSON.stringify(obj)),
    waitFor: (pred, ms = 3000) => {
      const hit = messages.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(messages.slice(-5))}`)), ms);
        waiters.push({ pred, resolve: (m) => { clearTimeout(t); resolve(m); } });
      });
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(raw));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const isMsg = (T: string, extra: Record<string, unknown> = {}) => (m: Record<string, unknown>) =>
  m.T === T && Object.entries(extra).every(([k, v]) => m[k] === v);
const isError = (code: number) => isMsg('error', { code });

async function authed(url: string, key = KEYS[0]!, msgpack = false): Promise<Raw> {
  const c = await connect(url, { msgpack });
  await c.waitFor(isMsg('success', { msg: 'connected' }));
  c.send({ action: 'auth', key: key.keyId, secret: key.secret });
  await c.waitFor(isMsg('success', { msg: 'authenticated' }));
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pump(sim: Sim, until: () => boolean, stepMs = 50, maxSteps = 200): Promise<void> {
  for (let i = 0; i < maxSteps && !until(); i++) {
    sim.advance(stepMs);
    await sleep(5);
  }
}

// --- tests -----------------------------------------------------------------------------------------------------------

describe('official SDK client (msgpack)', () => {
  it('authenticates, subscribes and receives quotes, trades, bars and statuses; a second connection gets 406', async () => {
    const sim = await startSim();
    const alpaca = new Alpaca({ keyId: 'PKPLUS', secret: 'plus-secret', paper: true });
    const stream = alpaca.marketData.stockStream({ url: `${sim.url}/v2/iex`, reconnect: false });
    const quotes: { symbol: string; timestampRaw?: string; bidPrice: number }[] = [];
    const trades: unknown[] = [];
    const bars: unknown[] = [];
    const statuses: { symbol: string; statusCode?: string }[] = [];
    stream.onQuote((q) => quotes.push(q));
    stream.onTrade((t) => trades.push(t));
    stream.onBar((b) => bars.push(b));
    stream.onStatus((s) => statuses.push(s));
    const subscribed = new Promise<void>((r) => stream.on('subscription', () => r()));
    stream.connect();
    expect(await stream.waitForAuthentication(3000)).toBe(true);
    stream.subscribeForQuotes(['AAPL', 'MSFT']);
    stream.subscribeForTrades(['AAPL']);
    stream.subscribeForBars(['*']);
    stream.subscribeForStatuses(['*']);
    await subscribed;
    await sleep(50);
    await pump(sim, () => quotes.length > 5 && trades.length > 2, 100);
    sim.advance(60_000); // cross a minute boundary → bars
    const res = await fetch(`http://127.0.0.1:${sim.port}/_control/stream/halt`, { method: 'POST', body: JSON.stringify({ symbol: 'AAPL' }) });
    expect(res.status).toBe(200);
    await pump(sim, () => bars.length > 0 && statuses.length > 0, 10, 50);
    expect(quotes.every((q) => q.symbol === 'AAPL' || q.symbol === 'MSFT')).toBe(true);
    expect(quotes[0]?.timestampRaw).toMatch(/^2026-03-02T14:30:\d{2}\.\d{9}Z$/);
    expect(trades.length).toBeGreaterThan(0);
    expect(bars.length).toBeGreaterThan(0);
    expect(statuses[0]).toMatchObject({ symbol: 'AAPL', statusCode: 'H' });

    // one connection per key: the second SDK stream gets 406 and is closed, the first keeps receiving
    const second = alpaca.marketData.stockStream({ url: `${sim.url}/v2/iex`, reconnect: false });
    const errors: string[] = [];
    second.onError((e) => errors.push(e));
    second.connect();
    const result = await second.waitForAuthenticationResult(3000);
    expect(result.authenticated).toBe(false);
    expect(errors).toContain('connection limit exceeded');
    const before = quotes.length;
    await pump(sim, () => quotes.length > before, 100, 50);
    expect(quotes.length).toBeGreaterThan(before);
    stream.disconnect();
  });
});

describe('JSON clients and byte-level conformance', () => {
  it('JSON: connected → authenticated → full subscription, data as arrays with RFC 3339 nanosecond times', async () => {
    const sim = await startSim();
    const c = await authed(`${sim.url}/v2/sip`);
    expect(c.frames[0]!.toString()).toBe('[{"T":"success","msg":"connected"}]');
    expect(c.frames[1]!.toString()).toBe('[{"T":"success","msg":"authenticated"}]');
    c.send({ action: 'subscribe', trades: ['AAPL'], quotes: ['AAPL', 'MSFT'], bars: ['*'] });
    const sub = await c.waitFor(isMsg('subscription'));
    expect(sub).toEqual({
      T: 'subscription', trades: ['AAPL'], quotes: ['AAPL', 'MSFT'], bars: ['*'], updatedBars: [], dailyBars: [], statuses: [], lulds: [],
      corrections: ['AAPL'], cancelErrors: ['AAPL'],
    });
    c.send({ action: 'unsubscribe', quotes: ['MSFT'] });
    await c.waitFor((m) => m.T === 'subscription' && (m.quotes as string[]).length === 1);
    await pump(sim, () => c.messages.filter((m) => m.T === 'q').length > 5 && c.messages.some((m) => m.T === 't'));
    sim.advance(60_000);
    await c.waitFor(isMsg('b'));
    const data = c.messages.filter((m) => ['q', 't', 'b'].includes(m.T as string));
    for (const m of data) {
      expect(Object.keys(m)[0]).toBe('T');
      expect(m.t).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
      if (m.T !== 'b') expect(m.S).toBe('AAPL');
    }
    expect(c.frames.slice(3).every((f) => f.toString().startsWith('[{"T":'))).toBe(true);
    c.ws.close();
  });

  it('msgpack: T is the first key of every map, timestamps are ext -1 with nanoseconds', async () => {
    const sim = await startSim();
    const c = await authed(`${sim.url}/v2/iex`, KEYS[0], true);
    c.send({ action: 'subscribe', trades: ['*'], quotes: ['*'], bars: ['*'], dailyBars: ['*'], statuses: ['*'], lulds: ['*'] });
    await c.waitFor(isMsg('subscription'));
    await pump(sim, () => c.messages.length > 200);
    sim.advance(5 * 60_000); // bars, daily bars, LULD bands
    await c.waitFor(isMsg('l'));
    let subNanos = 0;
    for (const frame of c.frames) {
      // raw bytes: array header, then a map whose first key is the 1-char string "T" (0xa1 0x54)
      expect(frame[0]! >> 4 === 0x9 || frame[0] === 0xdc || frame[0] === 0xdd).toBe(true);
      const first = frame[0]! >> 4 === 0x9 ? 1 : frame[0] === 0xdc ? 3 : 5;
      expect(frame[first]! >> 4).toBe(0x8);
      expect([frame[first + 1], frame[first + 2]]).toEqual([0xa1, 0x54]);
    }
    for (const m of c.messages) {
      expect(Object.keys(m)[0]).toBe('T');
      if (m.T === 'success' || m.T === 'subscription') continue;
      const t = m.t as { ext: number; sec: number; nsec: number; len: number };
      expect(t.ext).toBe(-1);
      expect(t.sec).toBeGreaterThan(1_772_000_000);
      expect([4, 8, 12]).toContain(t.len);
      if (t.nsec % 1_000_000 !== 0) subNanos++;
    }
    expect(subNanos).toBeGreaterThan(0);
    // the SDK's own decoder gets the same nanoseconds back
    const sdkish = decode(c.frames.at(-1)!, { extensionCodec: tsCodec }) as { t: { nsec: number } }[];
    expect(sdkish[0]!.t.nsec).toBeGreaterThanOrEqual(0);
    c.ws.close();
  });

  it('same seed + same manual steps ⇒ byte-identical wire streams; another seed differs', async () => {
    const record = async (seed: number): Promise<Buffer> => {
      const sim = await startSim({ testRatePerSecond: 0 }, { seed });
      const c = await authed(`${sim.url}/v2/sip`, KEYS[0], true);
      c.send({ action: 'subscribe', trades: ['*'], quotes: ['*'], bars: ['*'] });
      await c.waitFor(isMsg('subscription'));
      for (let i = 0; i < 30; i++) sim.advance(i === 20 ? 60_000 : 20);
      sim.advance(10);
      await sleep(200);
      c.ws.close();
      return Buffer.concat(c.frames.slice(3));
    };
    const a = await record(5);
    const b = await record(5);
    const other = await record(6);
    expect(a.length).toBeGreaterThan(5_000);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(other)).toBe(false);
  });
});

describe('auth variants and feeds', () => {
  it('authenticates from upgrade headers and OAuth tokens', async () => {
    const sim = await startSim({ validateOAuthToken: (t) => t === 'good-token' });
    const h = await connect(`${sim.url}/v2/iex`, { headers: { 'APCA-API-KEY-ID': 'PKPLUS', 'APCA-API-SECRET-KEY': 'plus-secret' } });
    await h.waitFor(isMsg('success', { msg: 'authenticated' }));
    const b = await connect(`${sim.url}/v2/iex`, { headers: { Authorization: 'Bearer good-token' } });
    await b.waitFor(isMsg('success', { msg: 'authenticated' }));
    const o = await connect(`${sim.url}/v2/sip`);
    o.send({ action: 'auth', key: 'oauth', secret: 'bad-token' });
    await o.waitFor(isError(402));
    await o.closed;
  });

  it('/v2/test serves FAKEPACA', async () => {
    const sim = await startSim();
    const c = await authed(`${sim.url}/v2/test`, KEYS[1]);
    c.send({ action: 'subscribe', quotes: ['FAKEPACA'], trades: ['FAKEPACA'] });
    await c.waitFor(isMsg('subscription'));
    sim.advance(2_000); // the internal FAKEPACA market follows the same clock on its own timer
    const q = await c.waitFor(isMsg('q'));
    expect(q.S).toBe('FAKEPACA');
  });

  it('/v2/delayed_sip delivers messages 15 minutes after they happened', async () => {
    const sim = await startSim();
    const live = await authed(`${sim.url}/v2/sip`);
    const late = await authed(`${sim.url}/v2/delayed_sip`, KEYS[2]);
    for (const c of [live, late]) {
      c.send({ action: 'subscribe', quotes: ['AAPL'] });
      await c.waitFor(isMsg('subscription'));
    }
    sim.advance(1_000);
    const first = await live.waitFor(isMsg('q'));
    await sleep(50);
    expect(late.messages.some((m) => m.T === 'q')).toBe(false);
    sim.advance(15 * 60_000);
    const delayed = await late.waitFor(isMsg('q'));
    expect(delayed.t).toBe(first.t); // the same message, 15 minutes later
  });
});

describe('errors (and the server stays up)', () => {
  it('400 malformed/unknown/non-string, 401 before auth, 403 auth after auth, 410 foreign channel', async () => {
    const sim = await startSim();
    const c = await connect(`${sim.url}/v2/iex`);
    c.send({ action: 'subscribe', trades: ['AAPL'] });
    await c.waitFor(isError(401));
    c.ws.send('{not json');
    await c.waitFor(isError(400));
    expect(c.messages.find(isError(400))).toEqual({ T: 'error', code: 400, msg: 'invalid syntax' });
    c.send({ action: 'auth', key: 'PKPLUS', secret: 'plus-secret' });
    await c.waitFor(isMsg('success', { msg: 'authenticated' }));
    c.send({ action: 'auth', key: 'PKPLUS', secret: 'plus-secret' });
    await c.waitFor(isError(403));
    const n400 = () => c.messages.filter(isError(400)).length;
    c.send({ action: 'dance' });
    c.send({ action: 'subscribe', trades: [42] });
    c.send([1, 2]);
    await sleep(100);
    expect(n400()).toBe(4);
    c.send({ action: 'subscribe', orderbooks: ['AAPL'] });
    await c.waitFor(isError(410));
    expect(c.messages.find(isError(410))?.msg).toBe('invalid subscribe action for this feed');
    // msgpack garbage on a msgpack connection
    const m = await authed(`${sim.url}/v2/iex`, KEYS[2], true);
    m.ws.send(Buffer.from([0xc1, 0xff, 0x00]));
    await m.waitFor(isError(400));
    // still serving
    c.send({ action: 'subscribe', quotes: ['AAPL'] });
    await c.waitFor(isMsg('subscription'));
    sim.advance(500);
    await c.waitFor(isMsg('q'));
  });

  it('402 bad key, 404 auth timeout, 409 feed outside the plan: error then close', async () => {
    const sim = await startSim({ authTimeoutMs: 150 });
    const bad = await connect(`${sim.url}/v2/iex`);
    bad.send({ action: 'auth', key: 'PKPLUS', secret: 'wrong' });
    expect(await bad.waitFor(isError(402))).toEqual({ T: 'error', code: 402, msg: 'auth failed' });
    await bad.closed;
    const idle = await connect(`${sim.url}/v2/iex`);
    expect(await idle.waitFor(isError(404))).toMatchObject({ msg: 'auth timeout' });
    await idle.closed;
    const basic = await connect(`${sim.url}/v2/sip`);
    basic.send({ action: 'auth', key: 'PKBASIC', secret: 'basic-secret' });
    expect(await basic.waitFor(isError(409))).toMatchObject({ msg: 'insufficient subscription' });
    await basic.closed;
    await authed(`${sim.url}/v2/iex`); // still up
  });

  it('405 symbol limit (connection stays), 406 second connection per key (first untouched)', async () => {
    const sim = await startSim();
    const c = await authed(`${sim.url}/v2/iex`, KEYS[1]);
    c.send({ action: 'subscribe', quotes: ['AAPL', 'MSFT'], trades: ['SPY', 'QQQ'] });
    expect(await c.waitFor(isError(405))).toMatchObject({ msg: 'symbol limit exceeded' });
    c.send({ action: 'subscribe', quotes: ['AAPL', 'MSFT'], trades: ['AAPL', 'SPY'] });
    const sub = await c.waitFor(isMsg('subscription'));
    expect(sub.quotes).toEqual(['AAPL', 'MSFT']);
    const dup = await connect(`${sim.url}/v2/iex`);
    dup.send({ action: 'auth', key: 'PKBASIC', secret: 'basic-secret' });
    expect(await dup.waitFor(isError(406))).toMatchObject({ msg: 'connection limit exceeded' });
    await dup.closed;
    sim.advance(500);
    await c.waitFor(isMsg('q'));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('407 slow client: a client that stops reading is told and closed', async () => {
    const sim = await startSim({ maxBufferedBytes: 256 * 1024, closeGraceMs: 5_000 }, { ratePerSecond: 200_000, symbols: 20 });
    const c = await authed(`${sim.url}/v2/iex`);
    c.send({ action: 'subscribe', quotes: ['*'], trades: ['*'] });
    await c.waitFor(isMsg('subscription'));
    const socket = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    for (let i = 0; i < 400 && !sim.logs.some((l) => l.includes('slow client')); i++) {
      sim.advance(100);
      await sleep(2);
    }
    expect(sim.logs.some((l) => l.includes('slow client'))).toBe(true);
    socket.resume();
    expect(await c.waitFor(isError(407), 8000)).toMatchObject({ msg: 'slow client' });
    await c.closed;
    await authed(`${sim.url}/v2/iex`); // slot freed, server up
  });

  it('a client that stops answering pings is dropped and its key slot frees', async () => {
    const sim = await startSim({ pingIntervalMs: 100, pongTimeoutMs: 150 });
    const c = await connect(`${sim.url}/v2/iex`, { autoPong: false });
    c.send({ action: 'auth', key: 'PKPLUS', secret: 'plus-secret' });
    await c.waitFor(isMsg('success', { msg: 'authenticated' }));
    const ok = await authed(`${sim.url}/v2/iex`, KEYS[2]); // a well-behaved client stays
    await c.closed;
    const again = await authed(`${sim.url}/v2/iex`);
    expect(again.ws.readyState).toBe(WebSocket.OPEN);
    await sleep(400);
    expect(ok.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('fault injection (/_control/stream)', () => {
  const post = (sim: Sim, path: string, body: unknown = {}) =>
    fetch(`http://127.0.0.1:${sim.port}/_control/stream/${path}`, { method: 'POST', body: JSON.stringify(body) });

  it('drop, refuse, stall, inject error codes, state', async () => {
    const sim = await startSim();
    const a = await authed(`${sim.url}/v2/iex`);
    expect(await (await post(sim, 'drop')).json()).toEqual({ dropped: 1 });
    await a.closed;

    await post(sim, 'refuse', { on: true });
    await expect(connect(`${sim.url}/v2/iex`)).rejects.toThrow(/HTTP 503/);
    await post(sim, 'refuse', { on: false });

    const b = await authed(`${sim.url}/v2/iex`);
    b.send({ action: 'subscribe', quotes: ['AAPL'] });
    await b.waitFor(isMsg('subscription'));
    await post(sim, 'stall', {});
    sim.advance(1000);
    await sleep(50);
    expect(b.messages.some((m) => m.T === 'q')).toBe(false);
    await post(sim, 'unstall');
    sim.advance(1000);
    await b.waitFor(isMsg('q'));

    const state = (await (await fetch(`http://127.0.0.1:${sim.port}/_control/stream/state`)).json()) as { connections: unknown[] };
    expect(state.connections).toHaveLength(1);

    expect((await post(sim, 'error', { code: 407 })).status).toBe(200);
    expect(await b.waitFor(isError(407))).toMatchObject({ msg: 'slow client' });
    await b.closed;
    expect((await post(sim, 'error', { code: 123 })).status).toBe(400);
    expect((await post(sim, 'halt', { symbol: 'NOPE' })).status).toBe(404);
    expect((await post(sim, 'nonsense')).status).toBe(404);
  });

  it('halt/resume emit status messages', async () => {
    const sim = await startSim();
    const c = await authed(`${sim.url}/v2/sip`);
    c.send({ action: 'subscribe', statuses: ['MSFT'], lulds: ['MSFT'] });
    await c.waitFor(isMsg('subscription'));
    await post(sim, 'halt', { symbol: 'MSFT', reason: 'volatility' });
    expect(await c.waitFor(isMsg('s'))).toMatchObject({ S: 'MSFT', sc: 'P', rc: 'LUDP' });
    expect(sim.market.isHalted('MSFT')).toBe(true);
    await post(sim, 'resume', { symbol: 'MSFT' });
    expect(await c.waitFor(isMsg('s', { sc: 'T' }))).toMatchObject({ S: 'MSFT', sm: 'Trading Resumption' });
    await c.waitFor(isMsg('l'));
  });
});
