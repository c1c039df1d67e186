// bench:actors — commands/s and submit→decision latency through the whole command path:
//   load generator (native by default, bench/shared/native/http-load.c; keep-alive HTTP, open loop) → POST /api/commands on ONE real gateway process
//   → XADD cmd:{pN} → accounts role process(es) (partitioned runtime, one PostgreSQL transaction per turn)
//   → private event log (Lua: XADD + PUBLISH) → the gateway's waiting request → HTTP 200 with the decision.
// Starts its own throw-away Redis and PostgreSQL (src/devstack, durable: fsync and synchronous_commit ON), migrates,
// seeds the users directly in PostgreSQL (raxx_batch), runs the scenarios (bench/actors/scenarios.ts) and stops
// everything it started.
// Usage: npx tsx bench/actors/run.ts [scenario…] [--users N] [--replicas N] [--partitions N] [--clients N]
//        [--cpu-prof DIR]   (default scenarios: steady-1000 steady-2000 steady-3000 ramp)
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import type { RoleProcess } from '../../test/support/processes.js';
import { commonArgs, COMMON_OPTIONS, parseOptions } from '../shared/args.js';
import { roleLauncher } from '../shared/roles.js';
import { redisBusiestLine, redisCommandStats, redisFootprint, redisFootprintLine } from '../shared/redis-footprint.js';
import { checkpointDuring, drainStreams, startAccountsAndGateway, type StepServers } from '../shared/runtime.js';
import { runScenarios, type Outcome as ScenarioOutcome } from '../shared/scenarios.js';
import { signSessionTokens } from '../shared/sessions.js';
import { STOLEN_NOTE, validity } from '../shared/validity.js';
import { forkChild, runBench, Started, stopChildren, type ForkedChild } from '../shared/children.js';
import { pgWorkPer, tableStats } from '../shared/pg-work.js';
import { cpuSeconds, machineCores, machineLine, machineTicks, stolenCores, threadCpu, threadShares, treeCpu, treeDelta, type ThreadCpu } from '../shared/proc.js';
import { benchUserIds, printStatementStats, seedProPlusUsers, startBenchStack } from '../shared/stack.js';
import { fmt, latencyLine, mergeHists, pctMs, sleep, summarize, type LatencySummary } from '../shared/util.js';
import { commandLine, turnHistograms, turnLine } from '../shared/turn-metrics.js';
import { gcLine, gcPauses } from '../shared/gc-pauses.js';
import { diskLine, type DiskWindow } from '../shared/disk-probe.js';
import type { BenchUser, ChildMessage, ClientReport, ParentMessage } from './ipc.js';
import { nativeClient } from './native-client.js';
import { buildHttpLoad } from '../shared/native-http-load.js';
import { DEFAULT_SCENARIOS, RAMP_PASS, SCENARIOS, type Scenario, type Step } from './scenarios.js';

const CLIENT_TIMEOUT_MS = 10_000; // the gateway answers 504 after its own 5 s wait
// Keep-alive connections per generator process: the most requests one process has in flight (BENCH_SOCKETS overrides).
const SOCKETS_PER_CLIENT = Number(process.env.BENCH_SOCKETS ?? 1024);
const ISSUER = 'raxx-bench-actors';
const AUDIENCE = 'raxx-stream';
const TARGETS = { p99At1000Ms: 30, sustained: 2_000, stretch: 3_000 };
/** Documented in docs/commands-api.md and src/domain (pro_plus): the limits the offered load must stay under. */
const LIMITS = { commandsPerUserPerSecond: 20, httpPerUserPerMinute: 3_000 };

// ---------- arguments ----------
function parseArgs(argv: string[]) {
  const { names, opts } = parseOptions(argv, COMMON_OPTIONS);
  // The native generator (bench/shared/native/http-load.c) by default: one process is plenty, and a Node generator
  // costs ~200 µs of CPU per request (20 % of a core at 1,000/s), taken from the system under test on 2 cores.
  // BENCH_NODE_CLIENTS=1 uses the Node generators (client.ts) instead, two by default, as every figure before
  // 2026-11-23 23:00 UTC did.
  const nodeClients = process.env.BENCH_NODE_CLIENTS === '1';
  return { ...commonArgs(names, opts, DEFAULT_SCENARIOS), clients: opts.clients ?? (nodeClients ? 2 : 1), nodeClients };
}

