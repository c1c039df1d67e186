// The page `npm start` prints: each role's health, and links to the docs and the API (until the browser app exists).
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, readdir } from 'node:fs/promises';
import { join, basename } from 'node:path';
import type { RoleStatus } from './supervisor.js';

export interface StackStatus {
  roles: RoleStatus[];
  services: Array<{ name: string; url: string; pid?: number | undefined; managed: boolean }>;
}

export interface StatusPageOptions {
  host: string;
  port: number;
  checkout: string;
  status: () => StackStatus;
}

interface RoleProbe extends RoleStatus {
  healthz: number | 'unreachable' | 'n/a';
  readyz: number | 'unreachable' | 'n/a';
  checks?: Record<string, string>;
}

export async function startStatusPage(opts: StatusPageOptions): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    handle(path, res).catch(() => send(res, 500, 'text/plain; charset=utf-8', 'internal error'));
  });

  async function handle(path: string, res: ServerResponse): Promise<void> {
    if (path === '/status.json') {
      const status = opts.status();
      return send(res, 200, 'application/json', JSON.stringify({ ...status, roles: await probeAll(status.roles) }, null, 2));
    }
    if (path === '/') {
      const status = opts.status();
      return send(res, 200, 'text/html; charset=utf-8', renderPage(await probeAll(status.roles), status, await listDocs(opts.checkout)));
    }
    if (path.startsWith('/docs/')) {
      const name = basename(path);
      const docs = await listDocs(opts.checkout);
      const doc = docs.find((d) => d.name === name);
      if (!doc) return send(res, 404, 'text/plain; charset=utf-8', 'no such document');
      return send(res, 200, 'text/plain; charset=utf-8', await readFile(doc.path, 'utf8'));
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function probeAll(roles: RoleStatus[]): Promise<RoleProbe[]> {
  return Promise.all(
    roles.map(async (role) => {
      if (!role.url) return { ...role, healthz: 'n/a' as const, readyz: 'n/a' as const };
      const [health, ready] = await Promise.all([probe(`${role.url}/healthz`), probe(`${role.url}/readyz`)]);
      return { ...role, healthz: health.status, readyz: ready.status, ...(ready.checks ? { checks: ready.checks } : {}) };
    }),
  );
}

async function probe(url: string): Promise<{ status: number | 'unreachable'; checks?: Record<string, string> }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json().catch(() => ({}))) as { checks?: Record<string, string> };
    return { status: res.status, ...(body.checks ? { checks: body.checks } : {}) };
  } catch {
    return { status: 'unreachable' };
  }
}

async function listDocs(checkout: string): Promise<Array<{ name: string; path: string }>> {
  const docsDir = join(checkout, 'docs');
  const names = await readdir(docsDir).catch(() => [] as string[]);
  return [
    { name: 'README.md', path: join(checkout, 'README.md') },
    ...names.filter((n) => n.endsWith('.md')).sort().map((n) => ({ name: n, path: join(docsDir, n) })),
  ];
}

function renderPage(roles: RoleProbe[], status: StackStatus, docs: Array<{ name: string }>): string {
  const badge = (ok: boolean, text: string) => `<span class="${ok ? 'ok' : 'bad'}">${escapeHtml(text)}</span>`;
  const rows = roles
    .map((r) => {
      const checks = r.checks ? Object.entries(r.checks).map(([k, v]) => `${k}: ${v}`).join(', ') : '';
      return `<tr><td><b>${escapeHtml(r.name)}</b></td><td>${badge(r.state === 'ready', r.state)}</td>
<td>${badge(r.healthz === 200, String(r.healthz))}</td><td>${badge(r.readyz === 200, String(r.readyz))} ${escapeHtml(checks)}</td>
<td>${r.url ? `<a href="${escapeHtml(r.url)}/healthz">${escapeHtml(r.url)}</a>` : ''}</td><td>${r.pid ?? ''}</td><td>${r.restarts}</td>
<td class="note">${escapeHtml(r.note ?? '')}</td></tr>`;
    })
    .join('\n');
  const services = status.services
    .map((s) => `<li>${escapeHtml(s.name)}: <code>${escapeHtml(s.url)}</code>${s.managed ? ` (started by npm start, pid ${s.pid ?? '?'})` : ' (external)'}</li>`)
    .join('\n');
  const gateway = roles.find((r) => r.name === 'gateway')?.url;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Raxx Stream — dev status</title>
<meta http-equiv="refresh" content="5"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#1b1f24}table{border-collapse:collapse}td,th{padding:.35rem .7rem;border-bottom:1px solid #ddd;text-align:left}
.ok{color:#0a7d32;font-weight:600}.bad{color:#b42318;font-weight:600}.note{color:#555;max-width:28rem}code{background:#f3f3f3;padding:0 .25rem}</style></head>
<body><h1>Raxx Stream <small>dev stack</small></h1>
<p>Every role runs as its own process. This page refreshes every 5 s; <a href="/status.json">status.json</a> has the same data.</p>
<table><thead><tr><th>role</th><th>state</th><th>/healthz</th><th>/readyz</th><th>URL</th><th>pid</th><th>restarts</th><th>note</th></tr></thead><tbody>
${rows}
</tbody></table>
<h2>Services</h2><ul>${services}</ul>
<h2>API</h2><p>${gateway ? `Gateway: <a href="${escapeHtml(gateway)}">${escapeHtml(gateway)}</a> (the HTTP and WebSocket API arrive with the gateway issue).` : 'The gateway is not up.'}</p>
<h2>Docs</h2><ul>${docs.map((d) => `<li><a href="/docs/${escapeHtml(d.name)}">${escapeHtml(d.name)}</a></li>`).join('')}</ul>
</body></html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
