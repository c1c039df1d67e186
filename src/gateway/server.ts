// The uWebSockets.js gateway (the public listener): health endpoints, auth before upgrade, the market-data WebSocket protocol, tier changes,
// slow consumers, and the dev token issuer. The hub (src/gateway/market-data) does the Redis side.
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { hubStatusSchema, type HubStatus } from '../contracts/index.js';
import type { Clock } from '../domain/index.js';
import type { Logger } from '../infra/logging/index.js';
import { extractToken, sessionCookie, type SessionAuth } from './auth.js';
import type { HubOutlet, HubPort } from './hub-port.js';
import { errorMessage, heartbeatMessage, parseClientMessage, pongMessage, welcomeMessage } from './protocol.js';
import { DEFAULT_LIMITS, SocketSession, type SessionEvents, type SessionLimits, type SocketIo } from './socket-session.js';
import type { TierDirectory, UserRecord } from './tier-directory.js';
import { guard, json, readBody, respond } from './http/response.js';
import type { RouteModule } from './http/routes.js';

export type ReadinessCheck = () => Promise<void>;

export interface GatewayOptions {
  host: string;
  port: number;
  role: string;
  env: 'dev' | 'test' | 'production';
  allowedOrigins: readonly string[];
  heartbeatMs: number;
  maxBackpressureBytes: number;
  maxFrameBytes: number;
  limits?: Partial<SessionLimits>;
  /** Lifetime of a dev token (default 3600 s). */
  devTokenSeconds?: number;
  checkTimeoutMs?: number;
}

export interface GatewayDeps {
  options: GatewayOptions;
  logger: Logger;
  registry: Registry;
  clock: Clock;
  auth: SessionAuth;
  directory: TierDirectory;
  checks: Record<string, ReadinessCheck>;
  /** Builds the hub once the app exists (the hub publishes through it). */
  createHub(outlet: HubOutlet): Promise<HubPort>;
  /** Further HTTP surfaces (SSE, REST, /ops); registered before the catch-all 404. */
  routes?: readonly RouteModule[];
  /** The private per-user channel (src/gateway/private-events.ts): attached to every authenticated socket. */
  privateChannel?: PrivateChannelHook;
}

// ---- private channel hook: what src/gateway/private-events.ts sees of each authenticated socket ----

/** `ws.send`'s verdict: sent, buffered (backpressure) or dropped (over maxBackpressure). */
export type PrivateSendResult = 'ok' | 'backpressure' | 'dropped';

export interface PrivateSocket {
  readonly userId: string;
  /** Sends a text frame (corked); 'dropped' when the socket is closed too. */
  send(text: string): PrivateSendResult;
  /** Bytes waiting in the socket's outbox. */
  buffered(): number;
  close(code: number, reason: string): void;
}

export interface PrivateSocketHandle {
  /** A client text message; true when the channel handled it (the gateway then ignores it). */
  message(text: string): boolean;
  /** The socket closed. */
  close(): void;
}

export interface PrivateChannelHook {
  open(socket: PrivateSocket): PrivateSocketHandle;
}

export interface Gateway {
  url: string;
  port: number;
  /** A user's tier or role changed (TIER_CHANGED_CHANNEL): re-read it and move that user's sockets. */
  tierChanged(userId: string): Promise<void>;
  connections(): number;
  /** True once close() began: readiness fails so the load balancer stops sending new clients. */
  draining(): boolean;
  /** Closes the listen socket, then every WebSocket (1001), then the hub. */
  close(): Promise<void>;
}

interface UpgradeData {
  user: UserRecord;
  session: SocketSession | undefined;
  /** Private channel of this socket (when the hook is configured). */
  priv: PrivateSocketHandle | undefined;
  ended: boolean;
}

type Ws = WebSocket<UpgradeData>;

// Per-socket adapters as classes, not object literals of closures: with 19,000 sockets per process every closure
// (~56 B plus its context) counts, and prototype methods cost nothing per socket.

/** A session's socket operations on the uWS WebSocket: corked, and nothing once the session closed. */
class UwsSessionIo implements SocketIo {
  session!: SocketSession;
  constructor(
    private readonly ws: Ws,
    private readonly congestedBytes: number,
  ) {}
  send(text: string): void {
    if (this.session.closed) return;
    const { ws, session, congestedBytes } = this;
    ws.cork(() => {
      if (ws.getBufferedAmount() >= congestedBytes) session.congested = true;
      ws.send(text, false, false);
    });
  }
  subscribe(topic: string): void {
    if (!this.session.closed) this.ws.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    if (!this.session.closed) this.ws.unsubscribe(topic);
  }
}

