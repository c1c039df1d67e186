// The in-process gateway for integration tests: session tokens, a uWS gateway (or the whole role) on 127.0.0.1 and a
// free port, and small ws / SSE clients that keep every message. Real parts only: uWS, PostgreSQL, Redis, `ws`.
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/index.js';
import type { Clock } from '../../src/domain/index.js';
import {
  createSessionAuth,
  startGateway,
  type Gateway,
  type GatewayDeps,
  type GatewayOptions,
  type HubPort,
  type SessionAuth,
  type TierDirectory,
} from '../../src/gateway/index.js';
import { createLogger } from '../../src/infra/logging/index.js';
import { createMetricsRegistry } from '../../src/infra/metrics/index.js';
import type { RoleContext } from '../../src/main/role-context.js';
import { startGatewayRole, type GatewayRoleOverrides } from '../../src/main/roles/gateway.js';
import { waitFor } from './wait.js';

export const TEST_ISSUER = 'raxx-dev-issuer';
export const TEST_AUDIENCE = 'raxx-stream';

// ---- session tokens ----

export interface SignOptions {
  role?: 'user' | 'operator';
  issuer?: string;
  audience?: string;
  /** jose expiration: a duration ('1h') or seconds since the epoch. */
  exp?: number | string;
}

/** An HS256 session token as the dev issuer signs it (or, with other options, one the gateway must refuse). */
export function signSession(sub: string, secret: string, opts: SignOptions = {}): Promise<string> {
  return new SignJWT({ role: opts.role ?? 'user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer(opts.issuer ?? TEST_ISSUER)
    .setAudience(opts.audience ?? TEST_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '1h')
    .sign(new TextEncoder().encode(secret));
}

export function hmacAuth(secret: string): SessionAuth {
  return createSessionAuth({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, secret: { current: () => secret } });
}

/** For tests of surfaces that never touch market data (/ops, commands, private events): holds no topics. */
export const idleHub: HubPort = {
  topic: (line, kind, symbol) => `md:${line}:${kind}:${symbol}`,
  acquire: () => undefined,
  release: () => undefined,
  snapshot: async () => [],
  replay: async () => ({ frames: [], complete: true, lastSeq: 0 }),
  status: async () => null,
  close: () => undefined,
};

// ---- the gateway in-process ----

export interface TestGatewaySetup {
  auth: SessionAuth;
  directory: TierDirectory;
  routes?: GatewayDeps['routes'];
  privateChannel?: GatewayDeps['privateChannel'];
  /** Default: the idle hub. */
  createHub?: GatewayDeps['createHub'];
  clock?: Clock;
  options?: Partial<GatewayOptions>;
  /** Default: a fresh registry (pass one to share it with route modules). */
  registry?: Registry;
}

export interface TestGateway {
  gateway: Gateway;
  url: string;
  wsUrl: string;
  registry: Registry;
}

/** `startGateway` on 127.0.0.1, a free port, env `test`, silent logs; `close()` it in afterAll. */
export async function startTestGateway(setup: TestGatewaySetup): Promise<TestGateway> {
  const { logger } = createLogger({ role: 'gateway', level: 'silent' });
  const registry = setup.registry ?? createMetricsRegistry('gateway');
  const gateway = await startGateway({
    options: {
      host: '127.0.0.1',
      port: 0,
      role: 'gateway',
      env: 'test',
      allowedOrigins: ['http://127.0.0.1'],
      heartbeatMs: 10_000,
      maxBackpressureBytes: 1 << 20,
      maxFrameBytes: 1 << 16,
      ...setup.options,
    },
    logger,
    registry,
    clock: setup.clock ?? { now: () => Date.now() },
    auth: setup.auth,
    directory: setup.directory,
    checks: {},
    createHub: setup.createHub ?? (async () => idleHub),
    ...(setup.routes ? { routes: setup.routes } : {}),
    ...(setup.privateChannel ? { privateChannel: setup.privateChannel } : {}),
  });
  return { gateway, url: gateway.url, wsUrl: wsUrlOf(gateway.url), registry };
}

export interface TestGatewayRole {
  url: string;
  wsUrl: string;
  /** The internal ops listener (/metrics, /healthz, /readyz). */
  opsUrl: string;
  /** Runs the role's shutdown steps in reverse, once. */
  stop(): Promise<void>;
}

/** The whole `gateway` role (as `npm run role -- gateway` wires it) from an environment; HOST/PORT default to loopback:0. */
export async function startTestGatewayRole(env: Record<string, string>, overrides: GatewayRoleOverrides = {}): Promise<TestGatewayRole> {
  const config = loadConfig({ RAXX_ENV: 'test', HOST: '127.0.0.1', PORT: '0', GATEWAY_OPS_PORT: '0', LOG_LEVEL: 'silent', ...env });
  const { logger, redactor } = createLogger({ role: 'gateway', level: 'silent' });
  const steps: Array<() => Promise<void> | void> = [];
  const ctx: RoleContext = { role: 'gateway', config, logger, redactor, metrics: createMetricsRegistry('gateway'), onShutdown: (s) => steps.push(s) };
  const running = await startGatewayRole(ctx, overrides);
  let stopped: Promise<void> | undefined;
  return {
    url: running.url,
    wsUrl: wsUrlOf(running.url),
    opsUrl: running.opsUrl,
    stop: () =>
      (stopped ??= (async () => {
        for (const step of steps.splice(0).reverse()) await step();
      })()),
  };
}

function wsUrlOf(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/ws`;
}

/** A counter or gauge value from Prometheus text (0 when absent). */
export function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

// ---- a ws client that keeps every message ----

export type Msg = Record<string, unknown> | Array<Record<string, unknown>>;

export class WsClient {
  readonly messages: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private cursor = 0;
  /** `flatten`: array frames become one message per element (the private channel's view). */
  constructor(
    readonly ws: WebSocket,
    flatten = false,
  ) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(data.toString()) as Msg;
      if (flatten && Array.isArray(m)) this.messages.push(...m);
      else this.messages.push(m);
    });
    this.closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
  }
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
  /** Next message (after the previous `next`) matching `pred`. */
  async next(pred: (m: Msg) => boolean, what = 'message', timeoutMs = 3000): Promise<Msg> {
    let found: Msg | undefined;
    await waitFor(
      () => {
        for (let i = this.cursor; i < this.messages.length; i++) {
          if (pred(this.messages[i]!)) {
            found = this.messages[i]!;
            this.cursor = i + 1;
            return true;
          }
        }
        return false;
      },
      timeoutMs,
      what,
    );
    return found!;
  }
  /** Next object message matching `pred` (arrays skipped). */
  nextObject(pred: (m: Record<string, unknown>) => boolean, what = 'message', timeoutMs = 3000): Promise<Record<string, unknown>> {
    return this.next((m) => !Array.isArray(m) && pred(m), what, timeoutMs) as Promise<Record<string, unknown>>;
  }
  typed(T: string, extra: (m: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    return this.next((m) => !Array.isArray(m) && m.T === T && extra(m), `"T":"${T}"`) as Promise<Record<string, unknown>>;
  }
  frames(pred: (f: Record<string, unknown>) => boolean = () => true, what = 'frames'): Promise<Array<Record<string, unknown>>> {
    return this.next((m) => Array.isArray(m) && m.some(pred), what) as Promise<Array<Record<string, unknown>>>;
  }
  allFrames(): Array<Record<string, unknown>> {
    return this.messages.filter(Array.isArray).flat();
  }
  close(): void {
    this.ws.close();
  }
}

/** Opens a socket and waits for its welcome. */
export async function connectWs(wsUrl: string, headers: Record<string, string>, opts: { flatten?: boolean } = {}): Promise<WsClient> {
  const ws = new WebSocket(wsUrl, { headers });
  const client = new WsClient(ws, opts.flatten);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  await client.typed('welcome');
  return client;
}

/** The HTTP status of an upgrade attempt (101 when it succeeded) and, when refused, the JSON body. */
export function tryUpgrade(wsUrl: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> | null }> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(wsUrl, { headers });
    ws.on('unexpected-response', (_req, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => {
        let body: Record<string, unknown> | null = null;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON: reported as null
        }
        res({ status: response.statusCode ?? 0, body });
        ws.terminate();
      });
    });
    ws.on('open', () => {
      res({ status: 101, body: null });
      ws.close();
    });
    ws.on('error', (err) => rej(err));
  });
}

// ---- a small SSE client over fetch ----

export interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  private cursor = 0;
  readonly ended: Promise<void>;
  constructor(
    readonly response: Response,
    private readonly abort: AbortController,
  ) {
    this.ended = this.pump();
  }
  private async pump(): Promise<void> {
    const reader = this.response.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = parseSseBlock(block);
          this.comments += ev.comments;
          if (ev.event) this.events.push(ev.event);
        }
      }
    } catch {
      // aborted
    }
  }
  async next(event: string, pred: (data: unknown, ev: SseEvent) => boolean = () => true, timeoutMs = 3000): Promise<SseEvent & { json: unknown }> {
    let found: SseEvent | undefined;
    await waitFor(
      () => {
        for (let i = this.cursor; i < this.events.length; i++) {
          const ev = this.events[i]!;
          if (ev.event === event && pred(JSON.parse(ev.data), ev)) {
            found = ev;
            this.cursor = i + 1;
            return true;
          }
        }
        return false;
      },
      timeoutMs,
      `event ${event}`,
    );
    return { ...found!, json: JSON.parse(found!.data) };
  }
  frames(): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.event === 'md' || e.event === 'snapshot').flatMap((e) => JSON.parse(e.data) as Array<Record<string, unknown>>);
  }
  close(): void {
    this.abort.abort();
  }
}

/** One SSE block (the text between blank lines): its event, if it has one, and how many comment lines it held. */
export function parseSseBlock(block: string): { event: SseEvent | null; comments: number } {
  const ev: SseEvent = { event: 'message', data: '' };
  let isEvent = false;
  let comments = 0;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) comments++;
    else if (line.startsWith('event: ')) {
      ev.event = line.slice(7);
      isEvent = true;
    } else if (line.startsWith('id: ')) ev.id = line.slice(4);
    else if (line.startsWith('data: ')) {
      ev.data += line.slice(6);
      isEvent = true;
    }
  }
  return { event: isEvent ? ev : null, comments };
}

/** Opens an SSE stream; fails the test unless it is a 200 event stream. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  if (res.status !== 200 || !res.headers.get('content-type')?.includes('text/event-stream')) {
    abort.abort();
    throw new Error(`expected an event stream, got ${res.status} ${res.headers.get('content-type')}`);
  }
  return new SseClient(res, abort);
}
