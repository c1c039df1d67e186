// bench:fanout — simulator → feed → Redis → ONE gateway (uWebSockets.js) → `ws` clients in other processes, against a
// plain `ws` broadcast server on the same Redis channels, same clients, same scenario, in the same run.
// Usage: npx tsx bench/fanout/run.ts [scenario…]   (scenarios in bench/fanout/scenarios.ts; default: smoke wide-light)
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import * as hdr from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import { freePort, startPostgres, startRedis } from '../../src/devstack/index.js';
import { bootstrapDatabase, createDb, DB_ROLES, runMigrations, seedDemoUsers } from '../../src/infra/db/index.js';
import { spawnTsx, startRoleProcess, type RoleProcess } from '../../test/support/processes.js';
import { DEFAULT_SCENARIOS, KINDS, SCENARIOS, isSlow, symbolsFor, type Scenario } from './scenarios.js';
import type { ChildMessage, ClientConnected, ClientReport, ParentMessage } from './ipc.js';

const ORIGIN = 'http://raxx-bench-fanout.local';
const USER_HZ = 100;
const CLIENT_CPU_LIMIT = 0.9; // of one core: above, the load generator is the bottleneck
const CLIENT_LAG_LIMIT_MS = 20; // event-loop delay p99 above this: receive times are the client's, not the server's
const FOREIGN_CPU_LIMIT = 0.25; // cores used by processes this bench did not start: the machine is shared, figures are not clean
const CLIENT_CAPACITY = 100_000; // msgs/s one Node `ws` client process reads on this machine (order of magnitude)
const TARGET = { rssPerConnBytes: 2048, connections: 19_000, perCore: 1_000_000, vsBaseline: 9, p99Ms: 5, p999Ms: 10 };
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

// ---------- load clients ----------
interface ClientProc {
  child: ChildProcess;
  next(type: ChildMessage['type'], timeoutMs: number): Promise<ChildMessage>;
  send(m: ParentMessage): void;
  exited: Promise<unknown>;
}
function forkClient(): ClientProc {
  const child = fork(clientScript, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((r) => child.once('exit', r));
  const waiting: Array<{ type: string; resolve(m: ChildMessage): void }> = [];
  child.on('message', (m: ChildMessage) => {
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
  });
  return {
    child,
    exited,
    send: (m) => child.connected && child.send(m),
    next: (type, timeoutMs) =>
      new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`client ${child.pid}: no ${type} in ${timeoutMs} ms`)), timeoutMs);
        waiting.push({ type, resolve: (m) => (clearTimeout(timer), res(m)) });
        void exited.then(() => rej(new Error(`client ${child.pid} exited`)));
      }),
  };
}