/** The private channel's view of the socket: `send` reports backpressure instead of dropping silently. */
class UwsPrivateSocket implements PrivateSocket {
  constructor(
    private readonly ws: Ws,
    readonly userId: string,
  ) {}
  send(text: string): PrivateSendResult {
    const ws = this.ws;
    if (ws.getUserData().ended) return 'dropped';
    let r = 2;
    ws.cork(() => {
      r = ws.send(text, false, false);
    });
    return r === 1 ? 'ok' : r === 0 ? 'backpressure' : 'dropped';
  }
  buffered(): number {
    return this.ws.getUserData().ended ? 0 : this.ws.getBufferedAmount();
  }
  close(code: number, reason: string): void {
    if (!this.ws.getUserData().ended) this.ws.end(code, reason);
  }
}

const STATUS_TOPIC = 'status';

const devTokenRequest = z.object({ user: z.string().min(1).max(200) }).strict();

export async function startGateway(deps: GatewayDeps): Promise<Gateway> {
  const { options, logger, clock, auth, directory } = deps;
  const limits: SessionLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const allowedOrigins = new Set(options.allowedOrigins);
  const devTokenSeconds = options.devTokenSeconds ?? 3600;
  const metrics = gatewayMetrics(deps.registry);

  const app: TemplatedApp = uWS.App();
  const sockets = new Set<Ws>();
  const byUser = new Map<string, Set<SocketSession>>();
  let nextId = 1;
  let closing = false;
  let status: HubStatus | null = null;

  const sessionEvents: SessionEvents = {
    error: (where, err, userId) => logger.warn({ err, where, user: userId }, 'socket request failed'),
    tierSwap: (from, to) => metrics.tierSwaps.inc({ from, to }),
  };

  const hub = await deps.createHub({
    publish: (topic, payload) => {
      app.publish(topic, payload, false);
    },
    onStatus: (json) => {
      const parsed = parseStatus(json);
      if (!parsed) return;
      status = parsed;
      app.publish(STATUS_TOPIC, JSON.stringify({ T: 'status', ...parsed }), false);
    },
  });
  status = parseStatus(await hub.status().catch(() => null));

  // ---- HTTP ----

  app.get('/healthz', (res) => {
    json(res, 200, { status: 'ok', role: options.role, connections: sockets.size });
  });

  app.get('/readyz', (res) => {
    const state = guard(res);
    void runChecks(deps.checks, options.checkTimeoutMs ?? 2000).then((checks) => {
      const ready = !closing && Object.values(checks).every((c) => c === 'ok');
      respond(res, state, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', role: options.role, checks });
    });
  });

  // No /metrics here: this is the public listener. Metrics are served by the role's internal ops listener
  // (GATEWAY_OPS_PORT, src/infra/http/ops-server.ts), which the load balancer never exposes.

  app.post('/dev/token', (res, req) => {
    if (options.env === 'production') return json(res, 404, { error: 'not_found' });
    const contentType = req.getHeader('content-type');
    const state = guard(res);
    void (async () => {
      const body = await readBody(res, state, 4096);
      if (state.aborted) return;
      if (body === null) return respond(res, state, 413, { error: 'payload_too_large' });
      if (!contentType.toLowerCase().startsWith('application/json')) return respond(res, state, 415, { error: 'json_required' });
      let parsed: z.infer<typeof devTokenRequest>;
      try {
        parsed = devTokenRequest.parse(JSON.parse(body.toString('utf8')));
      } catch {
        return respond(res, state, 400, { error: 'invalid_request', message: 'expected {"user":"<user id>"}' });
      }
      if (!auth.canSign) return respond(res, state, 503, { error: 'no_signing_key', message: 'set SESSION_JWT_SECRET' });
      const user = await directory.refresh(parsed.user);
      if (!user) return respond(res, state, 404, { error: 'unknown_user' });
      const token = await auth.sign({ sub: user.id, role: user.role }, devTokenSeconds);
      respond(res, state, 200, { token, user: user.id, tier: user.tier, role: user.role, expiresIn: devTokenSeconds }, {
        'set-cookie': sessionCookie(token, devTokenSeconds, false),
      });
    })().catch((err: unknown) => {
      logger.warn({ err }, 'dev token failed');
      respond(res, state, 500, { error: 'internal' });
    });
  });

  // ---- WebSocket ----

  app.ws<UpgradeData>('/ws', {
    // uWS drops a frame above maxPayloadLength by closing the TCP connection without a close frame (clients see 1006).
    // So it gets twice the limit as a hard memory bound, and frames between the limit and that bound are refused here
    // with a proper close frame, 1009 ("message too big").
    maxPayloadLength: options.maxFrameBytes * 2,
    maxBackpressure: options.maxBackpressureBytes,
    // Typed as a number by the bindings; the native side reads a boolean: slow consumers are skipped, not closed.
    closeOnBackpressureLimit: false as unknown as number,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    compression: uWS.DISABLED,

    upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      // Everything from `req` is read now: it is gone after the first await.
      const origin = req.getHeader('origin');
      const token = extractToken({
        authorization: req.getHeader('authorization'),
        cookie: req.getHeader('cookie'),
        accessToken: req.getQuery('access_token') ?? '',
      });
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const state = guard(res);

      if (closing) return json(res, 503, refusal('shutting_down', 'the gateway is shutting down; reconnect'));
      if (!allowedOrigins.has(origin)) {
        metrics.rejected.inc({ reason: 'origin' });
        return json(res, 403, refusal('origin_not_allowed', 'this Origin may not open a socket'));
      }
      if (token === '') {
        metrics.rejected.inc({ reason: 'no_token' });
        return json(res, 401, refusal('unauthorized', 'a session token is required (cookie, Bearer or access_token)'));
      }
      void (async () => {
        const claims = await auth.verify(token);
        if (!claims) {
          metrics.rejected.inc({ reason: 'bad_token' });
          return respond(res, state, 401, refusal('unauthorized', 'invalid or expired session token'));
        }
        const user = await directory.lookup(claims.sub);
        if (!user) {
          metrics.rejected.inc({ reason: 'unknown_user' });
          return respond(res, state, 403, refusal('unknown_user', 'the session user does not exist'));
        }
        if (state.aborted) return;
        if (closing) return respond(res, state, 503, refusal('shutting_down', 'the gateway is shutting down; reconnect'));
        res.cork(() => {
          // Every field set now: properties added after creation would give each socket's object a property array.
          res.upgrade<UpgradeData>({ user, session: undefined, priv: undefined, ended: false }, key, protocol, extensions, context);
        });
      })().catch((err: unknown) => {
        logger.warn({ err }, 'upgrade failed');
        respond(res, state, 503, refusal('unavailable', 'try again shortly'));
      });
    },

    open: (ws: Ws) => {
      const data = ws.getUserData();
      const io = new UwsSessionIo(ws, options.maxBackpressureBytes / 2);
      const session = new SocketSession(nextId++, data.user.id, data.user.tier, data.user.role, io, hub, limits, sessionEvents);
      io.session = session;
      data.session = session;
      sockets.add(ws);
      let set = byUser.get(session.userId);
      if (!set) byUser.set(session.userId, (set = new Set()));
      set.add(session);
      metrics.connections.set(sockets.size);
      ws.subscribe(STATUS_TOPIC);
      ws.send(welcomeMessage(session.userId, session.tier, status), false, false);
      if (deps.privateChannel) data.priv = deps.privateChannel.open(new UwsPrivateSocket(ws, session.userId));
    },

    message: (ws: Ws, message: ArrayBuffer, isBinary: boolean) => {
      const session = ws.getUserData().session!;
      if (message.byteLength > options.maxFrameBytes) {
        metrics.errors.inc({ code: 'too_big' });
        ws.end(1009, 'message too big');
        return;
      }
      if (isBinary) return reject(ws, session, 'binary_not_supported', 'send JSON text frames');
      const text = Buffer.from(message).toString('utf8');
      if (ws.getUserData().priv?.message(text)) return;
      const parsed = parseClientMessage(text);
      if (!parsed.ok) return reject(ws, session, parsed.code, parsed.message, parsed.extra);
      if (parsed.action === 'ping') {
        ws.send(pongMessage(clock.now()), false, false);
        return;
      }
      if (!session.bucket.take()) {
        return reject(ws, session, 'rate_limited', `at most ${limits.actionsPerSecond} subscription changes per second`);
      }
      session.strikes = 0;
      const task = parsed.action === 'subscribe' ? () => session.subscribe(parsed.msg) : () => session.unsubscribe(parsed.msg);
      if (!session.enqueue(task)) {
        metrics.floodCloses.inc();
        ws.end(1008, 'too many pending requests');
      }
    },

    drain: (ws: Ws) => {
      const session = ws.getUserData().session;
      if (!session || session.closed) return;
      metrics.drains.inc();
      const buffered = ws.getBufferedAmount();
      if (buffered >= options.maxBackpressureBytes / 2) {
        session.congested = true;
        return;
      }
      // Publishes skipped while the outbox was full are lost for this socket: a fresh snapshot replaces them.
      const now = clock.now();
      if (session.congested && buffered <= options.maxBackpressureBytes / 4 && now - session.lastDrainSnapshotAt >= 1000) {
        session.congested = false;
        session.lastDrainSnapshotAt = now;
        metrics.drainSnapshots.inc();
        session.enqueue(() => session.snapshotAll(), true);
      }
    },

    close: (ws: Ws) => {
      const data = ws.getUserData();
      data.ended = true;
      data.priv?.close();
      const session = data.session;
      sockets.delete(ws);
      metrics.connections.set(sockets.size);
      if (!session) return;
      session.dispose();
      const set = byUser.get(session.userId);
      set?.delete(session);
      if (set?.size === 0) byUser.delete(session.userId);
    },
  });

  for (const route of deps.routes ?? []) route.register(app);

  app.any('/*', (res) => {
    json(res, 404, { error: 'not_found' });
  });

  function reject(ws: Ws, session: SocketSession, code: Parameters<typeof errorMessage>[0], message: string, extra?: Record<string, unknown>): void {
    metrics.errors.inc({ code });
    ws.send(errorMessage(code, message, extra), false, false);
    session.strikes += 1;
    if (session.strikes > limits.maxStrikes) {
      metrics.floodCloses.inc();
      ws.end(1008, 'too many rejected messages');
    }
  }

  // Heartbeat on every socket; also where a socket with a large outbox is noticed.
  const heartbeat = setInterval(() => {
    const text = heartbeatMessage(clock.now());
    for (const ws of sockets) {
      const session = ws.getUserData().session;
      if (!session || session.closed) continue;
      ws.cork(() => {
        if (ws.getBufferedAmount() >= options.maxBackpressureBytes / 2) session.congested = true;
        ws.send(text, false, false);
      });
    }
  }, options.heartbeatMs);
  heartbeat.unref();

  // ---- listen ----

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(options.host, options.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`gateway cannot listen on ${options.host}:${options.port}`));
    });
  });
  const port = uWS.us_socket_local_port(listenSocket as unknown as Parameters<typeof uWS.us_socket_local_port>[0]);
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;

  async function tierChanged(userId: string): Promise<void> {
    directory.invalidate(userId);
    const sessions = byUser.get(userId);
    if (!sessions || sessions.size === 0) return;
    const user = await directory.refresh(userId);
    for (const session of byUser.get(userId) ?? []) {
      if (!user) {
        // The user is gone: its sockets go too.
        for (const ws of sockets) if (ws.getUserData().session === session) ws.end(1008, 'user unknown');
        continue;
      }
      session.enqueue(() => session.retier(user.tier, user.role), true);
    }
  }

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    tierChanged,
    connections: () => sockets.size,
    draining: () => closing,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        clearInterval(heartbeat);
        uWS.us_listen_socket_close(listenSocket);
        for (const ws of [...sockets]) ws.end(1001, 'server shutting down');
        await hub.close();
        (app as unknown as { close?: () => void }).close?.();
      })()),
  };
}

