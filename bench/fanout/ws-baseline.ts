// bench:fanout baseline: a plain `ws` broadcast server (own process) on the same Redis channels as the gateway.
// Accepts any connection (no auth, no Origin check), takes the same subscribe message, answers a minimal
// `subscription` ack, SUBSCRIBEs `md:rt:<q|t>:<SYMBOL>` on first use and sends every frame as its own one-element
// array (`[frame]`, built once per frame, sent to each subscribed socket): no packing, no tiers, no backpressure policy.
// Usage: REDIS_URL=redis://… node --import tsx bench/fanout/ws-baseline.ts   → one JSON line {"ready":true,"url":…}
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';

const redisUrl = process.env.REDIS_URL;
if (!redisUrl) throw new Error('REDIS_URL is required');
const subscriber = new Redis(redisUrl, { enableAutoPipelining: false });
subscriber.on('error', () => {});
const byChannel = new Map<string, Set<WebSocket>>();
const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');

subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
  const sockets = byChannel.get(channel.toString());
  if (!sockets || sockets.size === 0) return;
  const payload = Buffer.concat([OPEN, message, CLOSE]);
  for (const ws of sockets) ws.send(payload, { binary: false });
});

const http = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: 'ok', role: 'ws-baseline', connections: wss.clients.size }));
});
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  const mine: string[] = [];
  ws.on('message', (data: Buffer) => {
    let msg: { action?: string; quotes?: string[]; trades?: string[] };
    try {
      msg = JSON.parse(data.toString('utf8')) as typeof msg;
    } catch {
      return;
    }
    if (msg.action !== 'subscribe') return;
    const channels = [...(msg.quotes ?? []).map((s) => `md:rt:q:${s}`), ...(msg.trades ?? []).map((s) => `md:rt:t:${s}`)];
    const fresh: string[] = [];
    for (const c of channels) {
      let set = byChannel.get(c);
      if (!set) byChannel.set(c, (set = new Set()));
      if (set.size === 0) fresh.push(c);
      set.add(ws);
      mine.push(c);
    }
    const ack = () => ws.send(JSON.stringify({ T: 'subscription', quotes: msg.quotes ?? [], trades: msg.trades ?? [] }));
    if (fresh.length > 0) void subscriber.subscribe(...fresh).then(ack, () => ws.close(1011));
    else ack();
  });
  ws.on('close', () => {
    for (const c of mine) byChannel.get(c)?.delete(ws);
  });
});

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, role: 'ws-baseline', url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  subscriber.disconnect();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
});