// ---------- one measurement against one server ----------
interface Measurement {
  server: 'gateway' | 'ws-baseline';
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
  rssPerConn: number;
  clientCpu: number[]; // cores, per process
  clientLagP99: number[];
  machineBusy: number; // 0..1 of all cores
  pipelineCpu: number; // cores: sim + feed + Redis + this parent
  foreignCpu: number; // cores used by processes this bench did not start
  invalid: string[];
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
): Promise<Measurement> {
  const rssBefore = rssBytes(pid);
  const perProc = Math.ceil(sc.connections / sc.clientProcesses);
  const clients: ClientProc[] = [];
  const stopClients = async () => {
    for (const c of clients) c.send({ type: 'stop' });
    await Promise.race([Promise.all(clients.map((c) => c.exited)), sleep(5_000)]);
    for (const c of clients) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  };
  const clientsEntry: Stoppable = { name: `${server} clients`, stop: stopClients };
  started.push(clientsEntry);
  try {
    for (let p = 0; p < sc.clientProcesses; p++) clients.push(forkClient());
    const connectDeadlineMs = 45_000 + perProc * 5;
    const connectTimeout = connectDeadlineMs + 40_000;
    const connectedP = clients.map((c) => c.next('connected', connectTimeout));
    clients.forEach((c, p) =>
      c.send({
        type: 'config',
        url: wsUrl,
        origin: ORIGIN,
        token,
        firstIndex: p * perProc,
        count: Math.max(0, Math.min(perProc, sc.connections - p * perProc)),
        universe,
        symbolsPerConnection: sc.symbolsPerConnection,
        slowFraction: sc.slowFraction,
        concurrency: 64,
        connectDeadlineMs,
      }),
    );
    const connected = (await Promise.all(connectedP)) as ClientConnected[];
    await sleep(sc.warmupSeconds * 1000);
    const rssAfter = rssBytes(pid);

    for (const c of clients) c.send({ type: 'reset' });
    ref.reset();
    const t0 = Date.now();
    const cpu0 = cpuSeconds(pid);
    const ccpu0 = clients.map((c) => cpuSeconds(c.child.pid!));
    const m0 = machineTicks();
    const p0 = pipelinePids.reduce((a, q) => a + cpuSeconds(q), 0);
    const self0 = process.cpuUsage();
    await sleep(sc.seconds * 1000);
    // A saturated client handles the `report` message only after its socket backlog: give it time, then give up.
    const reportsP = clients.map((c) => c.next('report', 120_000));
    for (const c of clients) c.send({ type: 'report' });
    const elapsed = (Date.now() - t0) / 1000;
    const serverCpu = (cpuSeconds(pid) - cpu0) / elapsed;
    const clientCpu = clients.map((c, i) => (cpuSeconds(c.child.pid!) - ccpu0[i]!) / elapsed);
    const m1 = machineTicks();
    const selfUse = process.cpuUsage(self0);
    const pipelineCpu = (pipelinePids.reduce((a, q) => a + cpuSeconds(q), 0) - p0 + (selfUse.user + selfUse.system) / 1e6) / elapsed;
    const machineBusy = (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total);
    const foreignCpu = Math.max(0, machineBusy * cpus().length - serverCpu - clientCpu.reduce((a, c) => a + c, 0) - pipelineCpu);
    const counts = new Map(ref.counts);
    const reports = (await Promise.all(reportsP)) as ClientReport[];

    // Offered: what each reading connection should have received, from what the feed actually published.
    let expectedFrames = 0;
    let readers = 0;
    const notOpen = new Set(connected.flatMap((c) => c.failedIndices));
    for (let i = 0; i < sc.connections; i++) {
      if (isSlow(i, sc.slowFraction) || notOpen.has(i)) continue;
      readers++;
      for (const s of symbolsFor(i, universe, sc.symbolsPerConnection)) for (const k of KINDS) expectedFrames += counts.get(`md:rt:${k}:${s}`) ?? 0;
    }
    const merged = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
    for (const r of reports) merged.add(hdr.decodeFromCompressedBase64(r.histogram, 32, false));
    const frames = reports.reduce((a, r) => a + r.frames, 0);
    const arrays = reports.reduce((a, r) => a + r.wsMessages, 0);
    const openCount = connected.reduce((a, c) => a + c.open, 0);
    const invalid: string[] = [];
    clientCpu.forEach((c, i) => c >= CLIENT_CPU_LIMIT && invalid.push(`client ${i} at ${fmt(c * 100)} % of a core`));
    reports.forEach((r, i) => r.loopP99Ms > CLIENT_LAG_LIMIT_MS && invalid.push(`client ${i} event-loop p99 ${fmt(r.loopP99Ms, 1)} ms`));
    reports.forEach((r, i) => {
      // A backlogged client handles `reset` and `report` late, maybe back to back: its window is then not ours.
      if (r.windowMs < elapsed * 1000 * 0.8) invalid.push(`client ${i} measured ${fmt(r.windowMs / 1000, 1)} s of the ${fmt(elapsed, 1)} s window (handled reset/report late)`);
    });
    if (sc.rate > 0 && foreignCpu > FOREIGN_CPU_LIMIT) invalid.push(`machine shared: ${fmt(foreignCpu * 100)} % of a core used by processes outside the bench`);
    // Each client counts over its own window (from when it handled `reset` to when it handled `report`), so a lagging
    // client's late handling of those messages does not skew the rate.
    const delivered = reports.reduce((a, r) => a + r.frames / Math.max(0.001, r.windowMs / 1000), 0);
    return {
      server,
      connectionsOpen: openCount,
      connectionsFailed: connected.reduce((a, c) => a + c.failed, 0),
      connectErrors: [...new Set(connected.flatMap((c) => c.errors))].slice(0, 5),
      connectMs: Math.max(...connected.map((c) => c.ms)),
      elapsed,
      offeredPerConn: readers ? expectedFrames / readers / elapsed : 0,
      expected: expectedFrames / elapsed,
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
      rssPerConn: openCount ? (rssAfter - rssBefore) / openCount : NaN,
      clientCpu,
      clientLagP99: reports.map((r) => r.loopP99Ms),
      machineBusy,
      pipelineCpu,
      foreignCpu,
      invalid,
    };
  } finally {
    await stopClients();
    started.splice(started.indexOf(clientsEntry), 1);
  }
}

