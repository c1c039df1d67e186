// bench:fanout — simulator → feed → Redis → ONE gateway (uWebSockets.js) → `ws` clients in other processes, against a
// plain `ws` broadcast server on the same Redis channels, same clients, same scenario, in the same run.
// Usage: npx tsx bench/fanout/run.ts [scenario…]   (scenarios in bench/fanout/scenarios.ts; default: smoke wide-light)
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import * as hdr from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { freePort, startPostgres, startRedis } from '../../src/devstack/index.js';
import { bootstrapDatabase, createDb, DB_ROLES, runMigrations, seedDemoUsers } from '../../src/infra/db/index.js';
import { spawnTsx, type RoleProcess } from '../../test/support/processes.js';
import { DEFAULT_SCENARIOS, KINDS, SCENARIOS, isSlow, symbolsFor, type Scenario } from './scenarios.js';
import type { ChildMessage, ClientConfig, ClientConnected, ClientReport, ParentMessage } from './ipc.js';
import { runBench } from '../shared/children.js';
import { metricsUrlOf, roleLauncher } from '../shared/roles.js';
import { signSessionTokens } from '../shared/sessions.js';
import { benchUserIds, seedUsers } from '../shared/stack.js';
import { buildNativeClient, messageWaiter, nativeHistogram, spawnNativeClient, type NativeResumed } from './native.js';

const ORIGIN = 'http://raxx-bench-fanout.local';
const USER_HZ = 100;
const CLIENT_CPU_LIMIT = 0.9; // of one core: above, the load generator is the bottleneck
const CLIENT_LAG_LIMIT_MS = 20; // event-loop delay p99 above this: receive times are the client's, not the server's
const FOREIGN_CPU_LIMIT = 0.25; // cores used by processes this bench did not start: the machine is shared, figures are not clean
const CLIENT_BUSY_LIMIT = 0.9; // native client: fraction of its wall time outside epoll_wait
const MAX_BACKPRESSURE = 1024 * 1024; // GATEWAY_MAX_BACKPRESSURE_BYTES default: the per-socket outbox cap
const MACHINE_BUSY_LIMIT = 0.95; // whole machine: above, every process waits for a CPU and latency is an upper bound
const DELIVERED_MIN = 0.99; // delivered / offered below this: saturated, not a latency result
const CLIENT_CAPACITY = { ws: 100_000, native: 400_000 }; // msgs/s one client process reads on this machine (order of magnitude)
const TARGET = {
  rssPerConnBytes: 2048,
  connections: 19_000,
  perCore: 1_000_000,
  vsBaseline: 9,
  lat20k: { p99: 5, p999: 10 },
  lat100k: { p99: 10 },
  slowP99Move: 0.2,
  stormMs: 10_000,
};
const clientScript = resolve(import.meta.dirname, 'client.ts');

