// One user's Alpaca `trade_updates` stream: authenticate with the OAuth token, listen, hand each order event to the
// caller, redial with backoff after a drop, and stop for good when the broker says the token is no longer authorized.
import WebSocket from 'ws';
import { z } from 'zod';
import { brokerOrderSchema, type BrokerOrder } from './broker.js';

export interface TradeUpdate {
  /** fill, partial_fill, new, canceled, rejected, expired, replaced, … */
  event: string;
  order: BrokerOrder;
  /** fill/partial_fill: price and qty of this execution, and the signed position after it. */
  price?: string;
  qty?: string;
  position_qty?: string;
  timestamp?: string;
  execution_id?: string;
}

export type TradeUpdatesState = 'connecting' | 'authorized' | 'closed' | 'unauthorized';

export interface TradeUpdatesFollower {
  close(): Promise<void>;
  readonly state: TradeUpdatesState;
}

export interface FollowTradeUpdatesOptions {
  /** ws(s)://…/stream (Alpaca: wss://api.alpaca.markets/stream). */
  url: string;
  token: string;
  /** Called once per update, in the order the broker sent them. A throwing callback does not stop the stream. */
  onUpdate: (u: TradeUpdate) => void;
  /**
   * 'connecting' on every dial (detail says why), 'authorized' once the broker confirmed the trade_updates
   * subscription (reconcile open orders over REST then: the stream does not replay what a gap missed),
   * 'unauthorized' when the broker refused the token (terminal: no redial), 'closed' after close().
   */
  onState?: (s: TradeUpdatesState, detail?: string) => void;
  /** First redial delay; doubles per failed attempt up to 30 s, ±20 % jitter, back to this after an authorization. Default 1000. */
  reconnectMs?: number;
  WebSocketImpl?: typeof WebSocket;
  /** Ping period; a socket that misses a pong, or gets no subscription confirmed, within it is dropped and redialled. Default 15000. */
  heartbeatMs?: number;
  /** Frames that are not valid (not JSON, unknown shape, a trade update that does not parse, server `error` frames). */
  onMalformed?: (detail: string) => void;
}

const MAX_BACKOFF_MS = 30_000;

/** Decimal fields are strings on Alpaca's wire; numbers are tolerated so a fill is never dropped over its type. */
const decimal = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((v) => (v === null || v === undefined ? undefined : String(v)));

const tradeUpdateSchema = z.object({
  event: z.string().min(1),
  order: brokerOrderSchema,
  price: decimal,
  qty: decimal,
  position_qty: decimal,
  timestamp: z.string().nullish(),
  execution_id: z.string().nullish(),
});

const frameSchema = z.object({
  stream: z.string().optional(),
  action: z.string().optional(),
  data: z.unknown().optional(),
});
const authorizationSchema = z.object({ status: z.string(), action: z.string().optional() });
const listeningSchema = z.object({ streams: z.array(z.string()) });
const errorDataSchema = z.object({ error_message: z.string() });

function text(raw: WebSocket.RawData): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw as ArrayBuffer).toString('utf8');
}

function toUpdate(d: z.infer<typeof tradeUpdateSchema>): TradeUpdate {
  const u: TradeUpdate = { event: d.event, order: d.order };
  if (d.price !== undefined) u.price = d.price;
  if (d.qty !== undefined) u.qty = d.qty;
  if (d.position_qty !== undefined) u.position_qty = d.position_qty;
  if (d.timestamp) u.timestamp = d.timestamp;
  if (d.execution_id) u.execution_id = d.execution_id;
  return u;
}

