// bench:actors — commands/s and submit→decision latency through the whole command path:
//   load generator (N forked processes, keep-alive HTTP, open loop) → POST /api/commands on ONE real gateway process
//   → XADD cmd:{pN} → accounts role process(es) (partitioned runtime, one PostgreSQL transaction per turn)
//   → private event log (Lua: XADD + PUBLISH) → the gateway's waiting request → HTTP 200 with the decision.
// Starts its own throw-away Redis and PostgreSQL (src/devstack, durable: fsync and synchronous_commit ON), migrates,
// seeds the users directly in PostgreSQL (raxx_batch), runs the scenarios (bench/actors/scenarios.ts) and stops
// everything it started.
// Usage: npx tsx bench/actors/run.ts [scenario…] [--users N] [--replicas N] [--partitions N] [--clients N]
//        [--cpu-prof DIR]   (default scenarios: steady-1000 steady-2000 steady-3000 ramp)
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { freePort, startPostgres, startRedis } from '../../src/devstack/index.js';
import { createSessionAuth } from '../../src/gateway/auth.js';
import { bootstrapDatabase, DB_ROLES, runMigrations } from '../../src/infra/db/index.js';
import { CONSUMER_GROUP, runtimeKeys } from '../../src/runtime/index.js';
import { startRoleProcess, type RoleProcess } from '../../test/support/processes.js';
import type { BenchUser, ChildMessage, ClientReport, ParentMessage } from './ipc.js';
import { DEFAULT_SCENARIOS, RAMP_PASS, SCENARIOS, type Scenario, type Step } from './scenarios.js';

const USER_HZ = 100;
/** The generator is late when its dispatch lag p99 exceeds this: latency would then be the client's, not the server's. */
const SEND_LAG_P99_LIMIT_MS = 10;
/** A load-generator process above this share of a core cannot keep its schedule reliably. */
const CLIENT_CPU_LIMIT = 0.9;
/** Cores used by processes outside the bench above which the run is flagged SHARED (figures are then conservative). */
const FOREIGN_CPU_NOTE = 0.25;
const CLIENT_TIMEOUT_MS = 10_000; // the gateway answers 504 after its own 5 s wait
const SOCKETS_PER_CLIENT = 1024;
const ISSUER = 'raxx-bench-actors';
const AUDIENCE = 'raxx-stream';
const TARGETS = { p99At1000Ms: 30, sustained: 2_000, stretch: 3_000 };
/** Documented in docs/commands-api.md and src/domain (pro_plus): the limits the offered load must stay under. */
const LIMITS = { commandsPerUserPerSecond: 20, httpPerUserPerMinute: 3_000 };

