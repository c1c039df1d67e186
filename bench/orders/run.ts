// bench:orders — paper orders through the HTTP API, end to end on this machine:
//   load generators (forked, open loop, keep-alive HTTP) → POST /paper/v2/orders on ONE gateway process (auth, tier,
//   HTTP budget, order budget, validation, asset check) → XADD cmd:{pN} → accounts role process(es) (account actor,
//   MBT engine, one PostgreSQL transaction per turn) → the decision back through the private event log → HTTP 200;
//   then the next quote (simulator → feed leader → Redis pub/sub → the accounts' quote router) fills the order, and
//   the `fill` trade_update goes out on the user's /paper/stream socket of the same gateway.
// Starts its own throw-away Redis and durable PostgreSQL (bench/shared/stack.ts), seeds the users, runs the
// simulator (a replayed quote recording on unique symbols, NYSE clock offset into a regular session), the feed, the
// accounts replica(s) and the gateway as role processes, runs the scenarios (bench/orders/scenarios.ts), prints the
// report, writes it as JSON, and stops everything it started. See docs/bench-orders.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { marketDataKeys } from '../../src/contracts/index.js';
import type { RoleProcess } from '../../test/support/processes.js';
import { commonArgs, COMMON_OPTIONS, parseOptions } from '../shared/args.js';
import { roleLauncher } from '../shared/roles.js';
import { redisBusiestLine, redisCommandStats, redisFootprint, redisFootprintLine } from '../shared/redis-footprint.js';
import { drainStreams, startAccountsAndGateway, type StepServers } from '../shared/runtime.js';
import { runScenarios, type Outcome as ScenarioOutcome } from '../shared/scenarios.js';
import { signSessionTokens } from '../shared/sessions.js';
import { STOLEN_NOTE, validity } from '../shared/validity.js';
import { forkChild, runBench, Started, stopChildren, type ForkedChild } from '../shared/children.js';
import { diskLine, type DiskWindow } from '../shared/disk-probe.js';
import { pgWorkPer, tableStats } from '../shared/pg-work.js';
import { commandLine, turnHistograms, turnLine } from '../shared/turn-metrics.js';
import { gcLine, gcPauses } from '../shared/gc-pauses.js';
import { cpuSeconds, machineCores, machineLine, machineTicks, stolenCores, treeCpu, treeDelta } from '../shared/proc.js';
import { benchUserIds, printStatementStats, seedProPlusUsers, startBenchStack } from '../shared/stack.js';
import { fmt, latencyLine, mergeHists, pctMs, sleep, summarize, type LatencySummary } from '../shared/util.js';
import type { BenchUser, ChildMessage, ClientReport, ClientTotals, ParentMessage } from './ipc.js';
import { benchSymbols, regularSessionOffsetMs, writeRecording, type BenchSymbol } from './market.js';
import { DEFAULT_SCENARIOS, SCENARIOS, SUSTAINED, TARGETS, type Scenario, type Step } from './scenarios.js';

const CLIENT_TIMEOUT_MS = 10_000; // the gateway answers 504 after its own 5 s wait
const FILL_WAIT_MS = 10_000;
const SOCKETS_PER_CLIENT = 1024;
const ISSUER = 'raxx-bench-orders';
const AUDIENCE = 'raxx-stream';
const SIM_KEY = { id: 'bench-orders-key', secret: randomBytes(16).toString('hex') };
/** docs/paper-api.md (pro_plus): the limits the offered load must stay under. */
const LIMITS = { ordersPerUserPerSecond: 20, httpPerUserPerMinute: 3_000 };
const WARMUP: Step = { rate: 200, seconds: 5, warmupSeconds: 3 }; // 1,600 orders: every user's engine loaded once

// ---------- arguments ----------
function parseArgs(argv: string[]) {
  const { names, opts } = parseOptions(argv, { ...COMMON_OPTIONS, symbols: 'int', quotes: 'int', cash: 'int', out: 'path' });
  return {
    ...commonArgs(names, opts, DEFAULT_SCENARIOS),
    symbols: opts.symbols ?? 8,
    quotesPerSecond: opts.quotes ?? 50,
    cash: opts.cash ?? 1_000_000,
    out: opts.out ?? join(tmpdir(), 'raxx-bench-orders'),
  };
}
type Args = ReturnType<typeof parseArgs>;

const started = new Started();
type ClientProc = ForkedChild<ParentMessage, ChildMessage>;

// ---------- one step ----------
interface Servers extends StepServers {
  /** The gateway's internal listener (its /metrics). */
  gatewayOpsUrl: string;
  sim: RoleProcess;
  feed: RoleProcess;
  feedUrl: string;
  clients: ClientProc[];
}

