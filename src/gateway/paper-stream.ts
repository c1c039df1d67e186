// Alpaca's `trade_updates` stream at /paper/stream, for paper (MBT) accounts: Alpaca's auth and listen messages, with
// the session token where Alpaca takes keys or an OAuth token; then the user's private events of kind `trade_update`
// (published on `user-events:<id>` by their account actor) re-framed as `{"stream":"trade_updates","data":{…}}`.
// Every server frame is JSON in a binary WebSocket frame, as Alpaca paper sends them. See docs/paper-api.md.
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import uWS from 'uWebSockets.js';
import { userEventSchema } from '../contracts/user-events.js';
import type { Logger } from '../infra/logging/index.js';
import type { SessionAuth } from './auth.js';
import { asOrderRecord, orderJson } from './http/paper/format.js';
import type { RouteModule } from './http/routes.js';
import type { UserEventBus, UserEventListener } from './private-events.js';
import type { TierDirectory } from './tier-directory.js';

export const PAPER_STREAM_PATH = '/paper/stream';
export const TRADE_UPDATE_KIND = 'trade_update';

export interface PaperStreamDeps {
  auth: SessionAuth;
  directory: Pick<TierDirectory, 'lookup'>;
  bus: UserEventBus;
  /** A socket whose outbox would pass this is closed 4008 (it is never silently skipped). */
  maxBackpressureBytes: number;
  logger?: Logger;
  options?: {
    /** Close a socket that has not authenticated within this long (Alpaca: 10 s). */
    authTimeoutMs?: number;
    /** Largest client frame. Default 16 KiB. */
    maxPayloadBytes?: number;
  };
}

export interface PaperStream extends RouteModule {
  connections(): number;
  /** Ends every socket (1001); new upgrades are refused. */
  close(): void;
}

interface SocketData {
  userId?: string;
  listening: boolean;
  /** An auth is being verified (one at a time). */
  authenticating: boolean;
  closed: boolean;
  lastSeq: number;
  timer?: NodeJS.Timeout;
  listener?: UserEventListener;
}

type Ws = WebSocket<SocketData>;

export const SLOW_CLIENT_CLOSE = { code: 4008, reason: 'slow client' } as const;

const authorization = (action: 'authenticate' | 'listen', status: 'authorized' | 'unauthorized') => ({ stream: 'authorization', data: { action, status } });
const errorFrame = (message: string) => ({ action: 'error', data: { error_message: message } });

/**
 * Where the session token may travel in an auth message: `{"action":"auth","key":<anything>,"secret":<token>}`,
 * `{"action":"authenticate","data":{"key_id":<anything>,"secret_key":<token>}}` (what the official SDK sends), or
 * `{"action":"authenticate","data":{"oauth_token":<token>}}`. Null when the message is not an auth message.
 */
export function tokenOf(msg: Record<string, unknown>): string | null {
  if (msg.action === 'auth') return typeof msg.secret === 'string' ? msg.secret : '';
  if (msg.action !== 'authenticate') return null;
  const data = typeof msg.data === 'object' && msg.data !== null ? (msg.data as Record<string, unknown>) : {};
  if (typeof data.oauth_token === 'string') return data.oauth_token;
  return typeof data.secret_key === 'string' ? data.secret_key : '';
}

/** A private event frame as a trade_updates frame, or null for any other kind of event. */
export function tradeUpdateFrame(frame: string): { seq: number; text: string } | null {
  let ev;
  try {
    const parsed = userEventSchema.safeParse(JSON.parse(frame));
    if (!parsed.success) return null;
    ev = parsed.data;
  } catch {
    return null;
  }
  if (ev.kind !== TRADE_UPDATE_KIND || typeof ev.data !== 'object' || ev.data === null) return null;
  const { type: _type, ...data } = ev.data as Record<string, unknown>;
  const order = asOrderRecord(data.order);
  if (!order) return null;
  return { seq: ev.seq, text: JSON.stringify({ stream: 'trade_updates', data: { ...data, order: orderJson(order) } }) };
}

