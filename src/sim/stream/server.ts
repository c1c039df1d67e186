// Alpaca's v2 stock market-data WebSocket (/v2/iex, /v2/sip, /v2/delayed_sip, /v2/test) on a shared node:http server:
// auth by message or headers, subscriptions, batched msgpack/JSON data, Alpaca's error codes, pings, slow-client
// detection and fault injection under /_control/stream/….
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { MarketClock } from '../clock/types.js';
import type { MarketState, SimMarket, SimMessage } from '../market/types.js';
import { createSyntheticMarket } from '../market/synthetic.js';
import { NS_PER_MS } from '../market/time.js';
import { isLoopbackAddress, readBody, sendJson } from '../http/util.js';
import { decodeClientFrame, encodeJson, encodeMsgpack, jsonArray, msgpackArray } from './codec.js';

export type StreamFeed = 'iex' | 'sip' | 'delayed_sip' | 'test';
export const STREAM_FEEDS: readonly StreamFeed[] = ['iex', 'sip', 'delayed_sip', 'test'];

export interface StreamPlan {
  plan: string;
  /** Distinct symbols a connection may subscribe to across all channels (`*` counts as one). */
  symbolLimit: number;
  feeds: readonly StreamFeed[];
}

export interface StreamKey extends Partial<StreamPlan> {
  keyId: string;
  secret: string;
}

/** Plan defaults when a key does not spell them out (Alpaca: Basic = IEX + 30 symbols, Algo Trader Plus = SIP, unlimited). */
export const STREAM_PLANS: Readonly<Record<string, StreamPlan>> = {
  basic: { plan: 'basic', symbolLimit: 30, feeds: ['iex', 'delayed_sip', 'test'] },
  algo_trader_plus: { plan: 'algo_trader_plus', symbolLimit: Number.POSITIVE_INFINITY, feeds: ['iex', 'sip', 'delayed_sip', 'test'] },
};

export const STREAM_ERRORS: Readonly<Record<number, string>> = {
  400: 'invalid syntax',
  401: 'not authenticated',
  402: 'auth failed',
  403: 'already authenticated',
  404: 'auth timeout',
  405: 'symbol limit exceeded',
  406: 'connection limit exceeded',
  407: 'slow client',
  409: 'insufficient subscription',
  410: 'invalid subscribe action for this feed',
  500: 'internal error',
};

export interface MarketDataStreamOptions {
  /** Live market behind /v2/iex, /v2/sip and (15 minutes late) /v2/delayed_sip. */
  market: MarketState;
  clock: MarketClock;
  keys: readonly StreamKey[];
  /** OAuth tokens (`{"action":"auth","key":"oauth","secret":token}` or `Authorization: Bearer`). Default: reject all. */
  validateOAuthToken?: (token: string) => boolean;
  /** Plan of OAuth connections. Default: basic. */
  oauthPlan?: StreamPlan;
  /** Market behind /v2/test (FAKEPACA, regardless of hours). Default: an internal synthetic one, started with the stream. */
  testMarket?: SimMarket;
  /** Rate of the internal FAKEPACA market (messages/s). Default 20. */
  testRatePerSecond?: number;
  /** Seed of the internal FAKEPACA market. Default 7. */
  testSeed?: number;
  /** Close connections that have not authenticated after this long. Default 10 000 ms. */
  authTimeoutMs?: number;
  /** Ping every client this often (0 disables). Default 10 000 ms. */
  pingIntervalMs?: number;
  /** Terminate a client that has not answered a ping after this long. Default 5 000 ms. */
  pongTimeoutMs?: number;
  /** Bytes queued to a client above which it gets 407 `slow client` and is closed. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** How long after 407 a client that does not complete the close handshake is terminated. Default 2 000 ms. */
  closeGraceMs?: number;
  /** Connections per key and feed endpoint (Alpaca: 1). Default 1. */
  connectionsPerKey?: number;
  /** Delay of /v2/delayed_sip. Default 15 min. */
  delayMs?: number;
  /** Upper bound of messages kept for /v2/delayed_sip (oldest dropped beyond it; quotes conflated to 1/s/symbol). Default 500 000. */
  delayedBufferMax?: number;
  log?: (message: string) => void;
}

export interface MarketDataStream {
  /** Takes /v2/{iex,sip,delayed_sip,test} upgrades; returns false for other paths. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Fault injection under /_control/stream/… (loopback only); returns false for other paths. */
  control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** Number of open connections (all feeds). */
  connectionCount(): number;
  close(): Promise<void>;
}