// ---------- arguments ----------
function parseArgs(argv: string[]) {
  const o = { names: [] as string[], users: 1_000, replicas: 1, partitions: 64, clients: 2, cpuProf: undefined as string | undefined, pgStats: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = () => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} needs a positive integer`);
      return n;
    };
    if (a === '--users') o.users = num();
    else if (a === '--replicas') o.replicas = num();
    else if (a === '--partitions') o.partitions = num();
    else if (a === '--clients') o.clients = num();
    else if (a === '--cpu-prof') o.cpuProf = resolve(argv[++i] ?? 'bench-actors-profiles');
    else if (a === '--pg-stats') o.pgStats = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.names.push(a);
  }
  if (o.names.length === 0) o.names = [...DEFAULT_SCENARIOS];
  if (o.users < 1_000) console.log(`NOTE: --users ${o.users} is below the 1,000 users the benchmark is specified for`);
  return o;
}

// ---------- /proc ----------
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / USER_HZ;
  } catch {
    return 0; // exited
  }
}
/** CPU seconds of `root` and every live process whose parent is `root` (PostgreSQL: postmaster + backends + workers). */
function treeCpu(root: number): Map<number, number> {
  const out = new Map<number, number>([[root, cpuSeconds(root)]]);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === root) out.set(Number(d), (Number(f[11]) + Number(f[12])) / USER_HZ);
    } catch {
      /* gone */
    }
  }
  return out;
}
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');
const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });

// ---------- everything we start is stopped in `cleanup` ----------
const started: Array<{ name: string; stop(): Promise<unknown> }> = [];
async function cleanup(): Promise<void> {
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
}

interface ClientProc {
  child: ChildProcess;
  next(timeoutMs: number): Promise<ChildMessage>;
  send(m: ParentMessage): void;
  exited: Promise<unknown>;
}
function forkClient(): ClientProc {
  const child = fork(resolve(import.meta.dirname, 'client.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((r) => child.once('exit', r));
  const queue: ChildMessage[] = [];
  const waiting: Array<(m: ChildMessage) => void> = [];
  child.on('message', (m: ChildMessage) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return {
    child,
    exited,
    send: (m) => child.connected && child.send(m),
    next: (timeoutMs) =>
      new Promise((res, rej) => {
        const q = queue.shift();
        if (q) return res(q);
        const timer = setTimeout(() => rej(new Error(`client ${child.pid}: no message in ${timeoutMs} ms`)), timeoutMs);
        waiting.push((m) => (clearTimeout(timer), res(m)));
        void exited.then(() => rej(new Error(`client ${child.pid} exited`)));
      }),
  };
}

// ---------- one step ----------
interface Servers {
  gateway: RoleProcess;
  gatewayUrl: string;
  replicas: Array<{ proc: RoleProcess; url: string }>;
  redisPid: number;
  pgPid: number;
  admin: Redis;
  batchSql: postgres.Sql;
  ownerSql: postgres.Sql;
  partitions: number;
}

/** The generators' counters summed, plus what the parent measured. */
interface StepResult extends Pick<ClientReport, 'scheduled' | 'accepted' | 'rejected' | 'pending' | 'timeouts' | 'errors'> {
  rate: number;
  seconds: number;
  achieved: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  lagP99: number;
  lagMax: number;
  loopP99: number[];
  maxInFlight: number;
  cpu: { gateway: number; replicas: number[]; redis: number; postgres: number; clients: number[]; parent: number; machine: number; foreign: number };
  meanBatch: number;
  pgRows: number;
  answered: number;
  /** Stream entries still pending 60 s after the step (the next step starts with them). */
  backlog: number;
  /** Per processed command: rows inserted (+) / updated (~) / deleted (-) and scans, per table. */
  pgWork: string;
  commitsPerCommand: number;
  loadAvg: number[];
  invalid: string[];
  shared: boolean;
}

async function replicaStats(s: Servers): Promise<Array<{ applied: number; turns: number }>> {
  return Promise.all(
    s.replicas.map(async (r) => {
      const j = (await (await fetch(`${r.url}/healthz`)).json()) as { applied?: number; turns?: number };
      return { applied: j.applied ?? 0, turns: j.turns ?? NaN };
    }),
  );
}

async function streamBacklog(s: Servers): Promise<number> {
  const pipe = s.admin.pipeline();
  for (let p = 0; p < s.partitions; p++) pipe.xpending(runtimeKeys.stream(p), CONSUMER_GROUP);
  const replies = (await pipe.exec()) ?? [];
  let n = 0;
  for (const [err, r] of replies) if (!err && Array.isArray(r)) n += Number(r[0] ?? 0);
  return n;
}

type TableStats = Map<string, { ins: number; upd: number; del: number; seq: number; idx: number }>;
/** What PostgreSQL did per table (cumulative statistics, owner role): rows written and scans, to divide by commands. */
async function tableStats(s: Servers): Promise<{ tables: TableStats; commits: number }> {
  const rows = await s.ownerSql<{ relname: string; ins: string; upd: string; del: string; seq: string; idx: string }[]>`
    select relname, n_tup_ins::text as ins, n_tup_upd::text as upd, n_tup_del::text as del,
           coalesce(seq_scan, 0)::text as seq, coalesce(idx_scan, 0)::text as idx
    from pg_stat_user_tables`;
  const [db] = await s.ownerSql<{ c: string }[]>`select xact_commit::text as c from pg_stat_database where datname = current_database()`;
  return { tables: new Map(rows.map((r) => [r.relname, { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del), seq: Number(r.seq), idx: Number(r.idx) }])), commits: Number(db!.c) };
}

async function processedRows(s: Servers): Promise<number> {
  const [row] = await s.batchSql<{ n: string }[]>`select count(*)::text as n from processed_commands`;
  return Number(row!.n);
}

async function runStep(step: Step, s: Servers, clients: ClientProc[]): Promise<StepResult> {
  const loadAvg = loadavg();
  const rows0 = await processedRows(s);
  const pg0 = await tableStats(s);
  const C = clients.length;
  const startAt = Date.now() + 500;
  const windowStart = startAt + step.warmupSeconds * 1000;
  const end = windowStart + step.seconds * 1000;
  const reportsP = clients.map((c) => c.next(end - Date.now() + CLIENT_TIMEOUT_MS + 60_000));
  clients.forEach((c, k) =>
    c.send({ type: 'run', rate: step.rate / C, startAt, offsetMs: (k * 1000) / step.rate, warmupMs: step.warmupSeconds * 1000, measureMs: step.seconds * 1000 }),
  );
  const pids = () => ({
    gateway: cpuSeconds(s.gateway.child.pid!),
    replicas: s.replicas.map((r) => cpuSeconds(r.proc.child.pid!)),
    redis: cpuSeconds(s.redisPid),
    pg: treeCpu(s.pgPid),
    clients: clients.map((c) => cpuSeconds(c.child.pid!)),
    parent: process.cpuUsage(),
    machine: machineTicks(),
  });
  await sleep(windowStart - Date.now());
  const a = pids();
  const st0 = await replicaStats(s);
  await sleep(end - Date.now());
  const b = pids();
  const st1 = await replicaStats(s);
  const reports = await Promise.all(reportsP);
  for (const r of reports) if (r.type !== 'report') throw new Error(`load generator: ${r.type === 'error' ? r.message : r.type}`);
  const reps = reports as ClientReport[];

  const el = step.seconds;
  const pgCpu = [...b.pg].reduce((sum, [pid, v]) => sum + v - (a.pg.get(pid) ?? 0), 0) / el;
  const parentUse = process.cpuUsage(a.parent);
  const cpu = {
    gateway: (b.gateway - a.gateway) / el,
    replicas: b.replicas.map((v, i) => (v - a.replicas[i]!) / el),
    redis: (b.redis - a.redis) / el,
    postgres: pgCpu,
    clients: b.clients.map((v, i) => (v - a.clients[i]!) / el),
    parent: (parentUse.user + parentUse.system) / 1e6 / el,
    machine: ((b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total)) * cpus().length,
    foreign: 0,
  };
  const ours = cpu.gateway + cpu.replicas.reduce((x, y) => x + y, 0) + cpu.redis + cpu.postgres + cpu.clients.reduce((x, y) => x + y, 0) + cpu.parent;
  cpu.foreign = Math.max(0, cpu.machine - ours);

  const lat = newHist();
  const lag = newHist();
  for (const r of reps) {
    lat.add(hdr.decodeFromCompressedBase64(r.latency, 32, false));
    lag.add(hdr.decodeFromCompressedBase64(r.sendLag, 32, false));
  }
  const pct = (h: hdr.Histogram, p: number) => (h.totalCount ? h.getValueAtPercentile(p) / 1000 : NaN);
  const errors: Record<string, number> = {};
  for (const r of reps) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const sum = (f: (r: ClientReport) => number) => reps.reduce((x, r) => x + f(r), 0);

  // Let the actors finish what is still queued (504s, timeouts) before counting rows and starting the next step.
  const drainBy = Date.now() + 60_000;
  let backlog = await streamBacklog(s);
  while (backlog > 0 && Date.now() < drainBy) {
    await sleep(250);
    backlog = await streamBacklog(s);
  }
  const rows1 = await processedRows(s);
  await sleep(1_100); // cumulative statistics are flushed about once a second
  const pg1 = await tableStats(s);
  const perRow = (n: number) => (rows1 - rows0 > 0 ? n / (rows1 - rows0) : NaN);
  const pgWork = [...pg1.tables]
    .map(([t, v]) => {
      const b = pg0.tables.get(t) ?? { ins: 0, upd: 0, del: 0, seq: 0, idx: 0 };
      return { t, ins: perRow(v.ins - b.ins), upd: perRow(v.upd - b.upd), del: perRow(v.del - b.del), scans: perRow(v.seq - b.seq + v.idx - b.idx) };
    })
    .filter((x) => x.ins + x.upd + x.del + x.scans > 0.01)
    .map((x) => `${x.t} ${[x.ins > 0.01 && `+${fmt(x.ins, 2)}`, x.upd > 0.01 && `~${fmt(x.upd, 2)}`, x.del > 0.01 && `-${fmt(x.del, 2)}`, x.scans > 0.01 && `${fmt(x.scans, 2)} scans`].filter(Boolean).join(' ')}`)
    .join(' · ');
  const applied = st1.reduce((x, r) => x + r.applied, 0) - st0.reduce((x, r) => x + r.applied, 0);
  const turns = st1.reduce((x, r) => x + r.turns, 0) - st0.reduce((x, r) => x + r.turns, 0);

  const res: StepResult = {
    rate: step.rate,
    seconds: el,
    scheduled: sum((r) => r.scheduled),
    accepted: sum((r) => r.accepted),
    rejected: sum((r) => r.rejected),
    pending: sum((r) => r.pending),
    timeouts: sum((r) => r.timeouts),
    errors,
    achieved: sum((r) => r.completedInWindow) / el,
    p50: pct(lat, 50),
    p90: pct(lat, 90),
    p99: pct(lat, 99),
    p999: pct(lat, 99.9),
    max: lat.totalCount ? lat.maxValue / 1000 : NaN,
    lagP99: pct(lag, 99),
    lagMax: lag.totalCount ? lag.maxValue / 1000 : NaN,
    loopP99: reps.map((r) => r.loopP99Ms),
    maxInFlight: sum((r) => r.maxInFlight),
    cpu,
    meanBatch: turns > 0 ? applied / turns : NaN,
    pgRows: rows1 - rows0,
    answered: sum((r) => r.answered),
    backlog,
    pgWork,
    commitsPerCommand: perRow(pg1.commits - pg0.commits),
    loadAvg,
    invalid: [],
    shared: cpu.foreign > FOREIGN_CPU_NOTE,
  };
  if (res.lagP99 > SEND_LAG_P99_LIMIT_MS) res.invalid.push(`load generator behind its schedule: dispatch lag p99 ${fmt(res.lagP99, 1)} ms > ${SEND_LAG_P99_LIMIT_MS} ms`);
  cpu.clients.forEach((c, i) => c >= CLIENT_CPU_LIMIT && res.invalid.push(`load-generator process ${i} at ${fmt(c * 100)} % of a core`));
  return res;
}

function stepPasses(r: StepResult): boolean {
  return r.invalid.length === 0 && r.timeouts === 0 && r.pending === 0 && Object.keys(r.errors).length === 0 && r.p99 < RAMP_PASS.p99Ms && r.achieved >= r.rate * RAMP_PASS.minAchievedRatio;
}

function printStep(r: StepResult, users: number): void {
  const tag = r.invalid.length ? `INVALID — ${r.invalid.join('; ')}` : 'valid';
  console.log(`  ── ${fmt(r.rate)} commands/s offered (${fmt(r.rate / users, 2)} per user per s): ${tag}${r.shared ? ' · SHARED machine' : ''}`);
  const errs = Object.entries(r.errors).map(([k, v]) => `${k} ×${fmt(v)}`).join(', ');
  console.log(`     requests      : ${fmt(r.scheduled)} scheduled in ${r.seconds} s → ${fmt(r.accepted)} accepted, ${fmt(r.rejected)} rejected, ${fmt(r.pending)} 504 decision_pending, ${fmt(r.timeouts)} client timeouts (${CLIENT_TIMEOUT_MS / 1000} s), errors: ${errs || 'none'}`);
  console.log(`     achieved      : ${fmt(r.achieved)} decisions/s answered in the window (${fmt((r.achieved / r.rate) * 100, 1)} % of offered); max ${fmt(r.maxInFlight)} in flight`);
  const l = `p50 ${fmt(r.p50, 2)} · p90 ${fmt(r.p90, 2)} · p99 ${fmt(r.p99, 2)} · p99.9 ${fmt(r.p999, 2)} · max ${fmt(r.max, 1)} ms`;
  console.log(`     submit→decision: ${r.invalid.length ? `(not the server's: ${l})` : l}`);
  console.log(`     generator     : dispatch lag p99 ${fmt(r.lagP99, 2)} ms, max ${fmt(r.lagMax, 1)} ms; event-loop p99 ${r.loopP99.map((x) => `${fmt(x, 1)} ms`).join(', ')}`);
  const c = r.cpu;
  console.log(
    `     CPU (% core)  : gateway ${fmt(c.gateway * 100)} · accounts ${c.replicas.map((x) => fmt(x * 100)).join(' + ')} · redis-server ${fmt(c.redis * 100)} · postgres ${fmt(c.postgres * 100)} · load generator ${c.clients.map((x) => fmt(x * 100)).join(' + ')} · bench parent ${fmt(c.parent * 100)} · machine ${fmt(c.machine * 100)} of ${cpus().length * 100} (outside the bench ${fmt(c.foreign * 100)})`,
  );
  const perCmd = r.achieved >= 1 ? (c.machine / r.achieved) * 1e6 : NaN;
  console.log(`     per command   : ${fmt(perCmd)} µs of machine CPU; mean batch ${fmt(r.meanBatch, 2)} commands per turn; load average before ${r.loadAvg.map((x) => fmt(x, 2)).join(' ')}`);
  const rowsNote = r.pgRows >= r.answered ? 'ok' : 'FEWER ROWS THAN DECISIONS ANSWERED';
  console.log(`     PostgreSQL    : ${fmt(r.pgRows)} processed_commands rows added for ${fmt(r.answered)} requests answered 200 (warm-up included): ${rowsNote}`);
  console.log(`     PG per command: ${r.pgWork || 'n/a'}; ${fmt(r.commitsPerCommand, 2)} commits (all sessions)`);
  if (r.backlog > 0) console.log(`     NOT DRAINED   : ${fmt(r.backlog)} stream entries still pending 60 s after the step: the next step starts behind`);
}

// ---------- main ----------
interface Outcome {
  scenario: Scenario;
  results: StepResult[];
  maxSustained?: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const unknown = args.names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const scenarios = args.names.map((n) => SCENARIOS.find((s) => s.name === n)!);
  const topRate = Math.max(...scenarios.flatMap((s) => s.steps.map((x) => x.rate)));
  if (topRate / args.users > LIMITS.commandsPerUserPerSecond || (topRate / args.users) * 60 > LIMITS.httpPerUserPerMinute) {
    throw new Error(`${fmt(topRate)} commands/s over ${args.users} users exceeds the per-user limits (${LIMITS.commandsPerUserPerSecond}/s commands, ${LIMITS.httpPerUserPerMinute}/min HTTP): use more --users`);
  }

  console.log(`bench:actors on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; load average ${loadavg().map((x) => fmt(x, 2)).join(' ')}`);
  console.log(`  ${fmt(args.users)} users (pro_plus, one paper account each), ${args.replicas} accounts replica(s), ${args.partitions} partitions, ${args.clients} load-generator process(es)`);
  const dir = mkdtempSync(join(tmpdir(), 'raxx-bench-actors-'));
  chmodSync(dir, 0o755);
  started.push({ name: 'temp dir', stop: async () => rmSync(dir, { recursive: true, force: true }) });
  const redisServer = await startRedis({ port: await freePort(), dir: join(dir, 'redis'), persistent: false });
  started.push({ name: 'redis', stop: () => redisServer.stop() });
  // --pg-stats: pg_stat_statements (nested statements too: the audit trigger's), printed after the scenarios.
  const pgSettings = args.pgStats ? ['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all', 'pg_stat_statements.track_planning=on'] : [];
  const pg = await startPostgres({ port: await freePort(), dir: join(dir, 'pg'), durable: true, settings: pgSettings });
  started.push({ name: 'postgres', stop: () => pg.stop() });
  const urls = await bootstrapDatabase({ adminUrl: pg.adminUrl, database: 'raxx_bench' });
  await runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner });

  // Users and their accounts straight into PostgreSQL as raxx_batch (the workers' role; RLS lets it see every tenant).
  const batchSql = postgres(urls.batchUrl, { max: 2, onnotice: () => {} });
  started.push({ name: 'batch pool', stop: () => batchSql.end({ timeout: 2 }) });
  const ownerSql = postgres(urls.ownerUrl, { max: 1, onnotice: () => {} });
  started.push({ name: 'owner pool', stop: () => ownerSql.end({ timeout: 2 }) });
  const ids = Array.from({ length: args.users }, (_, i) => `bench-${String(i).padStart(6, '0')}`);
  await batchSql`insert into users ${batchSql(ids.map((id) => ({ id, email: `${id}@bench.invalid`, tier: 'pro_plus', role: 'user' })))}`;
  await batchSql`insert into paper_accounts ${batchSql(ids.map((id) => ({ user_id: id, starting_cash: '100000', cash: '100000' })))}`;
  const [seeded] = await batchSql<{ n: string }[]>`select count(*)::text as n from paper_accounts a join users u on u.id = a.user_id where u.tier = 'pro_plus' and a.status = 'active'`;
  console.log(`  seeded ${seeded!.n} active paper accounts of pro_plus users`);

  const admin = new Redis(redisServer.url);
  admin.on('error', () => {});
  started.push({ name: 'redis admin', stop: async () => admin.disconnect() });

  const secret = randomBytes(32).toString('hex');
  const common = {
    RAXX_ENV: 'test',
    REDIS_URL: redisServer.url,
    DATABASE_URL: urls.appUrl,
    ACCOUNTS_PARTITIONS: String(args.partitions),
    LOG_LEVEL: 'warn',
    ...(args.cpuProf ? { NODE_OPTIONS: `--import ${resolve(import.meta.dirname, 'cpu-profile.mjs')}`, RAXX_BENCH_CPU_PROF_DIR: args.cpuProf } : {}),
  };
  if (args.cpuProf) mkdirSync(args.cpuProf, { recursive: true });
  const roles: RoleProcess[] = [];
  started.push({ name: 'roles', stop: async () => Promise.all(roles.map((r) => r.stop('SIGTERM'))) });
  const replicas: Servers['replicas'] = [];
  for (let i = 0; i < args.replicas; i++) {
    const proc = startRoleProcess('accounts', common);
    roles.push(proc);
    replicas.push({ proc, url: (await proc.ready).url });
  }
  const gateway = startRoleProcess('gateway', { ...common, SESSION_JWT_SECRET: secret, SESSION_JWT_ISSUER: ISSUER, SESSION_JWT_AUDIENCE: AUDIENCE });
  roles.push(gateway);
  const gatewayUrl = (await gateway.ready).url;
  // Every partition owned before traffic starts.
  const ownedBy = Date.now() + 30_000;
  for (;;) {
    const owned = (await Promise.all(replicas.map(async (r) => ((await (await fetch(`${r.url}/healthz`)).json()) as { owned?: number[] }).owned?.length ?? 0))).reduce((x, y) => x + y, 0);
    if (owned === args.partitions) break;
    if (Date.now() > ownedBy) throw new Error(`only ${owned} of ${args.partitions} partitions owned after 30 s`);
    await sleep(200);
  }

  const auth = createSessionAuth({ issuer: ISSUER, audience: AUDIENCE, secret: { current: () => secret } });
  const users: BenchUser[] = await Promise.all(ids.map(async (id) => ({ id, token: await auth.sign({ sub: id, role: 'user' }, 6 * 3600) })));

  const clients: ClientProc[] = [];
  started.push({
    name: 'clients',
    stop: async () => {
      for (const c of clients) c.send({ type: 'stop' });
      await Promise.race([Promise.all(clients.map((c) => c.exited)), sleep(3_000)]);
      for (const c of clients) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    },
  });
  for (let k = 0; k < args.clients; k++) clients.push(forkClient());
  const readyP = clients.map((c) => c.next(30_000));
  // Users are split between the client processes, so each user's commands come from one process, in order.
  clients.forEach((c, k) => c.send({ type: 'config', url: gatewayUrl, users: users.filter((_, i) => i % args.clients === k), sockets: SOCKETS_PER_CLIENT, timeoutMs: CLIENT_TIMEOUT_MS }));
  await Promise.all(readyP);

  const servers: Servers = { gateway, gatewayUrl, replicas, redisPid: redisServer.pid, pgPid: pg.pid, admin, batchSql, ownerSql, partitions: args.partitions };
  // Warm the gateway's tier cache, JIT and connection pools; not measured.
  await runStep({ rate: 500, seconds: 3, warmupSeconds: 2 }, servers, clients);

  let statsSql: postgres.Sql | undefined;
  if (args.pgStats) {
    // As the superuser, in the bench database: the extension and every role's statements.
    statsSql = postgres(pg.adminUrl.replace(/\/postgres$/, '/raxx_bench'), { max: 1, onnotice: () => {} });
    started.push({ name: 'stats pool', stop: () => statsSql!.end({ timeout: 2 }) });
    await statsSql`create extension if not exists pg_stat_statements`;
    await statsSql`select pg_stat_statements_reset()`;
  }
  const outcomes: Outcome[] = [];
  for (const sc of scenarios) {
    console.log(`\n■ ${sc.name}: ${sc.description}`);
    const out: Outcome = { scenario: sc, results: [] };
    outcomes.push(out);
    for (const step of sc.steps) {
      const r = await runStep(step, servers, clients);
      out.results.push(r);
      printStep(r, args.users);
      if (sc.kind === 'ramp') {
        if (!stepPasses(r)) {
          console.log(`     ramp stops: ${r.invalid.length ? 'run INVALID' : 'not sustained'} at ${fmt(r.rate)} commands/s`);
          break;
        }
        out.maxSustained = r.rate;
      }
      await sleep(2_000);
    }
  }
  printSummary(outcomes, args);
  if (statsSql) await printStatementStats(statsSql);
}

/** The statements that took most of PostgreSQL's time during the scenarios (pg_stat_statements, warm-up excluded). */
async function printStatementStats(statsSql: postgres.Sql): Promise<void> {
  const rows = await statsSql<{ calls: string; total_ms: number; plan_ms: number; mean_ms: number; blks: string; query: string }[]>`
    select calls::text, total_exec_time as total_ms, total_plan_time as plan_ms, mean_exec_time as mean_ms, (shared_blks_hit + shared_blks_read)::text as blks,
           regexp_replace(query, '[[:space:]]+', ' ', 'g') as query
      from pg_stat_statements order by total_exec_time desc limit 25`;
  const [{ total } = { total: 0 }] = await statsSql<{ total: number }[]>`select coalesce(sum(total_exec_time), 0)::float8 as total from pg_stat_statements where toplevel`;
  const [{ plan } = { plan: 0 }] = await statsSql<{ plan: number }[]>`select coalesce(sum(total_plan_time), 0)::float8 as plan from pg_stat_statements where toplevel`;
  console.log(`\n■ PostgreSQL statements by execution time (pg_stat_statements, top-level: executing ${fmt(total, 0)} ms, planning ${fmt(plan, 0)} ms)`);
  console.log('      exec       plan       calls   µs/call  blocks/call  statement');
  for (const r of rows) {
    console.log(`  ${fmt(r.total_ms, 0).padStart(8)} ms ${fmt(r.plan_ms, 0).padStart(6)} ms ${fmt(Number(r.calls)).padStart(9)} calls  ${fmt(r.mean_ms * 1000, 0).padStart(6)} µs  ${fmt(Number(r.blks) / Math.max(1, Number(r.calls)), 1).padStart(6)} blk  ${r.query.slice(0, 200)}`);
  }
}

function printSummary(outcomes: Outcome[], args: ReturnType<typeof parseArgs>): void {
  console.log(`\n■ summary (${fmt(args.users)} users, ${args.replicas} accounts replica(s), ${args.partitions} partitions, ${args.clients} generator processes; latency = intended send → HTTP 200 with the decision)`);
  console.log('| scenario | offered/s | achieved/s | accepted / rejected / 504 / timeouts / errors | p50 ms | p99 ms | p99.9 ms | max ms | batch | gateway | accounts | redis | postgres | generator | machine | outside | valid |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const o of outcomes) {
    for (const r of o.results) {
      const c = r.cpu;
      const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
      const p = (x: number) => `${fmt(x * 100)} %`;
      console.log(
        `| ${o.scenario.name} | ${fmt(r.rate)} | ${fmt(r.achieved)} | ${fmt(r.accepted)} / ${fmt(r.rejected)} / ${fmt(r.pending)} / ${fmt(r.timeouts)} / ${fmt(errs)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.p999, 1)} | ${fmt(r.max, 1)} | ${fmt(r.meanBatch, 2)} | ${p(c.gateway)} | ${c.replicas.map(p).join(' + ')} | ${p(c.redis)} | ${p(c.postgres)} | ${c.clients.map(p).join(' + ')} | ${p(c.machine)} | ${p(c.foreign)} | ${r.invalid.length ? 'INVALID' : 'valid'}${r.shared ? ' (shared)' : ''} |`,
      );
    }
  }
  console.log('\n■ targets');
  const find = (name: string) => outcomes.find((o) => o.scenario.name === name)?.results[0];
  const verdict = (r: StepResult | undefined, ok: (r: StepResult) => boolean) => (!r ? 'not run' : r.invalid.length ? `NO VERDICT (run INVALID: ${r.invalid.join('; ')})` : ok(r) ? 'PASS' : 'FAIL');
  const r1 = find('steady-1000');
  console.log(`  p99 < ${TARGETS.p99At1000Ms} ms at 1,000/s (no timeouts): ${r1 ? `p99 ${fmt(r1.p99, 2)} ms — ` : ''}${verdict(r1, (r) => r.p99 < TARGETS.p99At1000Ms && r.timeouts + r.pending === 0)}`);
  const r2 = find('steady-2000');
  console.log(`  ≥ ${fmt(TARGETS.sustained)} commands/s sustained (p99 < ${RAMP_PASS.p99Ms} ms, no timeouts/errors, ≥ ${RAMP_PASS.minAchievedRatio * 100} % achieved): ${r2 ? `${fmt(r2.achieved)}/s, p99 ${fmt(r2.p99, 1)} ms — ` : ''}${verdict(r2, stepPasses)}`);
  const r3 = find('steady-3000');
  console.log(`  stretch ${fmt(TARGETS.stretch)} commands/s, same criteria: ${r3 ? `${fmt(r3.achieved)}/s, p99 ${fmt(r3.p99, 1)} ms — ` : ''}${verdict(r3, stepPasses)}`);
  const ramp = outcomes.find((o) => o.scenario.kind === 'ramp');
  if (ramp) {
    const last = ramp.results.at(-1);
    const why = last && !stepPasses(last) ? ` (stopped at ${fmt(last.rate)}/s: ${last.invalid.length ? 'INVALID run, the generator limit' : `p99 ${fmt(last.p99, 1)} ms, ${fmt(last.achieved)}/s achieved, ${last.timeouts + last.pending} timeouts`})` : ' (every step passed)';
    console.log(`  max sustained rate (ramp): ${ramp.maxSustained ? `${fmt(ramp.maxSustained)} commands/s` : 'none'}${why}`);
  }
  if (args.cpuProf) console.log(`  CPU profiles of the role processes: ${args.cpuProf} (written when they stop)`);
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: stopping everything bench:actors started`);
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
  process.exit();
}