// ---------- /proc helpers ----------
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / USER_HZ;
}
function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}
function fdLimit(): { soft: number; hard: number } {
  const q = (flag: string) => {
    const out = execFileSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
  };
  return { soft: q('-Sn'), hard: q('-Hn') };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const verdict = (ok: boolean) => (ok ? 'PASS' : 'BELOW');

// ---------- processes we start (all stopped in `cleanup`) ----------
interface Stoppable {
  name: string;
  stop(): Promise<unknown>;
}
const started: Stoppable[] = [];
async function cleanup(): Promise<void> {
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
}

function startBaseline(redisUrl: string): { child: ChildProcess; ready: Promise<string>; stop(): Promise<unknown> } {
  const child = spawnTsx('bench/fanout/ws-baseline.ts', [], { REDIS_URL: redisUrl });
  const exited = new Promise((r) => child.once('exit', r));
  const lines: string[] = [];
  const ready = new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`ws-baseline not ready:\n${lines.join('\n')}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      try {
        const rec = JSON.parse(l) as { ready?: boolean; url?: string };
        if (rec.ready && rec.url) {
          clearTimeout(timer);
          res(rec.url);
        }
      } catch {
        /* kept for diagnostics */
      }
    });
    createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
  });
  return {
    child,
    ready,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

// ---------- load clients: the native epoll client (default) or the Node `ws` client, behind one interface ----------
type ClientConfigShape = Omit<ClientConfig, 'type' | 'origin' | 'concurrency'> & { reconnectConcurrency?: number; tokenFile?: string };
type LoadReport = Omit<ClientReport, 'type' | 'histogram' | 'loopP99Ms' | 'loopMaxMs'> & {
  hist: hdr.Histogram;
  /** Node client: event-loop delay p99 (ms); native: null. */
  loopP99Ms: number | null;
  /** Native client: fraction of its window spent working (outside epoll_wait); Node: null. */
  busy: number | null;
};
interface LoadClient {
  pid: number;
  exited: Promise<unknown>;
  connected: Promise<ClientConnected>;
  reset(): void;
  report(timeoutMs: number): Promise<LoadReport>;
  drop(timeoutMs: number): Promise<NativeResumed>;
  kill(): void;
  stop(): void;
}

function forkNodeClient(cfg: ClientConfigShape, connectTimeoutMs: number): LoadClient {
  const child = fork(clientScript, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((r) => child.once('exit', r));
  const waiter = messageWaiter<ChildMessage>(exited, `client ${child.pid}`);
  child.on('message', (m: ChildMessage) => waiter.deliver(m));
  const send = (m: ParentMessage) => child.connected && child.send(m);
  const next = waiter.next;
  const connected = next('connected', connectTimeoutMs) as Promise<ClientConnected>;
  send({ type: 'config', url: cfg.url, origin: ORIGIN, token: cfg.token, firstIndex: cfg.firstIndex, count: cfg.count, universe: cfg.universe, symbolsPerConnection: cfg.symbolsPerConnection, slowFraction: cfg.slowFraction, concurrency: 64, connectDeadlineMs: cfg.connectDeadlineMs });
  return {
    pid: child.pid!,
    exited,
    connected,
    reset: () => send({ type: 'reset' }),
    report: async (timeoutMs) => {
      const p = next('report', timeoutMs);
      send({ type: 'report' });
      const r: ClientReport = await p;
      return { ...r, hist: hdr.decodeFromCompressedBase64(r.histogram, 32, false), loopP99Ms: r.loopP99Ms, busy: null };
    },
    drop: () => Promise.reject(new Error('the Node ws client has no reconnect storm; use the native client')),
    kill: () => child.kill('SIGKILL'),
    stop: () => send({ type: 'stop' }),
  };
}

function spawnNative(binary: string, cfg: ClientConfigShape, connectTimeoutMs: number): LoadClient {
  const u = new URL(cfg.url);
  const c = spawnNativeClient(binary, {
    host: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    origin: ORIGIN,
    token: cfg.token,
    firstIndex: cfg.firstIndex,
    count: cfg.count,
    universe: cfg.universe,
    symbolsPerConnection: cfg.symbolsPerConnection,
    slowFraction: cfg.slowFraction,
    concurrency: 256,
    ...(cfg.reconnectConcurrency ? { reconnectConcurrency: cfg.reconnectConcurrency } : {}),
    ...(cfg.tokenFile ? { tokenFile: cfg.tokenFile } : {}),
    connectDeadlineMs: cfg.connectDeadlineMs,
  });
  return {
    pid: c.child.pid!,
    exited: c.exited,
    connected: c.next('connected', connectTimeoutMs),
    reset: () => c.command('reset'),
    report: async (timeoutMs) => {
      const p = c.next('report', timeoutMs);
      c.command('report');
      const r = await p;
      return { ...r, hist: nativeHistogram(r.histogram), loopP99Ms: null, busy: r.busy };
    },
    drop: (timeoutMs) => {
      const p = c.next('resumed', timeoutMs);
      c.command('drop');
      return p;
    },
    kill: () => c.child.kill('SIGKILL'),
    stop: () => c.command('stop'),
  };
}

// ---------- one measurement against one server ----------
/** The client processes' `resumed` answers summed (ms: the slowest), with the gateway's CPU over the storm. */
type StormResult = Omit<NativeResumed, 'type' | 'started'> & { serverCpu: number };
interface Measurement {
  server: 'gateway' | 'ws-baseline';
  client: 'native' | 'ws';
  slowFraction: number;
  connectionsOpen: number;
  connectionsFailed: number;
  connectErrors: string[];
  connectMs: number;
  elapsed: number;
  offeredPerConn: number; // msgs/s a reading connection should get (mean)
  expected: number; // msgs/s all reading connections should get
  delivered: number; // msgs/s received by reading connections
  slowDelivered: number;
  framesPerArray: number;
  gaps: number;
  stale: number;
  closed: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  serverCpu: number; // cores
  perCore: number;
  rssBefore: number;
  rssAfter: number;
  rssEnd: number;
  rssMax: number; // sampled every 250 ms over the window
  rssPerConn: number;
  /** Gateway only: V8 heap and external memory before the clients and after warm-up. */
  memBefore: MemoryView | null;
  memAfter: MemoryView | null;
  memEnd: MemoryView | null;
  clientCpu: number[]; // cores, per process
  clientLagP99: Array<number | null>;
  clientBusy: Array<number | null>;
  machineBusy: number; // 0..1 of all cores
  pipelineCpu: number; // cores: sim + feed + Redis + this parent
  foreignCpu: number; // cores used by processes this bench did not start
  loadAvg: string;
  /** The load generator or the machine was saturated: no verdict of any kind. */
  invalid: string[];
  /** The run is valid but its latency is not a latency result (delivered < 99 %, machine ≥ 95 % busy). */
  latencyCaveats: string[];
  storm?: StormResult;
}

const loadAvg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** The gateway's own view of its memory (prom-client default metrics): V8 heap used/total and external (Buffers). */
interface MemoryView {
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Fresh snapshots sent to slow consumers once their outbox drained (the gateway's skip-then-resync). */
  drainSnapshots: number;
  drains: number;
}
async function memoryView(metricsUrl: string | undefined): Promise<MemoryView | null> {
  if (!metricsUrl) return null;
  try {
    const text = await (await fetch(metricsUrl)).text();
    const num = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
    const v = {
      heapUsed: num('nodejs_heap_size_used_bytes'),
      heapTotal: num('nodejs_heap_size_total_bytes'),
      external: num('nodejs_external_memory_bytes'),
      drainSnapshots: num('raxx_gateway_drain_snapshots_total'),
      drains: num('raxx_gateway_drains_total'),
    };
    return Number.isFinite(v.heapUsed) ? v : null; // the public listener may not serve /metrics
  } catch {
    return null;
  }
}

interface RedisRef {
  reset(): void;
  counts: Map<string, number>;
  hist(): hdr.Histogram;
  stop(): void;
}
/** Reference Redis subscriber in the parent: counts what the feed published per channel, and (now − t) at Redis. */
async function redisReference(url: string, universe: string[]): Promise<RedisRef> {
  const sub = new Redis(url);
  sub.on('error', () => {});
  const counts = new Map<string, number>();
  let histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  sub.on('message', (channel: string, message: string) => {
    counts.set(channel, (counts.get(channel) ?? 0) + 1);
    const m = /"t":"([^"]+)"/.exec(message);
    if (m) {
      const t = m[1]!;
      const us = Date.parse(`${t.slice(0, 19)}Z`) * 1000 + Number((t.slice(20, -1) + '000000').slice(0, 6));
      histogram.recordValue(Math.max(1, Math.round((performance.timeOrigin + performance.now()) * 1000 - us)));
    }
  });
  const channels = universe.flatMap((s) => KINDS.map((k) => `md:rt:${k}:${s}`));
  for (let i = 0; i < channels.length; i += 500) await sub.subscribe(...channels.slice(i, i + 500));
  return {
    counts,
    reset: () => {
      counts.clear();
      histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
    },
    hist: () => histogram,
    stop: () => sub.disconnect(),
  };
}

async function measure(
  sc: Scenario,
  server: Measurement['server'],
  pid: number,
  pipelinePids: number[],
  wsUrl: string,
  token: string,
  universe: string[],
  ref: RedisRef,
  opts: { slowFraction: number; nativeBinary: string; metricsUrl?: string; heapSnapshot?: () => Promise<void>; tokenFile?: string },
): Promise<Measurement> {
  const memBefore = await memoryView(opts.metricsUrl);
  const rssBefore = rssBytes(pid);
  const kind = sc.client ?? 'native';
  const perProc = Math.ceil(sc.connections / sc.clientProcesses);
  const clients: LoadClient[] = [];
  const stopClients = async () => {
    for (const c of clients) c.stop();
    await Promise.race([Promise.all(clients.map((c) => c.exited)), sleep(5_000)]);
    for (const c of clients) c.kill();
  };
  const clientsEntry: Stoppable = { name: `${server} clients`, stop: stopClients };
  started.push(clientsEntry);
  try {
    const connectDeadlineMs = 45_000 + perProc * 5;
    for (let p = 0; p < sc.clientProcesses; p++) {
      const cfg: ClientConfigShape = {
        url: wsUrl,
        token,
        firstIndex: p * perProc,
        count: Math.max(0, Math.min(perProc, sc.connections - p * perProc)),
        universe,
        symbolsPerConnection: sc.symbolsPerConnection,
        slowFraction: opts.slowFraction,
        connectDeadlineMs,
        ...(sc.stormConcurrency ? { reconnectConcurrency: sc.stormConcurrency } : {}),
        ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}),
      };
      clients.push(kind === 'native' ? spawnNative(opts.nativeBinary, cfg, connectDeadlineMs + 40_000) : forkNodeClient(cfg, connectDeadlineMs + 40_000));
    }
    const connected = await Promise.all(clients.map((c) => c.connected));
    await sleep(sc.warmupSeconds * 1000);
    const rssAfter = rssBytes(pid);
    const memAfter = await memoryView(opts.metricsUrl);
    if (opts.heapSnapshot) await opts.heapSnapshot();

    for (const c of clients) c.reset();
    ref.reset();
    const t0 = Date.now();
    const cpu0 = cpuSeconds(pid);
    const ccpu0 = clients.map((c) => cpuSeconds(c.pid));
    const m0 = machineTicks();
    const p0 = pipelinePids.reduce((a, q) => a + cpuSeconds(q), 0);
    const self0 = process.cpuUsage();
    let rssMax = rssAfter;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssBytes(pid))), 250);
    await sleep(sc.seconds * 1000);
    clearInterval(sampler);
    // A saturated client handles `report` only after its socket backlog: give it time, then give up.
    const reportsP = clients.map((c) => c.report(120_000));
    const elapsed = (Date.now() - t0) / 1000;
    const serverCpu = (cpuSeconds(pid) - cpu0) / elapsed;
    const clientCpu = clients.map((c, i) => (cpuSeconds(c.pid) - ccpu0[i]!) / elapsed);
    const m1 = machineTicks();
    const selfUse = process.cpuUsage(self0);
    const pipelineCpu = (pipelinePids.reduce((a, q) => a + cpuSeconds(q), 0) - p0 + (selfUse.user + selfUse.system) / 1e6) / elapsed;
    const machineBusy = (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total);
    const foreignCpu = Math.max(0, machineBusy * cpus().length - serverCpu - clientCpu.reduce((a, c) => a + c, 0) - pipelineCpu);
    const rssEnd = rssBytes(pid);
    const load = loadAvg();
    const memEnd = await memoryView(opts.metricsUrl);
    const counts = new Map(ref.counts);
    const reports = await Promise.all(reportsP);

    // Offered: what each reading connection should have received, from what the feed actually published.
    let expectedFrames = 0;
    let readers = 0;
    const notOpen = new Set(connected.flatMap((c) => c.failedIndices));
    for (let i = 0; i < sc.connections; i++) {
      if (isSlow(i, opts.slowFraction) || notOpen.has(i)) continue;
      readers++;
      for (const s of symbolsFor(i, universe, sc.symbolsPerConnection)) for (const k of KINDS) expectedFrames += counts.get(`md:rt:${k}:${s}`) ?? 0;
    }
    const merged = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
    for (const r of reports) merged.add(r.hist);
    const frames = reports.reduce((a, r) => a + r.frames, 0);
    const arrays = reports.reduce((a, r) => a + r.wsMessages, 0);
    const openCount = connected.reduce((a, c) => a + c.open, 0);
    // Each client counts over its own window (from when it handled `reset` to when it handled `report`).
    const delivered = reports.reduce((a, r) => a + r.frames / Math.max(0.001, r.windowMs / 1000), 0);
    const expected = expectedFrames / elapsed;
    const invalid: string[] = [];
    clientCpu.forEach((c, i) => c >= CLIENT_CPU_LIMIT && invalid.push(`load client ${i} at ${fmt(c * 100)} % of a core`));
    reports.forEach((r, i) => r.loopP99Ms !== null && r.loopP99Ms > CLIENT_LAG_LIMIT_MS && invalid.push(`client ${i} event-loop p99 ${fmt(r.loopP99Ms, 1)} ms`));
    reports.forEach((r, i) => r.busy !== null && r.busy >= CLIENT_BUSY_LIMIT && invalid.push(`native client ${i} busy ${fmt(r.busy * 100)} % of its window`));
    reports.forEach((r, i) => {
      if (r.windowMs < elapsed * 1000 * 0.8) invalid.push(`client ${i} measured ${fmt(r.windowMs / 1000, 1)} s of the ${fmt(elapsed, 1)} s window (handled reset/report late)`);
    });
    if (sc.rate > 0 && foreignCpu > FOREIGN_CPU_LIMIT) invalid.push(`machine shared: ${fmt(foreignCpu * 100)} % of a core used by processes outside the bench`);
    const latencyCaveats: string[] = [];
    if (sc.rate > 0 && delivered < expected * DELIVERED_MIN) latencyCaveats.push(`saturated: delivered ${fmt((delivered / Math.max(1, expected)) * 100, 1)} % of offered`);
    if (sc.rate > 0 && machineBusy >= MACHINE_BUSY_LIMIT) latencyCaveats.push(`machine ${fmt(machineBusy * 100)} % busy: latency includes waiting for a CPU`);

    let storm: StormResult | undefined;
    if ((sc.mode ?? 'steady') === 'storm') {
      const sc0 = cpuSeconds(pid);
      const st0 = Date.now();
      const res = await Promise.all(clients.map((c) => c.drop(90_000)));
      const stormElapsed = (Date.now() - st0) / 1000;
      storm = {
        dropped: res.reduce((a, r) => a + r.dropped, 0),
        reconnected: res.reduce((a, r) => a + r.reconnected, 0),
        failed: res.reduce((a, r) => a + r.failed, 0),
        outstanding: res.reduce((a, r) => a + r.outstanding, 0),
        ms: Math.max(...res.map((r) => r.ms)),
        recovered: res.reduce((a, r) => a + r.recovered, 0),
        notRecovered: res.reduce((a, r) => a + r.notRecovered, 0),
        replayed: res.reduce((a, r) => a + r.replayed, 0),
        gaps: res.reduce((a, r) => a + r.gaps, 0),
        errors: [...new Set(res.flatMap((r) => r.errors))].slice(0, 5),
        serverCpu: (cpuSeconds(pid) - sc0) / Math.max(0.001, stormElapsed),
      };
    }
    return {
      server,
      client: kind,
      slowFraction: opts.slowFraction,
      connectionsOpen: openCount,
      connectionsFailed: connected.reduce((a, c) => a + c.failed, 0),
      connectErrors: [...new Set(connected.flatMap((c) => c.errors))].slice(0, 5),
      connectMs: Math.max(...connected.map((c) => c.ms)),
      elapsed,
      offeredPerConn: readers ? expectedFrames / readers / elapsed : 0,
      expected,
      delivered,
      slowDelivered: reports.reduce((a, r) => a + r.slowFrames / Math.max(0.001, r.windowMs / 1000), 0),
      framesPerArray: arrays ? frames / arrays : 0,
      gaps: reports.reduce((a, r) => a + r.gaps, 0),
      stale: reports.reduce((a, r) => a + r.stale, 0),
      closed: reports.reduce((a, r) => a + r.closed, 0),
      p50: merged.totalCount ? merged.getValueAtPercentile(50) / 1000 : NaN,
      p99: merged.totalCount ? merged.getValueAtPercentile(99) / 1000 : NaN,
      p999: merged.totalCount ? merged.getValueAtPercentile(99.9) / 1000 : NaN,
      max: merged.totalCount ? merged.maxValue / 1000 : NaN,
      serverCpu,
      perCore: serverCpu > 0 ? delivered / serverCpu : NaN,
      rssBefore,
      rssAfter,
      rssEnd,
      rssMax,
      rssPerConn: openCount ? (rssAfter - rssBefore) / openCount : NaN,
      memBefore,
      memAfter,
      memEnd,
      clientCpu,
      clientLagP99: reports.map((r) => r.loopP99Ms),
      clientBusy: reports.map((r) => r.busy),
      machineBusy,
      pipelineCpu,
      foreignCpu,
      loadAvg: load,
      invalid,
      latencyCaveats,
      storm,
    };
  } finally {
    await stopClients();
    started.splice(started.indexOf(clientsEntry), 1);
  }
}

function printMeasurement(sc: Scenario, m: Measurement): void {
  const tag = m.invalid.length ? 'INVALID (load generator saturated or machine shared)' : 'valid';
  const label = `${m.server}${m.slowFraction > 0 ? `, ${fmt(m.slowFraction * 100)} % not reading` : ''}`;
  console.log(`  ── ${label} (${m.client} client): ${tag}${m.invalid.length ? ` — ${m.invalid.join('; ')}` : ''}   [load average ${m.loadAvg}]`);
  console.log(`     connections   : ${fmt(m.connectionsOpen)} open, ${fmt(m.connectionsFailed)} failed${m.connectErrors.length ? ` (${m.connectErrors.join(' | ')})` : ''}, opened in ${fmt(m.connectMs / 1000, 1)} s; ${fmt(m.closed)} closed during the run`);
  if (sc.rate > 0) {
    console.log(`     offered       : ${fmt(m.offeredPerConn)} msgs/s per reading connection (published on its channels), ${fmt(m.expected)} msgs/s over all of them`);
    console.log(`     delivered     : ${fmt(m.delivered)} msgs/s (${fmt((m.delivered / Math.max(1, m.expected)) * 100, 1)} % of offered)${m.slowFraction ? `; sockets not reading got ${fmt(m.slowDelivered)} msgs/s before their buffers filled` : ''}`);
    console.log(`     packing       : ${fmt(m.framesPerArray, 2)} frames per WebSocket message`);
    console.log(`     seq gaps      : ${fmt(m.gaps)} (reading connections)   stale/duplicate frames dropped: ${fmt(m.stale)}`);
    const lat = `p50 ${fmt(m.p50, 2)} ms · p99 ${fmt(m.p99, 2)} ms · p99.9 ${fmt(m.p999, 2)} ms · max ${fmt(m.max, 1)} ms`;
    const caveat = m.latencyCaveats.length ? ` — NOT a latency result: ${m.latencyCaveats.join('; ')}` : '';
    console.log(`     latency t→recv: ${m.invalid.length ? `(not the server's: ${lat})` : lat}${caveat}`);
  }
  console.log(`     server CPU    : ${fmt(m.serverCpu * 100)} % of one core → ${sc.rate > 0 ? `${fmt(m.perCore)} delivered msgs/s per server core (${fmt(m.perCore > 0 ? 1e6 / m.perCore : NaN, 2)} µs/msg)` : 'idle'}`);
  console.log(`     server RSS    : ${fmt(m.rssBefore / 2 ** 20, 1)} MB before clients → ${fmt(m.rssAfter / 2 ** 20, 1)} MB with them (= ${fmt(m.rssPerConn)} B per connection) → max ${fmt(m.rssMax / 2 ** 20, 1)} / end ${fmt(m.rssEnd / 2 ** 20, 1)} MB over the window`);
  if (m.memBefore && m.memAfter && m.connectionsOpen > 0) {
    const per = (a: number, b: number) => `${fmt((b - a) / m.connectionsOpen)} B/conn`;
    console.log(`     memory view   : V8 heap used ${fmt(m.memBefore.heapUsed / 2 ** 20, 1)} → ${fmt(m.memAfter.heapUsed / 2 ** 20, 1)} MB (${per(m.memBefore.heapUsed, m.memAfter.heapUsed)}), heap total ${fmt(m.memBefore.heapTotal / 2 ** 20, 1)} → ${fmt(m.memAfter.heapTotal / 2 ** 20, 1)} MB (${per(m.memBefore.heapTotal, m.memAfter.heapTotal)}), external ${per(m.memBefore.external, m.memAfter.external)}; the rest of the RSS delta is native (uWS sockets, malloc)`);
  }
  const busy = m.clientBusy.some((b) => b !== null) ? `; native busy ${m.clientBusy.map((b) => `${fmt((b ?? 0) * 100)} %`).join(', ')}` : '';
  const lag = m.clientLagP99.some((l) => l !== null) ? `; event-loop p99 ${m.clientLagP99.map((l) => `${fmt(l ?? 0, 1)} ms`).join(', ')}` : '';
  console.log(`     load clients  : CPU ${m.clientCpu.map((c) => `${fmt(c * 100)} %`).join(', ')} of a core${busy}${lag}; machine ${fmt(m.machineBusy * 100)} % busy (${cpus().length} cores): sim+feed+Redis+parent ${fmt(m.pipelineCpu * 100)} %, outside the bench ${fmt(m.foreignCpu * 100)} % of a core`);
  if (m.storm) {
    const s = m.storm;
    console.log(`     storm         : ${fmt(s.dropped)} reset at once → ${fmt(s.reconnected)} reconnected, ${fmt(s.failed)} failed, ${fmt(s.outstanding)} still waiting; last resume answer after ${fmt(s.ms / 1000, 2)} s; keys recovered ${fmt(s.recovered)}, not recovered ${fmt(s.notRecovered)}; ${fmt(s.replayed)} frames received while resuming; ${fmt(s.gaps)} seqs missing after resume; server CPU ${fmt(s.serverCpu * 100)} %${s.errors.length ? ` (${s.errors.join(' | ')})` : ''}`);
  }
}

function printComparison(sc: Scenario, g: Measurement, b: Measurement | undefined, healthy?: Measurement): void {
  const ratioCore = b && b.perCore > 0 ? g.perCore / b.perCore : NaN;
  if (sc.rate > 0 && b) {
    console.log(`  ── gateway / ws-baseline (same ${g.client} client): ${fmt(ratioCore, 2)}× delivered msgs/s per server core; latency p50 ${(g.p50 / b.p50).toPrecision(3)}×, p99 ${(g.p99 / b.p99).toPrecision(3)}× (below 1 = gateway faster)${g.invalid.length || b.invalid.length ? ' — one side INVALID: ratios indicative only' : ''}`);
  }
  if (b) console.log(`     RSS per connection: gateway ${fmt(g.rssPerConn)} B vs ws-baseline ${fmt(b.rssPerConn)} B`);
  const latVerdict = (m: Measurement, ok: boolean) =>
    m.invalid.length ? `NOT MEASURED (run invalid: ${m.invalid.join('; ')})` : m.latencyCaveats.length ? `NOT MEASURED (${m.latencyCaveats.join('; ')})` : verdict(ok);
  for (const t of sc.targets) {
    if (t === 'connections') {
      console.log(`  target ${fmt(TARGET.connections)} connections at ≤ ${fmt(TARGET.rssPerConnBytes)} B RSS each: ${fmt(g.connectionsOpen)} held (${verdict(g.connectionsOpen >= TARGET.connections)}), ${fmt(g.rssPerConn)} B each (${verdict(g.rssPerConn <= TARGET.rssPerConnBytes)})`);
    } else if (t === 'throughput') {
      const none = (m?: Measurement) => !m || m.invalid.length > 0;
      const v = (ok: boolean, ...ms: Array<Measurement | undefined>) => (ms.some(none) ? 'no verdict: run INVALID' : verdict(ok));
      console.log(`  target ≥ ${fmt(TARGET.perCore)} delivered msgs/s per gateway core: ${fmt(g.perCore)} (${v(g.perCore >= TARGET.perCore, g)}); 0 gaps: ${fmt(g.gaps)} (${v(g.gaps === 0, g)}); ≥ ${TARGET.vsBaseline}× ws baseline: ${fmt(ratioCore, 2)}× (${v(ratioCore >= TARGET.vsBaseline, g, b)})`);
    } else if (t === 'latency-20k') {
      const { p99, p999 } = TARGET.lat20k;
      console.log(`  target 2,000 clients at 20,000 msgs/s p99 ≤ ${p99} ms / p99.9 ≤ ${p999} ms: p99 ${fmt(g.p99, 2)} / p99.9 ${fmt(g.p999, 2)} ms (${latVerdict(g, g.p99 <= p99 && g.p999 <= p999)})`);
    } else if (t === 'latency-100k') {
      const { p99 } = TARGET.lat100k;
      console.log(`  target 2,000 clients at 100,000 msgs/s p99 ≤ ${p99} ms: p99 ${fmt(g.p99, 2)} ms (${latVerdict(g, g.p99 <= p99)})`);
    } else if (t === 'slow' && healthy) {
      const move = g.p99 / healthy.p99 - 1;
      let slowCount = 0;
      for (let i = 0; i < sc.connections; i++) if (isSlow(i, g.slowFraction)) slowCount++;
      const d = g.memAfter && g.memEnd ? g.memEnd.drainSnapshots - g.memAfter.drainSnapshots : NaN;
      const drains = Number.isFinite(d) ? `; drain snapshots sent in the window: ${fmt(d)} (sockets that fell behind and were resynced)` : '';
      const bad = healthy.invalid.length || g.invalid.length || healthy.latencyCaveats.length || g.latencyCaveats.length;
      console.log(`  target with ${fmt(g.slowFraction * 100)} % not reading, healthy p99 moves ≤ ${fmt(TARGET.slowP99Move * 100)} %: ${fmt(healthy.p99, 2)} → ${fmt(g.p99, 2)} ms (${move >= 0 ? '+' : ''}${fmt(move * 100, 1)} %) (${bad ? `NOT MEASURED (${[...healthy.invalid, ...healthy.latencyCaveats, ...g.invalid, ...g.latencyCaveats].join('; ')})` : verdict(move <= TARGET.slowP99Move)}); gaps on reading connections ${fmt(g.gaps)}; memory: RSS ${fmt(g.rssAfter / 2 ** 20, 1)} MB after warm-up → max ${fmt(g.rssMax / 2 ** 20, 1)} MB, end ${fmt(g.rssEnd / 2 ** 20, 1)} MB (all reading: max ${fmt(healthy.rssMax / 2 ** 20, 1)} MB; bound: ${fmt(slowCount)} not reading × the ${fmt(MAX_BACKPRESSURE / 2 ** 20)} MiB outbox cap = ${fmt((slowCount * MAX_BACKPRESSURE) / 2 ** 20)} MiB)${drains}`);
    } else if (t === 'storm' && g.storm) {
      const s = g.storm;
      const ok = s.failed === 0 && s.outstanding === 0 && s.ms <= TARGET.stormMs && s.gaps === 0 && s.notRecovered === 0;
      console.log(`  target ${fmt(s.dropped)} clients dropped at once all resume within ${fmt(TARGET.stormMs / 1000)} s with their gaps replayed: ${fmt(s.ms / 1000, 2)} s, ${fmt(s.failed + s.outstanding)} not resumed, ${fmt(s.notRecovered)} keys not recovered, ${fmt(s.gaps)} seqs missing (${verdict(ok)})${s.dropped < 10_000 ? ` — only ${fmt(s.dropped)} were open` : ''}`);
    }
  }
}

/** Redis ≥ 7 counts clients it disconnected over their output-buffer limit (pub/sub subscribers that fell behind). */
async function outputBufferDrops(admin: Redis): Promise<number> {
  return Number(/client_output_buffer_limit_disconnections:(\d+)/.exec(await admin.info('stats'))?.[1] ?? 0);
}

/** SIGUSR2 → the gateway writes Heap.*.heapsnapshot into `dir` (--heapsnapshot-signal); waits until it is complete. */
async function heapSnapshot(pid: number, dir: string): Promise<void> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const t0 = Date.now();
  for (;;) {
    await sleep(1_000);
    const fresh = readdirSync(dir).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (fresh.length && Date.now() - statSync(join(dir, fresh[0]!)).mtimeMs > 3_000) {
      console.log(`  heap snapshot: ${join(dir, fresh[0]!)}`);
      return;
    }
    if (Date.now() - t0 > 180_000) throw new Error('heap snapshot not written in 180 s');
  }
}

// ---------- main ----------
async function main(): Promise<void> {
  const heapDir = process.env.FANOUT_HEAP_SNAPSHOT_DIR;
  // Diagnostics only: FANOUT_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p" (compiled gateway) profiles it.
  const gatewayNodeArgs = (process.env.FANOUT_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const names = process.argv.slice(2).length ? process.argv.slice(2) : DEFAULT_SCENARIOS;
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const fds = fdLimit();
  const runnable: Scenario[] = [];
  for (const n of names) {
    const sc = SCENARIOS.find((s) => s.name === n)!;
    const serverNeeds = sc.connections + 256;
    const clientNeeds = Math.ceil(sc.connections / sc.clientProcesses) + 256;
    if (serverNeeds > fds.soft || clientNeeds > fds.soft) {
      console.log(`REFUSED ${sc.name}: needs ${fmt(serverNeeds)} open files in the server process (${fmt(clientNeeds)} per client process) but \`ulimit -n\` is ${fmt(fds.soft)} (hard ${fmt(fds.hard)}); raise it (ulimit -n ${serverNeeds}) and run again.`);
      continue;
    }
    const expectedLoad = sc.rate * (sc.symbolsPerConnection / sc.symbols) * sc.connections;
    const capacity = CLIENT_CAPACITY[sc.client ?? 'native'];
    if (expectedLoad > capacity * sc.clientProcesses) {
      console.log(`NOTE ${sc.name}: ~${fmt(expectedLoad)} msgs/s to read (uniform estimate) > ~${fmt(capacity)} msgs/s per ${sc.client ?? 'native'} client process × ${sc.clientProcesses}: the load generator may limit this scenario.`);
    }
    runnable.push(sc);
  }
  if (!runnable.length) return;

  console.log(`bench:fanout on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, ulimit -n ${fmt(fds.soft)}`);
  const dir = mkdtempSync(join(tmpdir(), 'raxx-bench-fanout-'));
  chmodSync(dir, 0o755);
  started.push({ name: 'temp dir', stop: async () => rmSync(dir, { recursive: true, force: true }) });
  // The roles run compiled, as in production (bench/shared/roles.ts); BENCH_ROLES_TSX=1 runs them under tsx instead.
  const roles = roleLauncher();
  started.push({ name: 'role build', stop: async () => roles.remove() });
  console.log(`roles: ${roles.mode}`);
  const nativeBinary = runnable.some((sc) => (sc.client ?? 'native') === 'native') ? buildNativeClient(dir) : '';
  const redisServer = await startRedis({ port: await freePort(), dir: join(dir, 'redis'), persistent: false });
  started.push({ name: 'redis', stop: () => redisServer.stop() });
  const pg = await startPostgres({ port: await freePort(), dir: join(dir, 'pg'), durable: false });
  started.push({ name: 'postgres', stop: () => pg.stop() });
  const urls = await bootstrapDatabase({ adminUrl: pg.adminUrl, database: 'raxx_bench' });
  await runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner });
  const seedDb = createDb(urls.appUrl, { max: 1, appName: 'raxx-bench-seed' });
  await seedDemoUsers(seedDb.db).finally(() => seedDb.close());
  // Scenarios with many users: users (tier pro) straight into PostgreSQL as raxx_batch, as bench:actors seeds them.
  const manyUsers = Math.max(0, ...runnable.map((sc) => sc.users ?? 1));
  const userIds = manyUsers > 1 ? benchUserIds(manyUsers, 'fanout') : [];
  if (userIds.length > 0) {
    const batchSql = postgres(urls.batchUrl, { max: 1, onnotice: () => {} });
    try {
      await seedUsers(batchSql, userIds, 'pro');
    } finally {
      await batchSql.end();
    }
    console.log(`seeded ${fmt(userIds.length)} users (tier pro) for the scenarios with many users`);
  }
  const admin = new Redis(redisServer.url);
  admin.on('error', () => {});
  started.push({ name: 'redis admin', stop: async () => admin.disconnect() });

  for (const sc of runnable) {
    console.log(`\n■ ${sc.name}: ${sc.description}`);
    console.log(`  ${fmt(sc.connections)} connections in ${sc.clientProcesses} client processes, ${sc.symbolsPerConnection} of ${sc.symbols} symbols each (quotes + trades), simulator ${fmt(sc.rate)} msgs/s, ${sc.warmupSeconds} s warm-up + ${sc.seconds} s measured`);
    await admin.flushall();
    const drops0 = await outputBufferDrops(admin);
    const scoped: RoleProcess[] = [];
    const stopScoped = async () => {
      for (const p of scoped.splice(0).reverse()) await p.stop('SIGTERM');
    };
    let ref: RedisRef | undefined;
    const scopeEntry: Stoppable = {
      name: 'scenario roles',
      stop: async () => {
        ref?.stop();
        await stopScoped();
      },
    };
    started.push(scopeEntry);
    try {
      const sim = roles.start('sim', {
        PORT: '0',
        SIM_KMS_PORT: '0',
        SIM_RATE: String(sc.rate),
        SIM_SYMBOLS: String(sc.symbols),
        SIM_HALT_PROBABILITY: '0',
        SIM_KEYS: 'bench-key:bench-secret:algo_trader_plus',
        SIM_SLOW_CLIENT_BYTES: String(256 * 1024 * 1024),
        SIM_BATCH_MS: String(sc.simBatchMs ?? 1),
        LOG_LEVEL: 'warn',
      });
      scoped.push(sim);
      const simUrl = (await sim.ready).url;
      const assets = (await (await fetch(`${simUrl}/v2/assets`, { headers: { 'APCA-API-KEY-ID': 'bench-key', 'APCA-API-SECRET-KEY': 'bench-secret' } })).json()) as Array<{ symbol: string }>;
      const universe = assets.map((a) => a.symbol).slice(0, sc.symbols);
      const feed = roles.start('feed', {
        RAXX_ENV: 'test',
        REDIS_URL: redisServer.url,
        DATABASE_URL: urls.appUrl,
        ALPACA_DATA_STREAM_URL: simUrl.replace('http', 'ws'),
        ALPACA_TRADING_URL: simUrl,
        ALPACA_KEY_ID: 'bench-key',
        ALPACA_SECRET_KEY: 'bench-secret',
        FEED_SYMBOLS: universe.join(','),
        LOG_LEVEL: 'warn',
      });
      scoped.push(feed);
      await feed.ready;
      ref = await redisReference(redisServer.url, universe);

      const gatewayEnv = {
        RAXX_ENV: 'test',
        REDIS_URL: redisServer.url,
        DATABASE_URL: urls.appUrl,
        SESSION_JWT_SECRET: randomBytes(32).toString('hex'),
        SESSION_JWT_ISSUER: 'raxx-bench-issuer',
        SESSION_JWT_AUDIENCE: 'raxx-bench',
        GATEWAY_ALLOWED_ORIGINS: ORIGIN,
        // Passkeys need an https origin (or http on loopback); the WebSocket Origin above is neither and is unused here.
        WEBAUTHN_ORIGINS: 'http://localhost',
        LOG_LEVEL: 'warn',
        // Diagnostics only (off by default): FANOUT_HEAP_SNAPSHOT_DIR=/tmp/x takes a V8 heap snapshot after warm-up.
        ...(heapDir ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${heapDir}` } : {}),
      };
      const gateway = roles.start('gateway', gatewayEnv, undefined, gatewayNodeArgs);
      scoped.push(gateway);
      const gwReady = await gateway.ready;
      const gwUrl = gwReady.url;
      // The role's ready note names its internal listener ("…; metrics http://…/metrics"): the memory view reads it.
      const gwMetrics = metricsUrlOf(gwReady.note);
      const tokenRes = await fetch(`${gwUrl}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'demo-pro' }) });
      if (!tokenRes.ok) throw new Error(`/dev/token: HTTP ${tokenRes.status} ${await tokenRes.text()}`);
      const { token, tier } = (await tokenRes.json()) as { token: string; tier: string };
      if (tier !== 'pro') throw new Error(`demo-pro has tier ${tier}`);
      // Many users: one token per user, signed with this gateway's secret, in a file only the bench can read.
      let tokenFile: string | undefined;
      if ((sc.users ?? 1) > 1) {
        if ((sc.client ?? 'native') !== 'native') throw new Error(`${sc.name}: users > 1 needs the native client`);
        const signed = await signSessionTokens(userIds.slice(0, sc.users), { secret: gatewayEnv.SESSION_JWT_SECRET, issuer: gatewayEnv.SESSION_JWT_ISSUER, audience: gatewayEnv.SESSION_JWT_AUDIENCE });
        tokenFile = join(dir, `tokens-${sc.name}`);
        writeFileSync(tokenFile, signed.map((u) => u.token).join('\n') + '\n', { mode: 0o600 });
      }
      await sleep(1_000); // feed warm: LKG present, seqs running
      const pipelinePids = [sim.child.pid!, feed.child.pid!, redisServer.pid];
      const gwWs = `${gwUrl.replace('http', 'ws')}/ws`;
      const gwOpts = {
        nativeBinary,
        tokenFile,
        metricsUrl: gwMetrics,
        heapSnapshot: heapDir ? () => heapSnapshot(gateway.child.pid!, heapDir) : undefined,
      };
      let healthy: Measurement | undefined;
      if (sc.mode === 'slow') {
        healthy = await measure(sc, 'gateway', gateway.child.pid!, pipelinePids, gwWs, token, universe, ref, { ...gwOpts, slowFraction: 0 });
        printMeasurement(sc, healthy);
      }
      const g = await measure(sc, 'gateway', gateway.child.pid!, pipelinePids, gwWs, token, universe, ref, { ...gwOpts, slowFraction: sc.mode === 'slow' ? sc.slowFraction : 0 });
      await gateway.stop('SIGTERM');
      scoped.splice(scoped.indexOf(gateway), 1);
      printMeasurement(sc, g);

      if (g.connectionsOpen === 0) throw new Error('no gateway connection opened: see the errors above');
      let b: Measurement | undefined;
      if (sc.baseline ?? true) {
        const baseline = startBaseline(redisServer.url);
        const baselineEntry: Stoppable = { name: 'ws-baseline', stop: baseline.stop };
        started.push(baselineEntry);
        try {
          const bUrl = await baseline.ready;
          b = await measure(sc, 'ws-baseline', baseline.child.pid!, pipelinePids, `${bUrl.replace('http', 'ws')}/ws`, token, universe, ref!, { slowFraction: 0, nativeBinary });
          printMeasurement(sc, b);
        } catch (err) {
          console.log(`  ── ws-baseline: measurement FAILED: ${(err as Error).message}`);
        } finally {
          await baseline.stop();
          started.splice(started.indexOf(baselineEntry), 1);
        }
      }
      if (sc.rate > 0) {
        const r = ref.hist();
        console.log(`  reference: a plain Redis subscriber in the parent sees frames (now − t) p50 ${fmt(r.getValueAtPercentile(50) / 1000, 2)} ms · p99 ${fmt(r.getValueAtPercentile(99) / 1000, 2)} ms (sim batching + feed + Redis, before any WebSocket server)`);
      }
      printComparison(sc, g, b, healthy);
      const drops = (await outputBufferDrops(admin)) - drops0;
      if (drops > 0) console.log(`  Redis dropped ${fmt(drops)} subscriber connection(s) over their pub/sub output-buffer limit during this scenario (a backlogged gateway, baseline or reference subscriber)`);
    } catch (err) {
      console.log(`  ${sc.name} FAILED: ${(err as Error).message}`);
      process.exitCode = 1;
    } finally {
      await scopeEntry.stop();
      started.splice(started.indexOf(scopeEntry), 1);
    }
  }
}

await runBench('bench:fanout', { cleanup }, main); // exits at the end: stray sockets must not keep the bench alive
