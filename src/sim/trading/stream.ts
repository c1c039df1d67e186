// The trade_updates WebSocket at /stream: Alpaca's JSON protocol, sent as binary frames like paper does.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export interface StreamCredentials {
  keyId?: string;
  secret?: string;
  oauthToken?: string;
}

export interface StreamPrincipal {
  accountId: string;
  /** The OAuth token the socket authenticated with, so revoking it can close the socket. */
  token?: string;
}

export interface TradeStreamOptions {
  authenticate(creds: StreamCredentials): StreamPrincipal | undefined;
  /** Close a socket that has not authenticated within this long. Default 10000 ms. */
  authTimeoutMs?: number;
  /** Largest accepted client frame. Default 64 KiB. */
  maxPayload?: number;
}

interface Client {
  ws: WebSocket;
  principal?: StreamPrincipal;
  listening: boolean;
}

export interface TradeStream {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  publish(accountId: string, frame: unknown): void;
  /** Tells the sockets of a revoked OAuth token they are no longer authorized and closes them. */
  revoke(token: string): void;
  clientCount(): number;
  close(): Promise<void>;
}

function sendFrame(ws: WebSocket, frame: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(Buffer.from(JSON.stringify(frame)), { binary: true });
}

const authFrame = (status: 'authorized' | 'unauthorized', action = 'authenticate') => ({ stream: 'authorization', data: { status, action } });

export function createTradeStream(options: TradeStreamOptions): TradeStream {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload ?? 64 * 1024 });
  const clients = new Set<Client>();
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;

  wss.on('connection', (ws: WebSocket) => {
    const client: Client = { ws, listening: false };
    clients.add(client);
    const timer = setTimeout(() => {
      if (!client.principal) ws.close(1008, 'authentication timeout');
    }, authTimeoutMs);
    timer.unref();
    ws.on('close', () => {
      clearTimeout(timer);
      clients.delete(client);
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[]) => {
      let msg: { action?: unknown; data?: Record<string, unknown> };
      try {
        const text = Array.isArray(raw) ? Buffer.concat(raw).toString('utf8') : Buffer.from(raw as ArrayBuffer).toString('utf8');
        msg = JSON.parse(text) as typeof msg;
        if (typeof msg !== 'object' || msg === null) throw new Error('not an object');
      } catch {
        sendFrame(ws, { action: 'error', data: { error_message: 'invalid syntax' } });
        return;
      }
      const data = typeof msg.data === 'object' && msg.data !== null ? msg.data : {};
      if (msg.action === 'authenticate' || msg.action === 'auth') {
        const creds: StreamCredentials = {
          keyId: typeof data.key_id === 'string' ? data.key_id : undefined,
          secret: typeof data.secret_key === 'string' ? data.secret_key : undefined,
          oauthToken: typeof data.oauth_token === 'string' ? data.oauth_token : undefined,
        };
        const principal = options.authenticate(creds);
        if (!principal) {
          sendFrame(ws, authFrame('unauthorized'));
          ws.close(1008, 'unauthorized');
          return;
        }
        client.principal = principal;
        clearTimeout(timer);
        sendFrame(ws, authFrame('authorized'));
        return;
      }
      if (msg.action === 'listen') {
        if (!client.principal) {
          sendFrame(ws, authFrame('unauthorized', 'listen'));
          return;
        }
        const streams = Array.isArray(data.streams) ? data.streams.filter((s): s is string => typeof s === 'string') : [];
        client.listening = streams.includes('trade_updates');
        sendFrame(ws, { stream: 'listening', data: { streams: client.listening ? ['trade_updates'] : [] } });
        return;
      }
      sendFrame(ws, { action: 'error', data: { error_message: `unknown action: ${String(msg.action)}` } });
    });
  });

  return {
    handleUpgrade(req, socket, head) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    publish(accountId, frame) {
      for (const c of clients) if (c.listening && c.principal?.accountId === accountId) sendFrame(c.ws, frame);
    },
    revoke(token) {
      for (const c of clients) {
        if (c.principal?.token === token) {
          c.principal = undefined;
          c.listening = false;
          sendFrame(c.ws, authFrame('unauthorized'));
          c.ws.close(1008, 'token revoked');
        }
      }
    },
    clientCount: () => clients.size,
    close() {
      for (const c of clients) c.ws.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
