// bench:fanout load client (forked by run.ts with `--import tsx`): holds `count` `ws` connections to the gateway or
// the baseline, subscribes each to quotes + trades of its symbols and records, per real-time frame:
//   latency = receive wall time − the frame's `t` (the simulator's exchange timestamp, RFC 3339 ns),
// counts frames and arrays, and checks seq contiguity per (kind, symbol) per connection. Frames carry nothing added.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { isSlow, symbolsFor } from './scenarios.js';
import type { ChildMessage, ClientConfig, ParentMessage } from './ipc.js';

const send = (m: ChildMessage) => process.send?.(m);
const newHistogram = () =>
  hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });

let histogram = newHistogram();
let frames = 0;
let wsMessages = 0;
let slowFrames = 0;
let gaps = 0;
let stale = 0;
let closed = 0;
let windowStart = performance.now();
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const sockets: WebSocket[] = [];

/** µs since the epoch, from the monotonic clock anchored once to the wall clock (same clock as the simulator's `t`). */
const anchorUs = Date.now() * 1000 - performance.now() * 1000;
const nowUs = () => anchorUs + performance.now() * 1000;

let cachedSecond = '';
let cachedSecondUs = 0;
/** RFC 3339 with up to 9 fractional digits → µs since the epoch. */
function parseTimeUs(t: string): number {
  const head = t.slice(0, 19);
  if (head !== cachedSecond) {
    cachedSecond = head;
    cachedSecondUs = Date.parse(`${head}Z`) * 1000;
  }
  let us = cachedSecondUs;
  if (t.charCodeAt(19) === 46 /* . */) {
    let digits = 0;
    let frac = 0;
    for (let i = 20; i < t.length && digits < 6; i++) {
      const c = t.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      frac = frac * 10 + c;
      digits++;
    }
    while (digits < 6) {
      frac *= 10;
      digits++;
    }
    us += frac;
  }
  return us;
}

interface Frame {
  T?: string;
  S?: string;
  t?: string;
  src?: string;
  seq?: number;
}

function attach(ws: WebSocket, slow: boolean, symbols: string[], onSubscribed: () => void): void {
  const lastSeq = new Map<string, number>();
  let subscribed = false;
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    if (text.charCodeAt(0) !== 91 /* [ */) {
      if (!subscribed && text.includes('"T":"subscription"')) {
        subscribed = true;
        onSubscribed();
        if (slow) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      }
      return;
    }
    const recvUs = nowUs();
    const arr = JSON.parse(text) as Frame[];
    let live = 0;
    for (const f of arr) {
      if (f.seq === undefined || f.T === undefined || f.S === undefined) continue;
      const key = `${f.T}:${f.S}`;
      const last = lastSeq.get(key);
      if (last !== undefined && f.seq <= last) {
        stale++;
        continue;
      }
      lastSeq.set(key, f.seq);
      if (f.src !== 'rt') continue; // lkg snapshots seed the seq only
      live++;
      if (slow) continue; // a paused socket is expected to miss frames (the gateway skips data above its cap)
      if (last !== undefined && f.seq > last + 1) gaps += f.seq - last - 1;
      if (f.t) {
        const lat = recvUs - parseTimeUs(f.t);
        histogram.recordValue(lat < 1 ? 1 : Math.round(lat));
      }
    }
    if (slow) slowFrames += live;
    else if (live > 0) {
      frames += live;
      wsMessages++;
    }
  });
  ws.on('open', () => ws.send(JSON.stringify({ action: 'subscribe', quotes: symbols, trades: symbols })));
}

async function connectAll(cfg: ClientConfig): Promise<void> {
  const started = performance.now();
  let open = 0;
  let failed = 0;
  const errors: string[] = [];
  const failedIndices: number[] = [];
  const deadline = started + cfg.connectDeadlineMs;
  const pending = new Set<() => void>();
  let next = 0;
  const one = (index: number) =>
    new Promise<void>((resolve) => {
      const symbols = symbolsFor(index, cfg.universe, cfg.symbolsPerConnection);
      const slow = isSlow(index, cfg.slowFraction);
      const ws = new WebSocket(cfg.url, {
        headers: { Origin: cfg.origin, Authorization: `Bearer ${cfg.token}` },
        perMessageDeflate: false,
        handshakeTimeout: 30_000,
      });
      let settled = false;
      const done = (ok: boolean, why?: string) => {
        if (settled) return;
        settled = true;
        pending.delete(giveUp);
        if (ok) open++;
        else {
          failed++;
          failedIndices.push(index);
          if (errors.length < 5 && why && !errors.includes(why)) errors.push(why);
          ws.terminate();
        }
        resolve();
      };
      const giveUp = () => done(false, 'connect deadline passed');
      pending.add(giveUp);
      const timer = setTimeout(() => done(false, 'no subscription ack in 30 s'), 30_000);
      attach(ws, slow, symbols, () => {
        clearTimeout(timer);
        done(true);
      });
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        done(false, `HTTP ${res.statusCode}`);
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        done(false, err.message);
      });
      ws.on('close', (code, reason) => {
        if (settled && !failedIndices.includes(index)) closed++;
        clearTimeout(timer);
        done(false, `closed before ack (${code} ${reason.toString()})`);
      });
      sockets.push(ws);
    });
  const worker = async () => {
    while (next < cfg.count && performance.now() < deadline) {
      const i = next++;
      await one(cfg.firstIndex + i);
    }
  };
  const deadlineTimer = setTimeout(() => [...pending].forEach((f) => f()), Math.max(0, deadline - performance.now()));
  await Promise.all(Array.from({ length: Math.min(cfg.concurrency, cfg.count) }, worker));
  clearTimeout(deadlineTimer);
  for (; next < cfg.count; next++) {
    failed++;
    failedIndices.push(cfg.firstIndex + next);
  }
  if (failed > open && errors.length < 5) errors.push('connect deadline passed');
  send({ type: 'connected', open, failed, errors, failedIndices, ms: Math.round(performance.now() - started) });
}

process.on('message', (m: ParentMessage) => {
  switch (m.type) {
    case 'config':
      void connectAll(m);
      break;
    case 'reset':
      histogram = newHistogram();
      frames = wsMessages = slowFrames = gaps = stale = 0;
      loop.reset();
      windowStart = performance.now();
      break;
    case 'report':
      send({
        type: 'report',
        windowMs: performance.now() - windowStart,
        frames,
        wsMessages,
        slowFrames,
        gaps,
        stale,
        histogram: hdr.encodeIntoCompressedBase64(histogram),
        loopP99Ms: loop.percentile(99) / 1e6,
        loopMaxMs: loop.max / 1e6,
        closed,
      });
      break;
    case 'stop':
      for (const ws of sockets) ws.terminate();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