const CHANNELS = ['trades', 'quotes', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds'] as const;
type Channel = (typeof CHANNELS)[number];
const CHANNEL_OF: Readonly<Record<string, Channel>> = { t: 'trades', q: 'quotes', b: 'bars', u: 'updatedBars', d: 'dailyBars', s: 'statuses', l: 'lulds' };
/** Accepted for compatibility (the SDK can send them); never carry data here. */
const SILENT_CHANNELS = ['imbalances'] as const;
/** Channels of other Alpaca streams: 410 on a stock feed. */
const FOREIGN_CHANNELS = ['orderbooks', 'news', 'corrections', 'cancelErrors'];

interface Client {
  ws: WebSocket;
  feed: StreamFeed;
  msgpack: boolean;
  authenticated: boolean;
  slot: string | undefined;
  plan: StreamPlan | undefined;
  subs: Record<Channel, Set<string>>;
  silent: Set<string>;
  authTimer: NodeJS.Timeout | undefined;
  pongTimer: NodeJS.Timeout | undefined;
  closing: boolean;
}

interface EncodedBatch {
  messages: readonly SimMessage[];
  mp: (Uint8Array | undefined)[];
  js: (string | undefined)[];
}

export function createMarketDataStream(options: MarketDataStreamOptions): MarketDataStream {
  const clock = options.clock;
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;
  const pingIntervalMs = options.pingIntervalMs ?? 10_000;
  const pongTimeoutMs = options.pongTimeoutMs ?? 5_000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const closeGraceMs = options.closeGraceMs ?? 2_000;
  const connectionsPerKey = options.connectionsPerKey ?? 1;
  const delayNs = BigInt(options.delayMs ?? 15 * 60_000) * NS_PER_MS;
  const delayedBufferMax = options.delayedBufferMax ?? 500_000;
  const validateOAuthToken = options.validateOAuthToken ?? (() => false);
  const oauthPlan = options.oauthPlan ?? (STREAM_PLANS.basic as StreamPlan);
  const log = options.log ?? (() => {});

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  const clients = new Set<Client>();
  const slots = new Map<string, number>();
  let refusing = false;
  let stalledUntil = 0; // epoch ms (wall time); Infinity = until cleared
  let closed = false;

  const ownTestMarket = options.testMarket === undefined;
  const testMarket: SimMarket = options.testMarket
    ?? createSyntheticMarket(
      {
        now: () => clock.now(), isOpen: () => true, session: (d) => clock.session(d), calendar: (a, b) => clock.calendar(a, b),
        nextOpen: (at) => clock.nextOpen(at), nextClose: (at) => clock.nextClose(at),
      },
      { seed: options.testSeed ?? 7, symbolList: ['FAKEPACA'], ratePerSecond: options.testRatePerSecond ?? 20, batchMs: 50, haltProbability: 0, sessionOnly: false },
    );

  // /v2/delayed_sip: a bounded FIFO of live messages, released when they are `delayMs` old.
  const delayed: SimMessage[] = [];
  let delayedHead = 0;
  const lastDelayedQuoteSec = new Map<string, bigint>();

  const unsubscribeLive = options.market.subscribe((batch) => {
    fanOut(batch, (f) => f === 'iex' || f === 'sip');
    bufferDelayed(batch);
  });
  const unsubscribeTest = testMarket.subscribe((batch) => fanOut(batch, (f) => f === 'test'));
  if (ownTestMarket) testMarket.start();

  const pingTimer = pingIntervalMs > 0 ? setInterval(pingAll, pingIntervalMs) : undefined;

  function bufferDelayed(batch: readonly SimMessage[]): void {
    for (const m of batch) {
      if (m.T === 'q') {
        const sec = m.t / 1_000_000_000n;
        if (lastDelayedQuoteSec.get(m.S) === sec) continue;
        lastDelayedQuoteSec.set(m.S, sec);
      }
      delayed.push(m);
    }
    const overflow = delayed.length - delayedHead - delayedBufferMax;
    if (overflow > 0) delayedHead += overflow;
    const cutoff = BigInt(clock.now().getTime()) * NS_PER_MS - delayNs;
    const start = delayedHead;
    while (delayedHead < delayed.length && (delayed[delayedHead] as SimMessage).t <= cutoff) delayedHead++;
    if (delayedHead > start) fanOut(delayed.slice(start, delayedHead), (f) => f === 'delayed_sip');
    if (delayedHead > 65_536 && delayedHead * 2 > delayed.length) {
      delayed.splice(0, delayedHead);
      delayedHead = 0;
    }
  }

  function send(client: Client, message: object): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    if (client.msgpack) client.ws.send(msgpackArray([encodeMsgpack(message)]), { binary: true });
    else client.ws.send(jsonArray([encodeJson(message)]));
  }

  function sendError(client: Client, code: number): void {
    send(client, { T: 'error', code, msg: STREAM_ERRORS[code] ?? 'internal error' });
  }

  function closeClient(client: Client, code = 1000): void {
    if (client.closing) return;
    client.closing = true;
    clearTimeout(client.authTimer);
    try {
      client.ws.close(code);
    } catch {
      client.ws.terminate();
    }
    const t = setTimeout(() => client.ws.terminate(), closeGraceMs);
    t.unref();
  }

  function fail(client: Client, code: number): void {
    sendError(client, code);
    closeClient(client);
  }

  function fanOut(messages: readonly SimMessage[], feedMatches: (feed: StreamFeed) => boolean): void {
    if (messages.length === 0 || clients.size === 0) return;
    if (stalledUntil > Date.now()) return;
    const enc: EncodedBatch = { messages, mp: new Array(messages.length), js: new Array(messages.length) };
    for (const client of clients) {
      if (!client.authenticated || client.closing || !feedMatches(client.feed)) continue;
      deliver(client, enc);
    }
  }

  function wants(client: Client, m: SimMessage): boolean {
    const ch = CHANNEL_OF[m.T];
    if (!ch) return false;
    const set = client.subs[ch];
    return set.size > 0 && (set.has(m.S) || set.has('*'));
  }

  function deliver(client: Client, enc: EncodedBatch): void {
    if (client.ws.bufferedAmount > maxBufferedBytes) {
      log(`stream: slow client on /v2/${client.feed} (${client.ws.bufferedAmount} bytes queued)`);
      fail(client, 407);
      return;
    }
    const { messages } = enc;
    if (client.msgpack) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as SimMessage;
        if (!wants(client, m)) continue;
        parts.push((enc.mp[i] ??= encodeMsgpack(m)));
      }
      if (parts.length > 0) client.ws.send(msgpackArray(parts), { binary: true });
    } else {
      const parts: string[] = [];
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as SimMessage;
        if (!wants(client, m)) continue;
        parts.push((enc.js[i] ??= encodeJson(m)));
      }
      if (parts.length > 0) client.ws.send(jsonArray(parts));
    }
  }

  function pingAll(): void {
    for (const client of clients) {
      if (client.closing || client.ws.readyState !== client.ws.OPEN || client.pongTimer) continue;
      client.pongTimer = setTimeout(() => {
        log(`stream: no pong from a /v2/${client.feed} client, terminating`);
        client.ws.terminate();
      }, pongTimeoutMs);
      client.ws.ping();
    }
  }

  function planOf(key: StreamKey): StreamPlan {
    const base = STREAM_PLANS[key.plan ?? 'basic'] ?? (STREAM_PLANS.basic as StreamPlan);
    return { plan: key.plan ?? base.plan, symbolLimit: key.symbolLimit ?? base.symbolLimit, feeds: key.feeds ?? base.feeds };
  }

  /** Checks credentials, feed access and the connection limit; answers the client. */
  function authenticate(client: Client, keyId: unknown, secret: unknown): void {
    if (client.authenticated) return sendError(client, 403);
    let plan: StreamPlan | undefined;
    let slot: string | undefined;
    if (keyId === 'oauth' && typeof secret === 'string' && secret !== '') {
      if (validateOAuthToken(secret)) {
        plan = oauthPlan;
        slot = `oauth:${secret}`;
      }
    } else if (typeof keyId === 'string' && typeof secret === 'string') {
      const key = options.keys.find((k) => k.keyId === keyId && k.secret === secret);
      if (key) {
        plan = planOf(key);
        slot = `key:${key.keyId}`;
      }
    }
    if (!plan || !slot) return fail(client, 402);
    if (!plan.feeds.includes(client.feed)) return fail(client, 409);
    const slotKey = `${slot}|${client.feed}`;
    const used = slots.get(slotKey) ?? 0;
    if (used >= connectionsPerKey) return fail(client, 406);
    slots.set(slotKey, used + 1);
    client.slot = slotKey;
    client.plan = plan;
    client.authenticated = true;
    clearTimeout(client.authTimer);
    client.authTimer = undefined;
    send(client, { T: 'success', msg: 'authenticated' });
  }

  function subscriptionFrame(client: Client): object {
    const list = (ch: Channel): string[] => [...client.subs[ch]];
    const frame: Record<string, unknown> = {
      T: 'subscription',
      trades: list('trades'), quotes: list('quotes'), bars: list('bars'), updatedBars: list('updatedBars'),
      dailyBars: list('dailyBars'), statuses: list('statuses'), lulds: list('lulds'),
      corrections: list('trades'), cancelErrors: list('trades'),
    };
    if (client.silent.size > 0) frame.imbalances = [...client.silent];
    return frame;
  }

  function handleSubscribe(client: Client, action: 'subscribe' | 'unsubscribe', msg: Record<string, unknown>): void {
    if (!client.authenticated) return sendError(client, 401);
    for (const k of FOREIGN_CHANNELS) if (k in msg) return sendError(client, 410);
    const requested: Partial<Record<Channel | 'imbalances', string[]>> = {};
    for (const ch of [...CHANNELS, ...SILENT_CHANNELS]) {
      const v = msg[ch];
      if (v === undefined) continue;
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s.trim() !== '')) return sendError(client, 400);
      requested[ch] = (v as string[]).map((s) => s.trim().toUpperCase());
    }
    if (action === 'subscribe') {
      const next = new Set<string>();
      for (const ch of CHANNELS) for (const s of client.subs[ch]) next.add(s);
      for (const s of client.silent) next.add(s);
      for (const list of Object.values(requested)) for (const s of list) next.add(s);
      if (next.size > (client.plan?.symbolLimit ?? 0)) return sendError(client, 405);
      for (const ch of CHANNELS) for (const s of requested[ch] ?? []) client.subs[ch].add(s);
      for (const s of requested.imbalances ?? []) client.silent.add(s);
    } else {
      for (const ch of CHANNELS) for (const s of requested[ch] ?? []) client.subs[ch].delete(s);
      for (const s of requested.imbalances ?? []) client.silent.delete(s);
    }
    send(client, subscriptionFrame(client));
  }

  function onMessage(client: Client, data: RawData, isBinary: boolean): void {
    if (client.closing) return;
    let msg: unknown;
    try {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      msg = decodeClientFrame(buf, isBinary);
    } catch {
      return sendError(client, 400);
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return sendError(client, 400);
    const m = msg as Record<string, unknown>;
    try {
      switch (m.action) {
        case 'auth':
          return authenticate(client, m.key, m.secret);
        case 'subscribe':
        case 'unsubscribe':
          return handleSubscribe(client, m.action, m);
        default:
          return sendError(client, 400);
      }
    } catch (err) {
      log(`stream: internal error: ${String(err)}`);
      return sendError(client, 500);
    }
  }

  function onConnection(ws: WebSocket, req: IncomingMessage, feed: StreamFeed): void {
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
    const client: Client = {
      ws, feed, msgpack: contentType.includes('application/msgpack'), authenticated: false, slot: undefined, plan: undefined,
      subs: { trades: new Set(), quotes: new Set(), bars: new Set(), updatedBars: new Set(), dailyBars: new Set(), statuses: new Set(), lulds: new Set() },
      silent: new Set(), authTimer: undefined, pongTimer: undefined, closing: false,
    };
    clients.add(client);
    ws.on('message', (data, isBinary) => onMessage(client, data, isBinary));
    ws.on('pong', () => {
      clearTimeout(client.pongTimer);
      client.pongTimer = undefined;
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      clients.delete(client);
      clearTimeout(client.authTimer);
      clearTimeout(client.pongTimer);
      if (client.slot) {
        const n = (slots.get(client.slot) ?? 1) - 1;
        if (n > 0) slots.set(client.slot, n);
        else slots.delete(client.slot);
        client.slot = undefined;
      }
    });
    send(client, { T: 'success', msg: 'connected' });
    const headerKey = req.headers['apca-api-key-id'];
    const headerSecret = req.headers['apca-api-secret-key'];
    const authz = req.headers.authorization;
    if (typeof headerKey === 'string' && typeof headerSecret === 'string') {
      authenticate(client, headerKey, headerSecret);
    } else if (typeof authz === 'string' && /^bearer\s+/i.test(authz)) {
      authenticate(client, 'oauth', authz.replace(/^bearer\s+/i, '').trim());
    } else {
      client.authTimer = setTimeout(() => {
        if (!client.authenticated) fail(client, 404);
      }, authTimeoutMs);
    }
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = new URL(req.url ?? '/', 'http://sim').pathname.replace(/\/+$/, '');
    const m = /^\/v2\/(iex|sip|delayed_sip|test)$/.exec(path);
    if (!m) return false;
    if (refusing || closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req, m[1] as StreamFeed));
    return true;
  }

  function state(): object {
    return {
      refusing,
      stalled: stalledUntil > Date.now(),
      stalledUntil: stalledUntil === Number.POSITIVE_INFINITY ? 'cleared manually' : stalledUntil > Date.now() ? new Date(stalledUntil).toISOString() : null,
      delayedBuffered: delayed.length - delayedHead,
      connections: [...clients].map((c) => ({
        feed: c.feed, encoding: c.msgpack ? 'msgpack' : 'json', authenticated: c.authenticated, plan: c.plan?.plan ?? null,
        bufferedAmount: c.ws.bufferedAmount, subscription: subscriptionFrame(c),
      })),
    };
  }

  async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (!url.pathname.startsWith('/_control/stream')) return false;
    if (!isLoopbackAddress(req.socket.remoteAddress)) {
      sendJson(res, 403, { message: 'control endpoint is loopback only' });
      return true;
    }
    const action = url.pathname.slice('/_control/stream'.length).replace(/^\/+|\/+$/g, '');
    if (req.method === 'GET' && (action === '' || action === 'state')) {
      sendJson(res, 200, state());
      return true;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { message: 'use POST (GET for /_control/stream/state)' });
      return true;
    }
    let body: Record<string, unknown> = {};
    try {
      const raw = (await readBody(req, 64 * 1024)).toString('utf8').trim();
      if (raw !== '') {
        const parsed: unknown = JSON.parse(raw);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('body must be a JSON object');
        body = parsed as Record<string, unknown>;
      }
    } catch (err) {
      sendJson(res, 400, { message: `bad body: ${err instanceof Error ? err.message : String(err)}` });
      return true;
    }
    const feedFilter = typeof body.feed === 'string' ? body.feed : undefined;
    const targets = [...clients].filter((c) => !feedFilter || c.feed === feedFilter);
    switch (action) {
      case 'drop': {
        for (const c of targets) c.ws.terminate();
        sendJson(res, 200, { dropped: targets.length });
        return true;
      }
      case 'refuse': {
        refusing = body.on !== false;
        sendJson(res, 200, { refusing });
        return true;
      }
      case 'stall': {
        const ms = body.ms;
        if (ms === null || ms === 0 || body.clear === true) stalledUntil = 0;
        else if (ms === undefined) stalledUntil = Number.POSITIVE_INFINITY;
        else if (typeof ms === 'number' && ms > 0) stalledUntil = Date.now() + ms;
        else {
          sendJson(res, 400, { message: 'ms must be a positive number, 0/null to clear, or absent for until cleared' });
          return true;
        }
        sendJson(res, 200, { stalled: stalledUntil > Date.now() });
        return true;
      }
      case 'unstall': {
        stalledUntil = 0;
        sendJson(res, 200, { stalled: false });
        return true;
      }
      case 'error': {
        const code = typeof body.code === 'number' ? body.code : 500;
        if (!STREAM_ERRORS[code]) {
          sendJson(res, 400, { message: `code must be one of ${Object.keys(STREAM_ERRORS).join(', ')}` });
          return true;
        }
        for (const c of targets) fail(c, code);
        sendJson(res, 200, { code, closed: targets.length });
        return true;
      }
      case 'halt':
      case 'resume': {
        const symbol = typeof body.symbol === 'string' ? body.symbol.toUpperCase() : '';
        const live = options.market as Partial<SimMarket> & MarketState;
        const market = testMarket.hasSymbol(symbol) ? testMarket : live;
        if (!market.hasSymbol(symbol) || typeof market.halt !== 'function' || typeof market.resume !== 'function') {
          sendJson(res, 404, { message: `unknown symbol ${symbol || '(none)'}` });
          return true;
        }
        const reason = body.reason === 'volatility' ? 'volatility' : 'news';
        const changed = action === 'halt' ? market.halt(symbol, reason) : market.resume(symbol);
        sendJson(res, 200, { symbol, halted: market.isHalted(symbol), changed });
        return true;
      }
      default:
        sendJson(res, 404, { message: `unknown control action ${action}` });
        return true;
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    unsubscribeLive();
    unsubscribeTest();
    if (ownTestMarket) testMarket.stop();
    if (pingTimer) clearInterval(pingTimer);
    const done = [...clients].map((c) => new Promise<void>((resolve) => {
      c.ws.once('close', () => resolve());
      c.ws.terminate();
    }));
    await Promise.all(done);
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  return { handleUpgrade, control, connectionCount: () => clients.size, close };
}