interface Cpu {
  sim: number;
  feed: number;
  gateway: number;
  replicas: number[];
  redis: number;
  postgres: number;
  clients: number[];
  parent: number;
  machine: number;
  /** Cores the hypervisor gave to others (part of `machine`, not of `foreign`). */
  stolen: number;
  foreign: number;
}

/** The generators' counters summed (latencies merged and summarised), plus what the parent measured. */
interface StepResult extends Pick<ClientReport, 'scheduled' | 'accepted' | 'rejected' | 'pending' | 'timeouts' | 'errors' | 'mix' | 'events' | 'unfilled' | 'maxInFlight'> {
  rate: number;
  seconds: number;
  /** Accepted orders/s answered inside the window. */
  achieved: number;
  decision: LatencySummary;
  quoteToFill: LatencySummary;
  submitToFill: LatencySummary;
  lagP99: number;
  lagMax: number;
  loopP99: number[];
  streamCloses: number;
  cpu: Cpu;
  meanBatch: number;
  /** Quotes the feed published, and its upstream reconnects, in the window. */
  feed: { quotesPerSecond: number; reconnects: number };
  /** Quote frames the accounts' router received, and quote/clock signals applied, per second of the window. */
  quotesPerSecond: number;
  signalsPerSecond: number;
  signalsDropped: number;
  pg: { ordersRows: number; fillsRows: number; accepted: number; fillEvents: number; work: string; commitsPerOrder: number; walBytesPerOrder: number };
  /** Redis commands by server time during the window (INFO commandstats): the 6 busiest, per accepted order. */
  redisTop: string;
  /** The independent disk probe's flushes in the window (disk-probe.ts). */
  disk: DiskWindow;
  /** Committed turns in the window by kind, from the replicas' turn histograms (turnLine). */
  turns: string;
  /** Commands from their stream append until their turn began and until decided (commandLine). */
  commands: string;
  /** GC pauses in the window (gc-pauses.ts): gateway, then each replica. */
  gc: { gateway: string; replicas: string[] };
  /** Keys in Redis after the window (the feed's demand union SCANs all of them). */
  /** Redis keys and memory the step left per order (redis-footprint.ts). */
  redisWork: string;
  /** Command stream entries still pending 60 s after the step. */
  backlog: number;
  loadAvg: number[];
  invalid: string[];
  shared: boolean;
}

interface ReplicaStats {
  applied: number;
  turns: number;
  quotes: number;
  signalsApplied: number;
  dropped: number;
}
async function replicaStats(s: Servers): Promise<ReplicaStats> {
  const all = await Promise.all(
    s.replicas.map(async (r) => {
      const j = (await (await fetch(`${r.url}/healthz`)).json()) as {
        applied?: number;
        turns?: number;
        quotes?: { quotes?: number };
        signals?: { applied?: number; droppedOverflow?: number; droppedFailed?: number };
      };
      return { applied: j.applied ?? 0, turns: j.turns ?? 0, quotes: j.quotes?.quotes ?? 0, signalsApplied: j.signals?.applied ?? 0, dropped: (j.signals?.droppedOverflow ?? 0) + (j.signals?.droppedFailed ?? 0) };
    }),
  );
  return all.reduce((a, b) => ({ applied: a.applied + b.applied, turns: a.turns + b.turns, quotes: a.quotes + b.quotes, signalsApplied: a.signalsApplied + b.signalsApplied, dropped: a.dropped + b.dropped }));
}