// ---- helpers ----

/** The body of a refused upgrade: typed like every other error of the gateway. */
function refusal(code: 'shutting_down' | 'origin_not_allowed' | 'unauthorized' | 'unknown_user' | 'unavailable', message: string) {
  return { code, message };
}

async function runChecks(checks: Record<string, ReadinessCheck>, timeoutMs: number): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise<never>((_, rej) => {
            timer = setTimeout(() => rej(Object.assign(new Error('timeout'), { code: 'timeout' })), timeoutMs);
          }),
        ]);
        return [name, 'ok'] as const;
      } catch (err) {
        // Only the error's class or code: a driver message may contain connection details.
        const code = (err as { code?: unknown }).code;
        return [name, `failed: ${typeof code === 'string' ? code : (err as Error).name}`] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(entries);
}

function parseStatus(json: string | null): HubStatus | null {
  if (!json) return null;
  try {
    const parsed = hubStatusSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function gatewayMetrics(registry: Registry) {
  const registers = [registry];
  return {
    connections: new Gauge({ name: 'raxx_gateway_connections', help: 'Open WebSockets', registers }),
    rejected: new Counter({ name: 'raxx_gateway_upgrades_rejected_total', help: 'WebSocket upgrades refused, by reason', labelNames: ['reason'], registers }),
    errors: new Counter({ name: 'raxx_gateway_client_errors_total', help: 'Error frames sent for bad client messages, by code', labelNames: ['code'], registers }),
    floodCloses: new Counter({ name: 'raxx_gateway_flood_closes_total', help: 'Sockets closed 1008 for flooding', registers }),
    drains: new Counter({ name: 'raxx_gateway_drains_total', help: 'Backpressure drain events', registers }),
    drainSnapshots: new Counter({ name: 'raxx_gateway_drain_snapshots_total', help: 'Fresh snapshots sent to slow consumers after a drain', registers }),
    tierSwaps: new Counter({ name: 'raxx_gateway_tier_swaps_total', help: 'Sockets moved to another tier', labelNames: ['from', 'to'], registers }),
  };
}