export function createPaperStream(deps: PaperStreamDeps): PaperStream {
  const authTimeoutMs = deps.options?.authTimeoutMs ?? 10_000;
  const sockets = new Set<Ws>();
  let closing = false;

  function send(ws: Ws, frame: unknown): void {
    const data = ws.getUserData();
    if (data.closed) return;
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    if (ws.getBufferedAmount() + Buffer.byteLength(text) > deps.maxBackpressureBytes) {
      end(ws, SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason);
      return;
    }
    let r = 2;
    ws.cork(() => {
      r = ws.send(Buffer.from(text), true, false);
    });
    if (r === 2) end(ws, SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason);
  }

  function end(ws: Ws, code: number, reason: string): void {
    const data = ws.getUserData();
    if (data.closed) return;
    release(data);
    data.closed = true;
    ws.end(code, reason);
  }

  function release(data: SocketData): void {
    clearTimeout(data.timer);
    if (data.listener && data.userId) deps.bus.remove(data.userId, data.listener);
    data.listener = undefined;
  }

  async function authenticate(ws: Ws, token: string): Promise<void> {
    const data = ws.getUserData();
    const claims = token === '' ? null : await deps.auth.verify(token);
    const user = claims ? await deps.directory.lookup(claims.sub) : null;
    if (data.closed) return;
    if (!user || (data.userId !== undefined && data.userId !== user.id)) {
      send(ws, authorization('authenticate', 'unauthorized'));
      end(ws, 1008, 'unauthorized');
      return;
    }
    data.userId = user.id;
    clearTimeout(data.timer);
    send(ws, authorization('authenticate', 'authorized'));
  }

  async function listen(ws: Ws, streams: unknown): Promise<void> {
    const data = ws.getUserData();
    const list = Array.isArray(streams) ? streams.filter((s): s is string => typeof s === 'string') : [];
    const want = list.includes('trade_updates');
    if (want && !data.listener) {
      const listener: UserEventListener = (frame) => {
        if (data.closed || !data.listening) return;
        const update = tradeUpdateFrame(frame);
        if (!update || update.seq <= data.lastSeq) return;
        data.lastSeq = update.seq;
        send(ws, update.text);
      };
      data.listener = listener;
      // Confirmed before the ack: an order submitted after "listening" cannot have its updates slip past.
      await deps.bus.add(data.userId!, listener);
      if (data.closed) deps.bus.remove(data.userId!, listener);
    } else if (!want && data.listener) {
      deps.bus.remove(data.userId!, data.listener);
      data.listener = undefined;
    }
    data.listening = want;
    send(ws, { stream: 'listening', data: { streams: want ? ['trade_updates'] : [] } });
  }

  function onMessage(ws: Ws, message: ArrayBuffer): void {
    const data = ws.getUserData();
    let msg: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(Buffer.from(message).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      msg = parsed as Record<string, unknown>;
    } catch {
      send(ws, errorFrame('invalid syntax'));
      return;
    }
    const token = tokenOf(msg);
    if (token !== null) {
      if (data.authenticating) return send(ws, errorFrame('authentication in progress'));
      data.authenticating = true;
      void authenticate(ws, token)
        .catch((err: unknown) => {
          deps.logger?.warn({ err }, 'paper stream auth failed');
          send(ws, authorization('authenticate', 'unauthorized'));
          end(ws, 1011, 'internal error');
        })
        .finally(() => {
          data.authenticating = false;
        });
      return;
    }
    if (msg.action === 'listen') {
      if (data.userId === undefined) return send(ws, authorization('listen', 'unauthorized'));
      const body = typeof msg.data === 'object' && msg.data !== null ? (msg.data as Record<string, unknown>) : {};
      void listen(ws, body.streams).catch((err: unknown) => {
        deps.logger?.warn({ err, user: data.userId }, 'paper stream listen failed');
        send(ws, errorFrame('internal error; listen again'));
      });
      return;
    }
    send(ws, errorFrame(`unknown action: ${String(msg.action).slice(0, 32)}`));
  }

  return {
    connections: () => sockets.size,
    close() {
      closing = true;
      for (const ws of [...sockets]) end(ws, 1001, 'server shutting down');
    },
    register(app: TemplatedApp) {
      app.ws<SocketData>(PAPER_STREAM_PATH, {
        maxPayloadLength: deps.options?.maxPayloadBytes ?? 16 * 1024,
        maxBackpressure: deps.maxBackpressureBytes,
        closeOnBackpressureLimit: false as unknown as number,
        idleTimeout: 120,
        sendPingsAutomatically: true,
        compression: uWS.DISABLED,
        upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
          if (closing) {
            res.writeStatus('503 Service Unavailable').end();
            return;
          }
          const init: SocketData = { listening: false, authenticating: false, closed: false, lastSeq: 0 };
          res.upgrade<SocketData>(init, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
        },
        open: (ws: Ws) => {
          sockets.add(ws);
          const data = ws.getUserData();
          data.timer = setTimeout(() => {
            if (data.userId === undefined) end(ws, 1008, 'authentication timeout');
          }, authTimeoutMs);
          data.timer.unref();
        },
        message: (ws: Ws, message: ArrayBuffer) => onMessage(ws, message),
        close: (ws: Ws) => {
          const data = ws.getUserData();
          release(data);
          data.closed = true;
          sockets.delete(ws);
        },
      });
    },
  };
}