export function followTradeUpdates(o: FollowTradeUpdatesOptions): TradeUpdatesFollower {
  const Impl = o.WebSocketImpl ?? WebSocket;
  const baseDelay = Math.max(1, o.reconnectMs ?? 1_000);
  const heartbeatMs = Math.max(50, o.heartbeatMs ?? 15_000);
  let state: TradeUpdatesState = 'connecting';
  let socket: WebSocket | undefined;
  let redial: NodeJS.Timeout | undefined;
  let failures = 0;
  let closing: Promise<void> | undefined;

  // Details come from the server (close reasons, error frames): cut the token out should one ever echo it.
  const safe = (s: string) => (o.token ? s.split(o.token).join('[redacted]') : s);

  function setState(s: TradeUpdatesState, detail?: string): void {
    state = s;
    try {
      o.onState?.(s, detail === undefined ? undefined : safe(detail));
    } catch {
      // the caller's callback must not break the follower
    }
  }

  function malformed(detail: string): void {
    try {
      o.onMalformed?.(safe(detail));
    } catch {
      // as above
    }
  }

  const stopped = () => state === 'closed' || state === 'unauthorized' || closing !== undefined;

  function scheduleRedial(why: string): void {
    if (stopped()) return;
    const delay = Math.round(Math.min(MAX_BACKOFF_MS, baseDelay * 2 ** failures) * (0.8 + Math.random() * 0.4));
    failures += 1;
    setState('connecting', `${why}; redialling in ${delay} ms`);
    redial = setTimeout(() => {
      redial = undefined;
      dial();
    }, delay);
    redial.unref();
  }

  function dial(): void {
    if (stopped()) return;
    const ws = new Impl(o.url, { handshakeTimeout: heartbeatMs });
    socket = ws;
    let alive = true;
    let subscribed = false;
    const heartbeat = setInterval(() => {
      if (ws.readyState !== ws.OPEN) return;
      // A half-open TCP connection or a server that never confirms the subscription would otherwise go unnoticed.
      if (!alive || !subscribed) {
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, heartbeatMs);
    heartbeat.unref();

    ws.on('open', () => ws.send(JSON.stringify({ action: 'authenticate', data: { oauth_token: o.token } })));
    ws.on('pong', () => {
      alive = true;
    });
    // 'close' always follows 'error'; the redial is decided there.
    ws.on('error', () => {});
    ws.on('close', (code: number, reason: Buffer) => {
      clearInterval(heartbeat);
      if (socket !== ws) return;
      socket = undefined;
      scheduleRedial(`stream closed (${code}${reason.length ? ` ${reason.toString('utf8')}` : ''})`);
    });
    ws.on('message', (raw: WebSocket.RawData) => {
      alive = true;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text(raw));
      } catch {
        malformed('a frame that is not JSON');
        return;
      }
      const frame = frameSchema.safeParse(parsed);
      if (!frame.success) {
        malformed('a frame of unknown shape');
        return;
      }
      const { stream, action, data } = frame.data;
      if (stream === 'trade_updates') {
        const u = tradeUpdateSchema.safeParse(data);
        if (!u.success) {
          malformed('a trade update that does not parse');
          return;
        }
        try {
          o.onUpdate(toUpdate(u.data));
        } catch {
          // the caller's callback must not break the follower
        }
        return;
      }
      if (stream === 'authorization') {
        const auth = authorizationSchema.safeParse(data);
        if (auth.success && auth.data.status === 'authorized') {
          ws.send(JSON.stringify({ action: 'listen', data: { streams: ['trade_updates'] } }));
          return;
        }
        // Revoked or invalid token: redialling cannot help, and must not hammer the broker.
        if (socket === ws) socket = undefined;
        if (redial) clearTimeout(redial);
        ws.close(1000);
        if (!stopped()) setState('unauthorized', `the broker refused the token (${auth.success ? auth.data.action ?? 'authenticate' : 'authorization'})`);
        return;
      }
      if (stream === 'listening') {
        const l = listeningSchema.safeParse(data);
        if (l.success && l.data.streams.includes('trade_updates')) {
          subscribed = true;
          failures = 0;
          setState('authorized');
        } else {
          malformed('the broker did not confirm the trade_updates subscription');
          ws.terminate();
        }
        return;
      }
      if (action === 'error') {
        const e = errorDataSchema.safeParse(data);
        malformed(`the broker sent an error: ${e.success ? e.data.error_message : 'unknown'}`);
        return;
      }
      malformed(`an unexpected frame (${stream ?? action ?? 'no stream'})`);
    });
  }

  setState('connecting', 'dialling');
  dial();

  return {
    get state() {
      return state;
    },
    close() {
      closing ??= (async () => {
        if (redial) clearTimeout(redial);
        redial = undefined;
        const ws = socket;
        socket = undefined;
        if (ws && ws.readyState !== ws.CLOSED) {
          await new Promise<void>((resolve) => {
            const force = setTimeout(() => {
              ws.terminate();
              resolve();
            }, 1_000);
            ws.once('close', () => {
              clearTimeout(force);
              resolve();
            });
            // close() on a socket still connecting aborts the handshake (and emits 'error', handled above).
            ws.close(1000);
          });
        }
        setState('closed');
      })();
      return closing;
    },
  };
}