function printMeasurement(sc: Scenario, m: Measurement): void {
  const tag = m.invalid.length ? 'INVALID (load generator saturated or machine shared)' : 'valid';
  console.log(`  ── ${m.server}: ${tag}${m.invalid.length ? ` — ${m.invalid.join('; ')}` : ''}`);
  console.log(`     connections   : ${fmt(m.connectionsOpen)} open, ${fmt(m.connectionsFailed)} failed${m.connectErrors.length ? ` (${m.connectErrors.join(' | ')})` : ''}, opened in ${fmt(m.connectMs / 1000, 1)} s; ${fmt(m.closed)} closed during the run`);
  if (sc.rate > 0) {
    console.log(`     offered       : ${fmt(m.offeredPerConn)} msgs/s per reading connection (published on its channels), ${fmt(m.expected)} msgs/s over all of them`);
    console.log(`     delivered     : ${fmt(m.delivered)} msgs/s (${fmt((m.delivered / Math.max(1, m.expected)) * 100, 1)} % of offered)${sc.slowFraction ? `; slow sockets got ${fmt(m.slowDelivered)} msgs/s` : ''}`);
    console.log(`     packing       : ${fmt(m.framesPerArray, 2)} frames per WebSocket message`);
    console.log(`     seq gaps      : ${fmt(m.gaps)} (reading connections)   stale/duplicate frames dropped: ${fmt(m.stale)}`);
    const lat = `p50 ${fmt(m.p50, 2)} ms · p99 ${fmt(m.p99, 2)} ms · p99.9 ${fmt(m.p999, 2)} ms · max ${fmt(m.max, 1)} ms`;
    console.log(`     latency t→recv: ${m.invalid.length ? `(not the server's: ${lat})` : lat}`);
  }
  console.log(`     server CPU    : ${fmt(m.serverCpu * 100)} % of one core → ${sc.rate > 0 ? `${fmt(m.perCore)} delivered msgs/s per server core` : 'idle'}`);
  console.log(`     server RSS    : ${fmt(m.rssBefore / 2 ** 20, 1)} MB before clients → ${fmt(m.rssAfter / 2 ** 20, 1)} MB with them = ${fmt(m.rssPerConn)} B per connection`);
  console.log(`     load clients  : CPU ${m.clientCpu.map((c) => `${fmt(c * 100)} %`).join(', ')} of a core; event-loop p99 ${m.clientLagP99.map((l) => `${fmt(l, 1)} ms`).join(', ')}; machine ${fmt(m.machineBusy * 100)} % busy (${cpus().length} cores): sim+feed+Redis+parent ${fmt(m.pipelineCpu * 100)} %, outside the bench ${fmt(m.foreignCpu * 100)} % of a core`);
}

function printComparison(sc: Scenario, g: Measurement, b: Measurement | undefined): void {
  const ratioCore = b && b.perCore > 0 ? g.perCore / b.perCore : NaN;
  if (sc.rate > 0 && b) {
    console.log(`  ── gateway / ws-baseline: ${fmt(ratioCore, 2)}× delivered msgs/s per server core; latency p50 ${(g.p50 / b.p50).toPrecision(3)}×, p99 ${(g.p99 / b.p99).toPrecision(3)}× (below 1 = gateway faster)${g.invalid.length || b.invalid.length ? ' — one side INVALID: ratios indicative only' : ''}`);
  }
  if (b) {
    console.log(`     RSS per connection: gateway ${fmt(g.rssPerConn)} B vs ws-baseline ${b ? fmt(b.rssPerConn) : 'n/a'} B`);
  }
  for (const t of sc.targets) {
    if (t === 'connections') {
      console.log(`  target ${fmt(TARGET.connections)} connections at ≤ ${fmt(TARGET.rssPerConnBytes)} B RSS each: ${fmt(g.connectionsOpen)} held (${verdict(g.connectionsOpen >= TARGET.connections)}), ${fmt(g.rssPerConn)} B each (${verdict(g.rssPerConn <= TARGET.rssPerConnBytes)})`);
    } else if (t === 'throughput') {
      const bad = g.invalid.length > 0 || !b || b.invalid.length > 0;
      const v = (ok: boolean) => (bad ? 'no verdict: run INVALID' : verdict(ok));
      console.log(`  target ≥ ${fmt(TARGET.perCore)} delivered msgs/s per gateway core: ${fmt(g.perCore)} (${g.invalid.length ? 'no verdict: run INVALID' : verdict(g.perCore >= TARGET.perCore)}); 0 gaps: ${fmt(g.gaps)} (${g.invalid.length ? 'no verdict: run INVALID' : verdict(g.gaps === 0)}); ≥ ${TARGET.vsBaseline}× ws baseline: ${fmt(ratioCore, 2)}× (${v(ratioCore >= TARGET.vsBaseline)})`);
    } else if (t === 'latency') {
      const ok = g.p99 <= TARGET.p99Ms && g.p999 <= TARGET.p999Ms;
      console.log(`  target 2,000 clients at 20,000 msgs/s p99 ≤ ${TARGET.p99Ms} ms / p99.9 ≤ ${TARGET.p999Ms} ms: ${g.invalid.length ? `NOT MEASURED (run invalid: ${g.invalid.join('; ')})` : `p99 ${fmt(g.p99, 2)} / p99.9 ${fmt(g.p999, 2)} ms (${verdict(ok)})`}`);
    }
  }
}

/** Redis ≥ 7 counts clients it disconnected over their output-buffer limit (pub/sub subscribers that fell behind). */
async function outputBufferDrops(admin: Redis): Promise<number> {
  return Number(/client_output_buffer_limit_disconnections:(\d+)/.exec(await admin.info('stats'))?.[1] ?? 0);
}

// ---------- main ----------
async function main(): Promise<void> {
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
    if (expectedLoad > CLIENT_CAPACITY * sc.clientProcesses) {
      console.log(`NOTE ${sc.name}: ~${fmt(expectedLoad)} msgs/s to read (uniform estimate) > ~${fmt(CLIENT_CAPACITY)} msgs/s per Node ws client process × ${sc.clientProcesses}: the load generator will limit this scenario.`);
    }
    runnable.push(sc);
  }
  if (!runnable.length) return;

  console.log(`bench:fanout on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, ulimit -n ${fmt(fds.soft)}`);
  const dir = mkdtempSync(join(tmpdir(), 'raxx-bench-fanout-'));
  chmodSync(dir, 0o755);
  started.push({ name: 'temp dir', stop: async () => rmSync(dir, { recursive: true, force: true }) });
  const redisServer = await startRedis({ port: await freePort(), dir: join(dir, 'redis'), persistent: false });
  started.push({ name: 'redis', stop: () => redisServer.stop() });
  const pg = await startPostgres({ port: await freePort(), dir: join(dir, 'pg'), durable: false });
  started.push({ name: 'postgres', stop: () => pg.stop() });
  const urls = await bootstrapDatabase({ adminUrl: pg.adminUrl, database: 'raxx_bench' });
  await runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner });
  const seedDb = createDb(urls.appUrl, { max: 1, appName: 'raxx-bench-seed' });
  await seedDemoUsers(seedDb.db).finally(() => seedDb.close());
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
      const sim = startRoleProcess('sim', {
        PORT: '0',
        SIM_KMS_PORT: '0',
        SIM_RATE: String(sc.rate),
        SIM_SYMBOLS: String(sc.symbols),
        SIM_HALT_PROBABILITY: '0',
        SIM_KEYS: 'bench-key:bench-secret:algo_trader_plus',
        SIM_SLOW_CLIENT_BYTES: String(256 * 1024 * 1024),
        LOG_LEVEL: 'warn',
      });
      scoped.push(sim);
      const simUrl = (await sim.ready).url;
      const assets = (await (await fetch(`${simUrl}/v2/assets`, { headers: { 'APCA-API-KEY-ID': 'bench-key', 'APCA-API-SECRET-KEY': 'bench-secret' } })).json()) as Array<{ symbol: string }>;
      const universe = assets.map((a) => a.symbol).slice(0, sc.symbols);
      const feed = startRoleProcess('feed', {
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

      const gateway = startRoleProcess('gateway', {
        RAXX_ENV: 'test',
        REDIS_URL: redisServer.url,
        DATABASE_URL: urls.appUrl,
        SESSION_JWT_SECRET: randomBytes(32).toString('hex'),
        GATEWAY_ALLOWED_ORIGINS: ORIGIN,
        LOG_LEVEL: 'warn',
      });
      scoped.push(gateway);
      const gwUrl = (await gateway.ready).url;
      const tokenRes = await fetch(`${gwUrl}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'demo-pro' }) });
      if (!tokenRes.ok) throw new Error(`/dev/token: HTTP ${tokenRes.status} ${await tokenRes.text()}`);
      const { token, tier } = (await tokenRes.json()) as { token: string; tier: string };
      if (tier !== 'pro') throw new Error(`demo-pro has tier ${tier}`);
      await sleep(1_000); // feed warm: LKG present, seqs running
      const pipelinePids = [sim.child.pid!, feed.child.pid!, redisServer.pid];
      const g = await measure(sc, 'gateway', gateway.child.pid!, pipelinePids, `${gwUrl.replace('http', 'ws')}/ws`, token, universe, ref);
      await gateway.stop('SIGTERM');
      scoped.splice(scoped.indexOf(gateway), 1);
      printMeasurement(sc, g);

      if (g.connectionsOpen === 0) throw new Error('no gateway connection opened: see the errors above');
      const baseline = startBaseline(redisServer.url);
      const baselineEntry: Stoppable = { name: 'ws-baseline', stop: baseline.stop };
      started.push(baselineEntry);
      let b: Measurement | undefined;
      try {
        const bUrl = await baseline.ready;
        b = await measure(sc, 'ws-baseline', baseline.child.pid!, pipelinePids, `${bUrl.replace('http', 'ws')}/ws`, token, universe, ref!);
        printMeasurement(sc, b);
      } catch (err) {
        console.log(`  ── ws-baseline: measurement FAILED: ${(err as Error).message}`);
      } finally {
        await baseline.stop();
        started.splice(started.indexOf(baselineEntry), 1);
      }
      if (sc.rate > 0) {
        const r = ref.hist();
        console.log(`  reference: a plain Redis subscriber in the parent sees frames (now − t) p50 ${fmt(r.getValueAtPercentile(50) / 1000, 2)} ms · p99 ${fmt(r.getValueAtPercentile(99) / 1000, 2)} ms (sim batching + feed + Redis, before any WebSocket server)`);
      }
      printComparison(sc, g, b);
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

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: stopping everything bench:fanout started`);
    void cleanup().finally(() => process.exit(130));
  });
}
try {
  await main();
} catch (err) {
  if (!interrupted) {
    console.error(err);
    process.exitCode = 1;
  }
} finally {
  await cleanup();
  process.exit(); // stray sockets (a client of a stopped server retrying) must not keep the bench alive
}