/** The feed's counters from its /metrics (prom-client text): real-time quotes published, upstream reconnects. */
async function feedCounters(s: Servers): Promise<{ quotes: number; reconnects: number }> {
  const text = await (await fetch(`${s.feedUrl}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  return { quotes: value(/^raxx_feed_published_total\{[^}]*kind="q"[^}]*\} (\S+)$/m), reconnects: value(/^raxx_feed_upstream_reconnects_total(?:\{[^}]*\})? (\S+)$/m) };
}

async function rowCounts(s: Servers): Promise<{ orders: number; fills: number }> {
  const [row] = await s.batchSql<{ o: string; f: string }[]>`select (select count(*) from orders)::text as o, (select count(*) from fills)::text as f`;
  return { orders: Number(row!.o), fills: Number(row!.f) };
}

function cpuReading(s: Servers) {
  return {
    sim: cpuSeconds(s.sim.child.pid!),
    feed: cpuSeconds(s.feed.child.pid!),
    gateway: cpuSeconds(s.gateway.child.pid!),
    replicas: s.replicas.map((r) => cpuSeconds(r.proc.child.pid!)),
    redis: cpuSeconds(s.redisPid),
    pg: treeCpu(s.pgPid),
    clients: s.clients.map((c) => cpuSeconds(c.child.pid!)),
    parent: process.cpuUsage(),
    machine: machineTicks(),
  };
}

function cpuBetween(a: ReturnType<typeof cpuReading>, b: ReturnType<typeof cpuReading>, el: number): Cpu {
  const parentUse = process.cpuUsage(a.parent);
  const cpu: Cpu = {
    sim: (b.sim - a.sim) / el,
    feed: (b.feed - a.feed) / el,
    gateway: (b.gateway - a.gateway) / el,
    replicas: b.replicas.map((v, i) => (v - a.replicas[i]!) / el),
    redis: (b.redis - a.redis) / el,
    postgres: treeDelta(a.pg, b.pg) / el,
    clients: b.clients.map((v, i) => (v - a.clients[i]!) / el),
    parent: (parentUse.user + parentUse.system) / 1e6 / el,
    machine: machineCores(a.machine, b.machine),
    stolen: stolenCores(a.machine, b.machine),
    foreign: 0,
  };
  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  const ours = cpu.sim + cpu.feed + cpu.gateway + sum(cpu.replicas) + cpu.redis + cpu.postgres + sum(cpu.clients) + cpu.parent;
  cpu.foreign = Math.max(0, cpu.machine - cpu.stolen - ours);
  return cpu;
}

/** The clients' cumulative counters, summed (read right before PostgreSQL's row counts, so events ≤ rows). */
async function clientTotals(s: Servers): Promise<Omit<ClientTotals, 'type'>> {
  const replies = await Promise.all(s.clients.map((c) => (c.send({ type: 'totals' }), c.next(10_000))));
  const sum = { accepted: 0, fillEvents: 0, streamCloses: 0 };
  for (const r of replies) {
    if (r.type !== 'totals') throw new Error(`load generator: expected its totals, got ${r.type}`);
    sum.accepted += r.accepted;
    sum.fillEvents += r.fillEvents;
    sum.streamCloses += r.streamCloses;
  }
  return sum;
}

async function runStep(step: Step, s: Servers): Promise<StepResult> {
  const loadAvg = loadavg();
  const totals0 = await clientTotals(s);
  const rows0 = await rowCounts(s);
  const pg0 = await tableStats(s.ownerSql);
  const redis0 = await redisFootprint(s.admin);
  const C = s.clients.length;
  const startAt = Date.now() + 500;
  const windowStart = startAt + step.warmupSeconds * 1000;
  const end = windowStart + step.seconds * 1000;
  const reportsP = s.clients.map((c) => c.next(end - Date.now() + CLIENT_TIMEOUT_MS + FILL_WAIT_MS + 60_000));
  s.clients.forEach((c, k) =>
    c.send({ type: 'run', rate: step.rate / C, startAt, offsetMs: (k * 1000) / step.rate, warmupMs: step.warmupSeconds * 1000, measureMs: step.seconds * 1000, fillWaitMs: FILL_WAIT_MS }),
  );
  await sleep(windowStart - Date.now());
  const a = cpuReading(s);
  s.disk.mark();
  const replicaUrls = s.replicas.map((r) => r.url);
  const gcUrls = [s.gatewayOpsUrl, ...replicaUrls];
  const [st0, f0, r0, t0, gc0] = await Promise.all([replicaStats(s), feedCounters(s), redisCommandStats(s.admin), turnHistograms(replicaUrls), Promise.all(gcUrls.map(gcPauses))]);
  await sleep(end - Date.now());
  const b = cpuReading(s);
  const [st1, f1, r1, t1, disk, gc1] = await Promise.all([
    replicaStats(s),
    feedCounters(s),
    redisCommandStats(s.admin),
    turnHistograms(replicaUrls),
    s.disk.read(),
    Promise.all(gcUrls.map(gcPauses)),
  ]);
  const gcLines = gc1.map((h, i) => gcLine(gc0[i]!, h));
  const reports = await Promise.all(reportsP);
  for (const r of reports) if (r.type !== 'report') throw new Error(`load generator: ${r.type === 'error' ? r.message : r.type}`);
  const reps = reports as ClientReport[];
  const el = step.seconds;
  const cpu = cpuBetween(a, b, el);

  // Let the actors finish what is still queued before counting rows and starting the next step.
  const backlog = await drainStreams(s.admin, s.partitions, 60_000);
  await sleep(500); // the last fills' events are on their way (they follow the commit)
  const totals1 = await clientTotals(s);
  const rows1 = await rowCounts(s);
  await sleep(1_100); // cumulative statistics are flushed about once a second
  const pg1 = await tableStats(s.ownerSql);
  const work = pgWorkPer(pg0, pg1, rows1.orders - rows0.orders);

  const sum = (f: (r: ClientReport) => number) => reps.reduce((x, r) => x + f(r), 0);
  const accepted = totals1.accepted - totals0.accepted;
  const fillEvents = totals1.fillEvents - totals0.fillEvents;
  const streamCloses = totals1.streamCloses - totals0.streamCloses;
  const rejected: StepResult['rejected'] = {};
  const errors: Record<string, number> = {};
  const events: Record<string, number> = {};
  for (const r of reps) {
    for (const [k, v] of Object.entries(r.rejected)) (rejected[k] ??= { count: 0, message: v.message }).count += v.count;
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.events)) events[k] = (events[k] ?? 0) + v;
  }
  const lag = mergeHists(reps.map((r) => r.sendLag));
  const res: StepResult = {
    rate: step.rate,
    seconds: el,
    scheduled: sum((r) => r.scheduled),
    accepted: sum((r) => r.accepted),
    rejected,
    pending: sum((r) => r.pending),
    timeouts: sum((r) => r.timeouts),
    errors,
    achieved: sum((r) => r.completedInWindow) / el,
    mix: { buy: sum((r) => r.mix.buy), sell: sum((r) => r.mix.sell), market: sum((r) => r.mix.market), limit: sum((r) => r.mix.limit) },
    events,
    unfilled: sum((r) => r.unfilled),
    decision: summarize(mergeHists(reps.map((r) => r.decision))),
    quoteToFill: summarize(mergeHists(reps.map((r) => r.quoteToFill))),
    submitToFill: summarize(mergeHists(reps.map((r) => r.submitToFill))),
    lagP99: pctMs(lag, 99),
    lagMax: lag.totalCount ? lag.maxValue / 1000 : Number.NaN,
    loopP99: reps.map((r) => r.loopP99Ms),
    maxInFlight: sum((r) => r.maxInFlight),
    streamCloses,
    cpu,
    meanBatch: st1.turns - st0.turns > 0 ? (st1.applied - st0.applied) / (st1.turns - st0.turns) : Number.NaN,
    feed: { quotesPerSecond: (f1.quotes - f0.quotes) / el, reconnects: f1.reconnects - f0.reconnects },
    quotesPerSecond: (st1.quotes - st0.quotes) / el,
    signalsPerSecond: (st1.signalsApplied - st0.signalsApplied) / el,
    signalsDropped: st1.dropped - st0.dropped,
    pg: { ordersRows: rows1.orders - rows0.orders, fillsRows: rows1.fills - rows0.fills, accepted, fillEvents, work: work.line, commitsPerOrder: work.commits, walBytesPerOrder: work.walBytes },
    redisTop: redisBusiestLine(r0, r1, sum((r) => r.completedInWindow)),
    turns: turnLine(t0, t1),
    commands: commandLine(t0, t1),
    gc: { gateway: gcLines[0]!, replicas: gcLines.slice(1) },
    disk,
    redisWork: redisFootprintLine(redis0, await redisFootprint(s.admin), rows1.orders - rows0.orders, 'order'),
    backlog,
    loadAvg,
    ...validity({ lagP99Ms: pctMs(lag, 99), clientCores: cpu.clients, foreignCores: cpu.foreign }),
  };
  return res;
}

const rejectedCount = (r: StepResult) => Object.values(r.rejected).reduce((x, v) => x + v.count, 0);
const errorCount = (r: StepResult) => Object.values(r.errors).reduce((x, v) => x + v, 0);

function sustained(r: StepResult): boolean {
  return (
    r.invalid.length === 0 &&
    r.timeouts + r.pending + errorCount(r) === 0 &&
    r.decision.p99 < SUSTAINED.p99Ms &&
    r.achieved >= r.rate * SUSTAINED.minAchievedRatio &&
    r.unfilled === 0
  );
}

function printStep(r: StepResult, users: number): void {
  const tag = r.invalid.length ? `INVALID — ${r.invalid.join('; ')}` : 'valid';
  console.log(`  ── ${fmt(r.rate)} orders/s offered (${fmt(r.rate / users, 2)} per user per s): ${tag}${r.shared ? ' · SHARED machine' : ''}${r.disk.stalls ? ' · DISK STALLS' : ''}${r.cpu.stolen > STOLEN_NOTE ? ' · HOST BUSY (steal)' : ''}`);
  const rej = Object.entries(r.rejected).map(([k, v]) => `${k} "${v.message}" ×${fmt(v.count)}`).join(', ');
  const errs = Object.entries(r.errors).map(([k, v]) => `${k} ×${fmt(v)}`).join(', ');
  console.log(`     orders        : ${fmt(r.scheduled)} scheduled in ${r.seconds} s → ${fmt(r.accepted)} accepted (buy ${fmt(r.mix.buy)} / sell ${fmt(r.mix.sell)}, market ${fmt(r.mix.market)} / limit ${fmt(r.mix.limit)})`);
  console.log(`     not accepted  : rejected ${rej || 'none'}; ${fmt(r.pending)} 504 decision_pending; ${fmt(r.timeouts)} client timeouts (${CLIENT_TIMEOUT_MS / 1000} s); errors: ${errs || 'none'}`);
  console.log(`     achieved      : ${fmt(r.achieved)} accepted orders/s answered in the window (${fmt((r.achieved / r.rate) * 100, 1)} % of offered); max ${fmt(r.maxInFlight)} in flight`);
  const paren = (l: string) => (r.invalid.length ? `(not the server's: ${l})` : l);
  console.log(`     submit→decision: ${paren(latencyLine(r.decision))}  [${fmt(r.decision.count)} answers]`);
  console.log(`     quote→fill    : ${paren(latencyLine(r.quoteToFill))}  [${fmt(r.quoteToFill.count)} fill events]`);
  console.log(`     submit→fill   : ${paren(latencyLine(r.submitToFill))}`);
  const ev = Object.entries(r.events).sort().map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  console.log(`     trade_updates : ${ev || 'none'} in the window; ${fmt(r.unfilled)} accepted orders unfilled ${FILL_WAIT_MS / 1000} s after the last answer; ${fmt(r.streamCloses)} stream sockets closed by the server`);
  console.log(`     generator     : dispatch lag p99 ${fmt(r.lagP99, 2)} ms, max ${fmt(r.lagMax, 1)} ms; event-loop p99 ${r.loopP99.map((x) => `${fmt(x, 1)} ms`).join(', ')}`);
  const c = r.cpu;
  const p = (x: number) => fmt(x * 100);
  console.log(
    `     CPU (% core)  : gateway ${p(c.gateway)} · accounts ${c.replicas.map(p).join(' + ')} · postgres ${p(c.postgres)} · redis-server ${p(c.redis)} · feed ${p(c.feed)} · sim ${p(c.sim)} · load generator ${c.clients.map(p).join(' + ')} · bench parent ${p(c.parent)} · machine ${p(c.machine)} of ${cpus().length * 100} (outside the bench ${p(c.foreign)}, stolen by the host ${p(c.stolen)})`,
  );
  const perOrder = r.achieved >= 1 ? (c.machine / r.achieved) * 1e6 : Number.NaN;
  console.log(`     per order     : ${fmt(perOrder)} µs of machine CPU; mean batch ${fmt(r.meanBatch, 2)} commands per turn; load average before ${r.loadAvg.map((x) => fmt(x, 2)).join(' ')}`);
  const reconnects = r.feed.reconnects ? ` (${fmt(r.feed.reconnects)} UPSTREAM RECONNECTS)` : '';
  console.log(`     quotes        : ${fmt(r.feed.quotesPerSecond)}/s published by the feed${reconnects}, ${fmt(r.quotesPerSecond)}/s received by the accounts' router (symbols with open orders); ${fmt(r.signalsPerSecond)} signals/s applied${r.signalsDropped ? `, ${fmt(r.signalsDropped)} DROPPED (mailbox full)` : ''}`);
  const g = r.pg;
  const ordersNote = g.ordersRows >= g.accepted ? 'ok' : 'FEWER ROWS THAN ACCEPTED ANSWERS';
  const fillsNote = g.fillEvents > g.fillsRows ? 'MORE FILL EVENTS THAN FILL ROWS' : g.fillEvents < g.fillsRows ? `${fmt(g.fillsRows - g.fillEvents)} fill events not received (yet)` : 'ok';
  console.log(`     PostgreSQL    : ${fmt(g.ordersRows)} orders rows for ${fmt(g.accepted)} accepted answers (the step, warm-up and drain included): ${ordersNote}; ${fmt(g.fillsRows)} fills rows, ${fmt(g.fillEvents)} fill events received: ${fillsNote}`);
  console.log(`     PG per order  : ${g.work || 'n/a'}; ${fmt(g.commitsPerOrder, 2)} commits (all sessions); ${fmt(g.walBytesPerOrder / 1024, 1)} KB of WAL`);
  console.log(`     Redis / order : ${r.redisTop || 'n/a'} (server time, the window's busiest commands per accepted order)`);
  console.log(`     Redis left    : ${r.redisWork}`);
  console.log(`     turns         : ${r.turns} (committed turn transactions, BEGIN to COMMIT's answer)`);
  console.log(`     commands      : ${r.commands} (in the accounts: from the stream append until the turn began, and until the decision was in the private event log)`);
  console.log(`     GC pauses     : accounts ${r.gc.replicas.join(' | ')} · gateway ${r.gc.gateway}`);
  console.log(`     disk          : ${diskLine(r.disk)}`);
  if (r.backlog > 0) console.log(`     NOT DRAINED   : ${fmt(r.backlog)} command stream entries still pending 60 s after the step: the next step starts behind`);
}

// ---------- summary and JSON ----------
type Outcome = ScenarioOutcome<StepResult, Scenario>;

function targets(outcomes: readonly Outcome[]) {
  const find = (name: string) => outcomes.find((o) => o.scenario.name === name)?.results[0];
  const verdict = (r: StepResult | undefined, ok: (r: StepResult) => boolean) => (!r ? 'not run' : r.invalid.length ? `NO VERDICT (run INVALID: ${r.invalid.join('; ')})` : ok(r) ? 'PASS' : 'FAIL');
  const r1 = find('steady-1000');
  const r2 = find('steady-2000');
  const ramp = outcomes.find((o) => o.scenario.kind === 'ramp');
  return {
    p99At1000: { target: `p99 submit→decision < ${TARGETS.p99At1000Ms} ms at 1,000 orders/s (no timeouts, no 504)`, p99Ms: r1?.decision.p99, verdict: verdict(r1, (r) => r.decision.p99 < TARGETS.p99At1000Ms && r.timeouts + r.pending === 0) },
    sustained2000: { target: `≥ ${fmt(TARGETS.sustained)} accepted orders/s sustained`, achieved: r2?.achieved, p99Ms: r2?.decision.p99, verdict: verdict(r2, sustained) },
    maxSustained: ramp ? { target: 'highest ramp step sustained', ordersPerSecond: ramp.maxSustained ?? 0 } : undefined,
  };
}

function printSummary(outcomes: Outcome[], args: Args): void {
  console.log(`\n■ summary (${fmt(args.users)} users, ${args.replicas} accounts replica(s), ${args.partitions} partitions, ${args.symbols} symbols × ${args.quotesPerSecond} quotes/s, ${args.clients} generator processes)`);
  console.log('| scenario | offered/s | accepted/s | accepted / rejected / 504 / timeouts / errors / unfilled | decision p50 / p99 / p99.9 / max ms | quote→fill p50 / p99 / p99.9 / max ms | gateway | accounts | postgres | redis | feed | sim | generator | machine | outside | valid |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const p = (x: number) => `${fmt(x * 100)} %`;
  const l = (s: LatencySummary) => `${fmt(s.p50, 1)} / ${fmt(s.p99, 1)} / ${fmt(s.p999, 1)} / ${fmt(s.max, 1)}`;
  for (const o of outcomes) {
    for (const r of o.results) {
      const c = r.cpu;
      console.log(
        `| ${o.scenario.name} | ${fmt(r.rate)} | ${fmt(r.achieved)} | ${fmt(r.accepted)} / ${fmt(rejectedCount(r))} / ${fmt(r.pending)} / ${fmt(r.timeouts)} / ${fmt(errorCount(r))} / ${fmt(r.unfilled)} | ${l(r.decision)} | ${l(r.quoteToFill)} | ${p(c.gateway)} | ${c.replicas.map(p).join(' + ')} | ${p(c.postgres)} | ${p(c.redis)} | ${p(c.feed)} | ${p(c.sim)} | ${c.clients.map(p).join(' + ')} | ${p(c.machine)} | ${p(c.foreign)} | ${r.invalid.length ? 'INVALID' : 'valid'}${r.shared ? ' (shared)' : ''} |`,
      );
    }
  }
  const t = targets(outcomes);
  console.log('\n■ targets');
  console.log(`  ${t.p99At1000.target}: ${t.p99At1000.p99Ms !== undefined ? `p99 ${fmt(t.p99At1000.p99Ms, 2)} ms — ` : ''}${t.p99At1000.verdict}`);
  console.log(`  ${t.sustained2000.target} (p99 < ${SUSTAINED.p99Ms} ms, no timeout/504/error, ≥ ${SUSTAINED.minAchievedRatio * 100} % accepted, every accepted order filled): ${t.sustained2000.achieved !== undefined ? `${fmt(t.sustained2000.achieved)}/s, p99 ${fmt(t.sustained2000.p99Ms ?? Number.NaN, 1)} ms — ` : ''}${t.sustained2000.verdict}`);
  const ramp = outcomes.find((o) => o.scenario.kind === 'ramp');
  if (ramp) {
    const last = ramp.results.at(-1);
    const why = last && !sustained(last) ? ` (stopped at ${fmt(last.rate)}/s: ${last.invalid.length ? 'INVALID run' : `p99 ${fmt(last.decision.p99, 1)} ms, ${fmt(last.achieved)}/s accepted, ${last.timeouts + last.pending} timeouts/504, ${last.unfilled} unfilled`})` : ' (every step passed)';
    console.log(`  max sustained (ramp): ${ramp.maxSustained ? `${fmt(ramp.maxSustained)} orders/s` : 'none'}${why}`);
  }
  if (args.cpuProf) console.log(`  CPU profiles of the role processes: ${args.cpuProf} (written when they stop)`);
}

function writeJson(file: string, meta: object, outcomes: readonly Outcome[]): void {
  const body = {
    ...meta,
    scenarios: outcomes.map((o) => ({ name: o.scenario.name, kind: o.scenario.kind, description: o.scenario.description, maxSustained: o.maxSustained, steps: o.results })),
    targets: targets(outcomes),
  };
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
}

// ---------- main ----------
async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const by = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > by) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const unknown = args.names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const scenarios = args.names.map((n) => SCENARIOS.find((s) => s.name === n)!);
  const topRate = Math.max(WARMUP.rate, ...scenarios.flatMap((s) => s.steps.map((x) => x.rate)));
  if (topRate / args.users > LIMITS.ordersPerUserPerSecond || (topRate / args.users) * 60 > LIMITS.httpPerUserPerMinute) {
    throw new Error(`${fmt(topRate)} orders/s over ${args.users} users exceeds the per-user limits (${LIMITS.ordersPerUserPerSecond}/s orders, ${LIMITS.httpPerUserPerMinute}/min HTTP): use more --users`);
  }

  const startedAt = new Date();
  console.log(`bench:orders on ${machineLine()}`);
  console.log(`  ${fmt(args.users)} users (pro_plus, one cash paper account each, $${fmt(args.cash)}), ${args.replicas} accounts replica(s), ${args.partitions} partitions, ${args.clients} load-generator process(es)`);
  const stack = await startBenchStack(started, { name: 'bench-orders', database: 'raxx_bench_orders', pgStats: args.pgStats });
  const ids = benchUserIds(args.users);
  console.log(`  seeded ${await seedProPlusUsers(stack.batchSql, ids, String(args.cash))} active paper accounts of pro_plus users`);

  // The market: unique symbols, a looped recording, "now" at 10:00 New York time of the next NYSE session.
  const symbols: BenchSymbol[] = benchSymbols(args.symbols);
  const offsetMs = regularSessionOffsetMs();
  const recording = join(stack.dir, 'market.jsonl');
  writeRecording(recording, symbols, args.quotesPerSecond);
  console.log(`  market: ${symbols.map((s) => `${s.symbol} ~$${s.base}`).join(', ')}; ${args.quotesPerSecond} quotes/s each; clock offset ${fmt(offsetMs / 3_600_000, 2)} h (simulated now ${new Date(Date.now() + offsetMs).toISOString()})`);

  const profiling = args.cpuProf ? { NODE_OPTIONS: `--import ${resolve(import.meta.dirname, '../actors/cpu-profile.mjs')}`, RAXX_BENCH_CPU_PROF_DIR: args.cpuProf } : {};
  if (args.cpuProf) mkdirSync(args.cpuProf, { recursive: true });
  // The roles run compiled, as in production (bench/shared/roles.ts); BENCH_ROLES_TSX=1 runs them under tsx.
  const launcher = roleLauncher();
  started.add('role build', async () => launcher.remove());
  console.log(`  roles: ${launcher.mode}`);
  const roles: RoleProcess[] = [];
  // A role that has not exited 15 s after SIGTERM (e.g. draining a deep overload backlog) is killed, so the bench
  // still stops its Redis and PostgreSQL.
  started.add('roles', async () => Promise.all(roles.map((r) => r.stop('SIGTERM', 15_000))));
  const sim = launcher.start('sim', {
    SIM_KMS_PORT: '0',
    SIM_CLOCK: 'nyse',
    CLOCK_OFFSET_MS: String(offsetMs),
    SIM_REPLAY_FILE: recording,
    SIM_REPLAY_LOOP: '1',
    SIM_BATCH_MS: '5', // quotes leave the simulator within ~5 ms of their timestamp (its batch timer)
    SIM_KEYS: `${SIM_KEY.id}:${SIM_KEY.secret}:algo_trader_plus`,
    SIM_RATE_LIMIT_PER_MIN: '0',
    ...profiling,
  });
  roles.push(sim);
  const simUrl = (await sim.ready).url;
  const secret = randomBytes(32).toString('hex');
  const common = {
    RAXX_ENV: 'test',
    REDIS_URL: stack.redis.url,
    DATABASE_URL: stack.urls.appUrl,
    DATABASE_BATCH_URL: stack.urls.batchUrl,
    ACCOUNTS_PARTITIONS: String(args.partitions),
    CLOCK_OFFSET_MS: String(offsetMs),
    ALPACA_TRADING_URL: simUrl,
    ALPACA_DATA_REST_URL: simUrl,
    ALPACA_DATA_STREAM_URL: simUrl.replace(/^http/, 'ws'),
    ALPACA_KEY_ID: SIM_KEY.id,
    ALPACA_SECRET_KEY: SIM_KEY.secret,
    LOG_LEVEL: 'warn',
    ...profiling,
  };
  // The feed always wants the bench symbols: their last-known-good quote prices a market buy at submit.
  const feed = launcher.start('feed', { ...common, FEED_SYMBOLS: symbols.map((s) => s.symbol).join(',') }, 60_000);
  roles.push(feed);
  const feedUrl = (await feed.ready).url;
  const session = { secret, issuer: ISSUER, audience: AUDIENCE };
  const { replicas, gateway, gatewayUrl, gatewayOpsUrl } = await startAccountsAndGateway(launcher, roles, common, { replicas: args.replicas, partitions: args.partitions, session });
  await waitUntil('a last-known-good quote of every symbol', 30_000, async () => (await stack.admin.hmget(marketDataKeys.lkg, ...symbols.map((s) => `q:${s.symbol}`))).every(Boolean));

  const users: BenchUser[] = await signSessionTokens(ids, session);
  const clients: ClientProc[] = [];
  started.add('clients', () => stopChildren(clients, { type: 'stop' }));
  for (let k = 0; k < args.clients; k++) clients.push(forkChild<ParentMessage, ChildMessage>(resolve(import.meta.dirname, 'client.ts')));
  const readyP = clients.map((c) => c.next(120_000));
  // Users are split between the client processes, so each user's orders come from one process, in order.
  clients.forEach((c, k) =>
    c.send({ type: 'config', url: gatewayUrl, users: users.filter((_, i) => i % args.clients === k), symbols, offsetMs, sockets: SOCKETS_PER_CLIENT, timeoutMs: CLIENT_TIMEOUT_MS }),
  );
  const ready = await Promise.all(readyP);
  for (const r of ready) if (r.type !== 'ready') throw new Error(`load generator: ${r.type === 'error' ? r.message : r.type}`);
  console.log(`  ${fmt(ready.reduce((x, r) => x + (r.type === 'ready' ? r.sockets : 0), 0))} /paper/stream sockets listening to trade_updates`);

  const servers: Servers = {
    gatewayOpsUrl,
    sim,
    feed,
    feedUrl,
    gateway,
    replicas,
    redisPid: stack.redis.pid,
    pgPid: stack.pg.pid,
    admin: stack.admin,
    batchSql: stack.batchSql,
    ownerSql: stack.ownerSql,
    partitions: args.partitions,
    disk: stack.disk,
    checkpoint: stack.checkpoint,
    clients,
  };
  // Warm the tier cache, asset list, engines (one load per user), JIT and pools; not reported.
  const warm = await runStep(WARMUP, servers);
  console.log(`  warm-up: ${fmt(warm.accepted)} accepted of ${fmt(warm.scheduled)}, ${fmt(warm.events.fill ?? 0)} fill events; p99 submit→decision ${fmt(warm.decision.p99, 1)} ms`);

  const statsSql = await stack.enableStatementStats();
  mkdirSync(args.out, { recursive: true });
  const jsonFile = join(args.out, `orders-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const meta = {
    benchmark: 'bench:orders',
    startedAt: startedAt.toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAvgAtStart: loadavg() },
    options: { ...args, names: undefined, scenarios: args.names },
    market: { symbols, quotesPerSecondPerSymbol: args.quotesPerSecond, clockOffsetMs: offsetMs },
  };
  const outcomes = await runScenarios(scenarios, {
    unit: 'orders/s',
    run: (step) => runStep(step, servers),
    print: (r) => printStep(r, args.users),
    sustained,
    afterStep: (so) => writeJson(jsonFile, meta, so),
  });
  printSummary(outcomes, args);
  writeJson(jsonFile, meta, outcomes);
  console.log(`\n  report written to ${jsonFile}`);
  if (statsSql) await printStatementStats(statsSql);
}

await runBench('bench:orders', started, main);