const started = new Started();
type ClientProc = ForkedChild<ParentMessage, ChildMessage>;
const forkClient = (): ClientProc => forkChild<ParentMessage, ChildMessage>(resolve(import.meta.dirname, 'client.ts'));

// ---------- one step ----------
interface Servers extends StepServers {
  gatewayUrl: string;
  /** The gateway's internal listener (its /metrics). */
  gatewayOpsUrl: string;
}

/** The generators' counters summed, plus what the parent measured. */
interface StepResult extends Pick<ClientReport, 'scheduled' | 'accepted' | 'rejected' | 'pending' | 'timeouts' | 'errors'>, LatencySummary {
  rate: number;
  seconds: number;
  achieved: number;
  lagP99: number;
  /** Requests that waited for a connection the server held (native generator). */
  connWaits: number;
  lagMax: number;
  loopP99: number[];
  maxInFlight: number;
  cpu: { gateway: number; replicas: number[]; redis: number; postgres: number; clients: number[]; parent: number; machine: number; stolen: number; foreign: number };
  /** The gateway's and each replica's CPU by thread (cores): where a Node process's time goes, JavaScript or I/O. */
  threads: { gateway: ThreadCpu; replicas: ThreadCpu[] };
  /** GC pauses in the window (gc-pauses.ts): gateway, then each replica. */
  gc: { gateway: string; replicas: string[] };
  meanBatch: number;
  /** Committed turns in the window by kind, from the replicas' turn histograms (turnLine). */
  turns: string;
  /** Commands from their stream append until their turn began and until decided (commandLine). */
  commands: string;
  /** The independent disk probe's flushes in the window (disk-probe.ts). */
  disk: DiskWindow;
  /** Soak steps: when the window's CHECKPOINT ran (s into the window) and how long it took (ms). */
  checkpoint?: { atSeconds: number; ms: number };
  pgRows: number;
  answered: number;
  /** Stream entries still pending 60 s after the step (the next step starts with them). */
  backlog: number;
  /** Per processed command: rows inserted (+) / updated (~) / deleted (-) and scans, per table. */
  pgWork: string;
  commitsPerCommand: number;
  walBytesPerCommand: number;
  /** Redis keys and memory the step left per command (redis-footprint.ts). */
  redisWork: string;
  /** Redis commands by server time during the window, per command applied (redis-footprint.ts). */
  redisTop: string;
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

async function processedRows(s: Servers): Promise<number> {
  const [row] = await s.batchSql<{ n: string }[]>`select count(*)::text as n from processed_commands`;
  return Number(row!.n);
}

async function runStep(step: Step, s: Servers, clients: ClientProc[]): Promise<StepResult> {
  const loadAvg = loadavg();
  const rows0 = await processedRows(s);
  const pg0 = await tableStats(s.ownerSql);
  const redis0 = await redisFootprint(s.admin);
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
    threads: { gateway: threadCpu(s.gateway.child.pid!), replicas: s.replicas.map((r) => threadCpu(r.proc.child.pid!)) },
  });
  const checkpoint = checkpointDuring(step, windowStart, s);
  await sleep(windowStart - Date.now());
  const a = pids();
  s.disk.mark();
  const replicaUrls = s.replicas.map((r) => r.url);
  const gcUrls = [s.gatewayOpsUrl, ...replicaUrls];
  const [st0, t0, c0, gc0] = await Promise.all([replicaStats(s), turnHistograms(replicaUrls), redisCommandStats(s.admin), Promise.all(gcUrls.map(gcPauses))]);
  await sleep(end - Date.now());
  const b = pids();
  const [st1, t1, c1, disk, gc1] = await Promise.all([
    replicaStats(s),
    turnHistograms(replicaUrls),
    redisCommandStats(s.admin),
    s.disk.read(),
    Promise.all(gcUrls.map(gcPauses)),
  ]);
  const gcLines = gc1.map((h, i) => gcLine(gc0[i]!, h));
  const checkpointMs = await checkpoint;
  const reports = await Promise.all(reportsP);
  for (const r of reports) if (r.type !== 'report') throw new Error(`load generator: ${r.type === 'error' ? r.message : r.type}`);
  const reps = reports as ClientReport[];

  const el = step.seconds;
  const pgCpu = treeDelta(a.pg, b.pg) / el;
  const parentUse = process.cpuUsage(a.parent);
  const cpu = {
    gateway: (b.gateway - a.gateway) / el,
    replicas: b.replicas.map((v, i) => (v - a.replicas[i]!) / el),
    redis: (b.redis - a.redis) / el,
    postgres: pgCpu,
    clients: b.clients.map((v, i) => (v - a.clients[i]!) / el),
    parent: (parentUse.user + parentUse.system) / 1e6 / el,
    machine: machineCores(a.machine, b.machine),
    stolen: stolenCores(a.machine, b.machine),
    foreign: 0,
  };
  const threads = {
    gateway: threadShares(a.threads.gateway, b.threads.gateway, el),
    replicas: b.threads.replicas.map((t, i) => threadShares(a.threads.replicas[i]!, t, el)),
  };
  const ours = cpu.gateway + cpu.replicas.reduce((x, y) => x + y, 0) + cpu.redis + cpu.postgres + cpu.clients.reduce((x, y) => x + y, 0) + cpu.parent;
  cpu.foreign = Math.max(0, cpu.machine - cpu.stolen - ours);

  const lat = mergeHists(reps.map((r) => r.latency));
  const lag = mergeHists(reps.map((r) => r.sendLag));
  const pct = pctMs;
  const errors: Record<string, number> = {};
  for (const r of reps) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const sum = (f: (r: ClientReport) => number) => reps.reduce((x, r) => x + f(r), 0);

  // Let the actors finish what is still queued (504s, timeouts) before counting rows and starting the next step.
  const backlog = await drainStreams(s.admin, s.partitions, 60_000);
  const rows1 = await processedRows(s);
  await sleep(1_100); // cumulative statistics are flushed about once a second
  const pg1 = await tableStats(s.ownerSql);
  const work = pgWorkPer(pg0, pg1, rows1 - rows0);
  const redisWork = redisFootprintLine(redis0, await redisFootprint(s.admin), rows1 - rows0, 'command');
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
    ...summarize(lat),
    lagP99: pct(lag, 99),
    lagMax: lag.totalCount ? lag.maxValue / 1000 : NaN,
    loopP99: reps.map((r) => r.loopP99Ms),
    maxInFlight: sum((r) => r.maxInFlight),
    connWaits: sum((r) => r.connWaits ?? 0),
    cpu,
    threads,
    gc: { gateway: gcLines[0]!, replicas: gcLines.slice(1) },
    meanBatch: turns > 0 ? applied / turns : NaN,
    turns: turnLine(t0, t1),
    commands: commandLine(t0, t1),
    disk,
    ...(checkpointMs !== undefined && { checkpoint: { atSeconds: step.checkpointAtSeconds!, ms: checkpointMs } }),
    pgRows: rows1 - rows0,
    answered: sum((r) => r.answered),
    backlog,
    pgWork: work.line,
    commitsPerCommand: work.commits,
    walBytesPerCommand: work.walBytes,
    redisWork,
    redisTop: redisBusiestLine(c0, c1, applied),
    loadAvg,
    ...validity({ lagP99Ms: pctMs(lag, 99), clientCores: cpu.clients, foreignCores: cpu.foreign }),
  };
  return res;
}

