// The small HTTP server every role exposes: /healthz (alive), /readyz (dependencies reachable), /metrics.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A readiness check resolves when the dependency answers; it must reject (or time out) otherwise. */
export type ReadinessCheck = () => Promise<void>;

export interface OpsServerOptions {
  host: string;
  port: number;
  role: string;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  /** Extra fields for /healthz, e.g. `{ state: 'placeholder' }`. */
  describe?: () => Record<string, unknown>;
  checkTimeoutMs?: number;
  /** A role's own endpoints (e.g. the workers' /ops/*), tried first; resolves true when it answered the request. */
  extra?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const timeoutMs = opts.checkTimeoutMs ?? 2000;
  const server = createServer((req, res) => {
    route(req, res).catch(() => sendJson(res, 500, { error: 'internal' }));
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (opts.extra && (await opts.extra(req, res))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed' });
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok', role: opts.role, ...opts.describe?.() });
    if (path === '/readyz') {
      const results = await runChecks(opts.checks, timeoutMs);
      const ready = Object.values(results).every((r) => r === 'ok');
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', role: opts.role, checks: results });
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': opts.registry.contentType });
      res.end(await opts.registry.metrics());
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

async function runChecks(checks: Record<string, ReadinessCheck>, timeoutMs: number): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), timeoutMs);
        return [name, 'ok'] as const;
      } catch (err) {
        // Only the error's class or code: a driver message may contain connection details.
        const code = (err as { code?: unknown }).code;
        return [name, `failed: ${typeof code === 'string' ? code : (err as Error).name}`] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'timeout' })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}