function stepPasses(r: StepResult): boolean {
  return r.invalid.length === 0 && r.timeouts === 0 && r.pending === 0 && Object.keys(r.errors).length === 0 && r.p99 < RAMP_PASS.p99Ms && r.achieved >= r.rate * RAMP_PASS.minAchievedRatio;
}

function printStep(r: StepResult, users: number): void {
  const tag = r.invalid.length ? `INVALID — ${r.invalid.join('; ')}` : 'valid';
  console.log(`  ── ${fmt(r.rate)} commands/s offered (${fmt(r.rate / users, 2)} per user per s): ${tag}${r.shared ? ' · SHARED machine' : ''}${r.disk.stalls ? ' · DISK STALLS' : ''}${r.cpu.stolen > STOLEN_NOTE ? ' · HOST BUSY (steal)' : ''}`);
  const errs = Object.entries(r.errors).map(([k, v]) => `${k} ×${fmt(v)}`).join(', ');
  console.log(`     requests      : ${fmt(r.scheduled)} scheduled in ${r.seconds} s → ${fmt(r.accepted)} accepted, ${fmt(r.rejected)} rejected, ${fmt(r.pending)} 504 decision_pending, ${fmt(r.timeouts)} client timeouts (${CLIENT_TIMEOUT_MS / 1000} s), errors: ${errs || 'none'}`);
  console.log(`     achieved      : ${fmt(r.achieved)} decisions/s answered in the window (${fmt((r.achieved / r.rate) * 100, 1)} % of offered); max ${fmt(r.maxInFlight)} in flight${r.connWaits ? `; ${fmt(r.connWaits)} requests fell due with all ${fmt(SOCKETS_PER_CLIENT)} connections of a generator held by the server (their wait counts as latency)` : ''}`);
  const l = latencyLine(r);
  console.log(`     submit→decision: ${r.invalid.length ? `(not the server's: ${l})` : l}`);
  console.log(`     generator     : dispatch lag p99 ${fmt(r.lagP99, 2)} ms, max ${fmt(r.lagMax, 1)} ms; ${r.loopP99.every((x) => x === 0) ? 'native (no event loop)' : `event-loop p99 ${r.loopP99.map((x) => `${fmt(x, 1)} ms`).join(', ')}`}`);
  const c = r.cpu;
  console.log(
    `     CPU (% core)  : gateway ${fmt(c.gateway * 100)} · accounts ${c.replicas.map((x) => fmt(x * 100)).join(' + ')} · redis-server ${fmt(c.redis * 100)} · postgres ${fmt(c.postgres * 100)} · load generator ${c.clients.map((x) => fmt(x * 100)).join(' + ')} · bench parent ${fmt(c.parent * 100)} · machine ${fmt(c.machine * 100)} of ${cpus().length * 100} (outside the bench ${fmt(c.foreign * 100)}, stolen by the host ${fmt(c.stolen * 100)})`,
  );
  const th = (t: ThreadCpu) => `main thread ${fmt(t.mainUser * 100)} user + ${fmt(t.mainSystem * 100)} system, other threads ${fmt(t.others * 100)}`;
  console.log(`     threads (%)   : accounts ${r.threads.replicas.map(th).join(' | ')} · gateway ${th(r.threads.gateway)}`);
  console.log(`     GC pauses     : accounts ${r.gc.replicas.join(' | ')} · gateway ${r.gc.gateway}`);
  const perCmd = r.achieved >= 1 ? (c.machine / r.achieved) * 1e6 : NaN;
  console.log(`     per command   : ${fmt(perCmd)} µs of machine CPU; mean batch ${fmt(r.meanBatch, 2)} commands per turn; load average before ${r.loadAvg.map((x) => fmt(x, 2)).join(' ')}`);
  console.log(`     turns         : ${r.turns} (committed turn transactions, BEGIN to COMMIT's answer)`);
  console.log(`     commands      : ${r.commands} (in the accounts: from the stream append until the turn began, and until the decision was in the private event log)`);
  console.log(`     disk          : ${diskLine(r.disk)}`);
  if (r.checkpoint) console.log(`     checkpoint    : run ${r.checkpoint.atSeconds} s into the window, took ${fmt(r.checkpoint.ms)} ms (pages written after it log in full: see the WAL per command)`);
  const rowsNote = r.pgRows >= r.answered ? 'ok' : 'FEWER ROWS THAN DECISIONS ANSWERED';
  console.log(`     PostgreSQL    : ${fmt(r.pgRows)} processed_commands rows added for ${fmt(r.answered)} requests answered 200 (warm-up included): ${rowsNote}`);
  console.log(`     PG per command: ${r.pgWork || 'n/a'}; ${fmt(r.commitsPerCommand, 2)} commits (all sessions); ${fmt(r.walBytesPerCommand / 1024, 1)} KB of WAL`);
  console.log(`     Redis         : ${r.redisWork}`);
  console.log(`     Redis / cmd   : ${r.redisTop || 'n/a'} (per command applied, server time; a script's inner commands are counted as calls too, and its time includes theirs)`);
  if (r.backlog > 0) console.log(`     NOT DRAINED   : ${fmt(r.backlog)} stream entries still pending 60 s after the step: the next step starts behind`);
}

// ---------- main ----------
type Outcome = ScenarioOutcome<StepResult, Scenario>;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const unknown = args.names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const scenarios = args.names.map((n) => SCENARIOS.find((s) => s.name === n)!);
  const topRate = Math.max(...scenarios.flatMap((s) => s.steps.map((x) => x.rate)));
  if (topRate / args.users > LIMITS.commandsPerUserPerSecond || (topRate / args.users) * 60 > LIMITS.httpPerUserPerMinute) {
    throw new Error(`${fmt(topRate)} commands/s over ${args.users} users exceeds the per-user limits (${LIMITS.commandsPerUserPerSecond}/s commands, ${LIMITS.httpPerUserPerMinute}/min HTTP): use more --users`);
  }

  console.log(`bench:actors on ${machineLine()}`);
  console.log(`  ${fmt(args.users)} users (pro_plus, one paper account each), ${args.replicas} accounts replica(s), ${args.partitions} partitions, ${args.clients} load-generator process(es)`);
  const stack = await startBenchStack(started, { name: 'bench-actors', database: 'raxx_bench', pgStats: args.pgStats });
  const { urls, batchSql, ownerSql, admin, redis: redisServer, pg } = stack;
  const ids = benchUserIds(args.users);
  console.log(`  seeded ${await seedProPlusUsers(batchSql, ids, '100000')} active paper accounts of pro_plus users`);

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
  // The roles run compiled, as in production (bench/shared/roles.ts); BENCH_ROLES_TSX=1 runs them under tsx.
  const launcher = roleLauncher();
  started.add('role build', async () => launcher.remove());
  console.log(`  roles: ${launcher.mode}`);
  const roles: RoleProcess[] = [];
  // A role that has not exited 15 s after SIGTERM (e.g. draining a deep overload backlog) is killed, so the bench
  // still stops its Redis and PostgreSQL.
  started.add('roles', async () => Promise.all(roles.map((r) => r.stop('SIGTERM', 15_000))));
  const session = { secret, issuer: ISSUER, audience: AUDIENCE };
  const { replicas, gateway, gatewayUrl, gatewayOpsUrl } = await startAccountsAndGateway(launcher, roles, common, { replicas: args.replicas, partitions: args.partitions, session });
  const users: BenchUser[] = await signSessionTokens(ids, session);

  const clients: Array<ClientProc & { priority?: () => string }> = [];
  started.add('clients', () => stopChildren(clients, { type: 'stop' }));
  const binary = args.nodeClients ? '' : buildHttpLoad(stack.dir, 'bench:actors');
  console.log(`  load generator: ${args.nodeClients ? `${args.clients} Node process(es) (BENCH_NODE_CLIENTS=1)` : `${args.clients} native process(es) (bench/shared/native/http-load.c)`}`);
  for (let k = 0; k < args.clients; k++) clients.push(args.nodeClients ? forkClient() : nativeClient(binary, stack.dir));
  const readyP = clients.map((c) => c.next(30_000));
  // Users are split between the client processes, so each user's commands come from one process, in order.
  clients.forEach((c, k) => c.send({ type: 'config', url: gatewayUrl, users: users.filter((_, i) => i % args.clients === k), sockets: SOCKETS_PER_CLIENT, timeoutMs: CLIENT_TIMEOUT_MS }));
  await Promise.all(readyP);
  if (!args.nodeClients) console.log(`  load generator priority: ${clients.map((c) => c.priority?.() ?? '?').join(', ')} (bench/shared/native-http-load.ts)`);

  const servers: Servers = { gateway, gatewayUrl, gatewayOpsUrl, replicas, redisPid: redisServer.pid, pgPid: pg.pid, admin, batchSql, ownerSql, partitions: args.partitions, disk: stack.disk, checkpoint: stack.checkpoint };
  // Warm the gateway's tier cache, JIT and connection pools; not measured.
  await runStep({ rate: 500, seconds: 3, warmupSeconds: 2 }, servers, clients);

  const statsSql = await stack.enableStatementStats();
  const outcomes = await runScenarios(scenarios, { unit: 'commands/s', run: (step) => runStep(step, servers, clients), print: (r) => printStep(r, args.users), sustained: stepPasses });
  printSummary(outcomes, args);
  if (statsSql) await printStatementStats(statsSql);
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
  // Every run of a scenario that stands for the target is judged (a scenario named several times ran that often on the
  // same stack; `steady-1000` and `soak-1000` both stand for the latency target), and the count is the verdict.
  const judge = (target: Scenario['targets'][number], ok: (r: StepResult) => boolean, figure: (r: StepResult) => string): string => {
    const runs = outcomes.filter((o) => o.scenario.targets.includes(target)).flatMap((o) => o.results.slice(0, 1).map((r) => ({ name: o.scenario.name, r })));
    const verdict = (r: StepResult) => (r.invalid.length ? `NO VERDICT (run INVALID: ${r.invalid.join('; ')})` : ok(r) ? 'PASS' : 'FAIL');
    if (runs.length === 0) return 'not run';
    if (runs.length === 1) return `${runs[0]!.name} ${figure(runs[0]!.r)} — ${verdict(runs[0]!.r)}`;
    const passed = runs.filter(({ r }) => r.invalid.length === 0 && ok(r)).length;
    return `${runs.map(({ name, r }) => `${name} ${figure(r)} ${verdict(r)}`).join(' · ')} — PASS in ${passed} of ${runs.length} runs`;
  };
  const atRate = (r: StepResult) => `${fmt(r.achieved)}/s, p99 ${fmt(r.p99, 1)} ms`;
  console.log(
    `  p99 < ${TARGETS.p99At1000Ms} ms at 1,000/s (no timeouts): ${judge('p99-at-1000', (r) => r.p99 < TARGETS.p99At1000Ms && r.timeouts + r.pending === 0, (r) => `p99 ${fmt(r.p99, 2)} ms`)}`,
  );
  console.log(
    `  ≥ ${fmt(TARGETS.sustained)} commands/s sustained (p99 < ${RAMP_PASS.p99Ms} ms, no timeouts/errors, ≥ ${RAMP_PASS.minAchievedRatio * 100} % achieved): ${judge('sustained-2000', stepPasses, atRate)}`,
  );
  console.log(`  stretch ${fmt(TARGETS.stretch)} commands/s, same criteria: ${judge('stretch-3000', stepPasses, atRate)}`);
  const ramp = outcomes.find((o) => o.scenario.kind === 'ramp');
  if (ramp) {
    const last = ramp.results.at(-1);
    const why = last && !stepPasses(last) ? ` (stopped at ${fmt(last.rate)}/s: ${last.invalid.length ? 'INVALID run, the generator limit' : `p99 ${fmt(last.p99, 1)} ms, ${fmt(last.achieved)}/s achieved, ${last.timeouts + last.pending} timeouts`})` : ' (every step passed)';
    console.log(`  max sustained rate (ramp): ${ramp.maxSustained ? `${fmt(ramp.maxSustained)} commands/s` : 'none'}${why}`);
  }
  if (args.cpuProf) console.log(`  CPU profiles of the role processes: ${args.cpuProf} (written when they stop)`);
}

await runBench('bench:actors', started, main);
