// The paper engine's failure proof at scale, real processes: simulator (a looped recording, NYSE clock offset to a
// regular session) → feed → Redis (DB mbt-scale) → accounts ×2 over 16 partitions. 1,000 users open accounts, then
// 11,000 order commands (market and marketable/far limit buys and sells, cancels) are appended round by round at a
// steady rate while quotes flow; one replica is SIGKILLed after about a third and a replacement started. After the
// drain: one outcome per command, one final state per accepted order, no duplicate fill, positions = Σ fills, cash to
// the cent, nothing pending; every account's recorded inputs re-derive exactly its fills (in-process for all, and
// through `mbt:explain --export` → `mbt:replay` for a sample including accounts whose partition moved at the kill).
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportReplayLog } from '../../src/actors/account/index.js';
import { fillId } from '../../src/actors/account/mbt/alpaca.js';
import { marketDataKeys } from '../../src/contracts/index.js';
import { createDb, type DbHandle } from '../../src/infra/db/index.js';
import { OPEN_ORDER_STATUSES } from '../../src/infra/db/schema/trading.js';
import { closeRedis, createRedis, type Redis } from '../../src/infra/redis/index.js';
import { partitionOf, runtimeKeys } from '../../src/runtime/index.js';
import { mulberry32 } from '../../src/sim/market/prng.js';
import {
  appendCommands,
  asBatch,
  eventLogs,
  leaseHolders,
  pendingByConsumer,
  pendingTotal,
  startAccountsReplica,
  toCents,
  type AccountsReplica,
  type LoggedEvent,
  type ModelCommand,
} from '../support/accounts.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { runTag, startLiveQuotes, type LiveQuotes } from '../support/live-quotes.js';
import {
  exportAndReplay,
  fillsOfReplayLog,
  mapPool,
  planUser,
  quoteRecording,
  SCRIPT_STEPS,
  type FillKey,
  type PlannedCommand,
} from '../support/mbt-scale.js';
import { testRedisUrl } from '../support/redis.js';
import { sleep, waitFor } from '../support/wait.js';

const P = 16;
const USERS = 1000;
const RESTING_EVERY = 10; // one user in ten parks far limits (they get every quote of their symbol while they rest)
const QUOTE_MS = 250; // per symbol
const LEASE_MS = 5000;
const STARTING = '100000';
const CHUNK = 100;
const PAUSE_MS = 300; // ≈ 330 commands/s offered
const CLI_SAMPLE = 12; // accounts through the CLIs, half of them on partitions that moved at the kill
const SEED = Number(process.env.MBT_SCALE_SEED ?? Math.floor(Math.random() * 2 ** 31));

const run = runTag();
const SYMBOLS = [`SA${run}`, `SB${run}`, `SC${run}`, `SL${run}`] as const;
const users = Array.from({ length: USERS }, (_, i) => `ms-${run.toLowerCase()}-${String(i).padStart(4, '0')}`);

let tdb: TestDatabase;
let su: postgres.Sql;
let batch: DbHandle;
let redis: Redis;
let market: LiveQuotes;
const replicas: AccountsReplica[] = [];

async function start(name: string): Promise<AccountsReplica> {
  const env = { LOG_LEVEL: 'warn', ACCOUNTS_PARTITIONS: String(P), ACCOUNTS_LEASE_TTL_MS: String(LEASE_MS), PAPER_STARTING_CASH: STARTING };
  const r = await startAccountsReplica(name, market.accountsEnv(env));
  replicas.push(r);
  return r;
}

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_mbt_scale');
  su = postgres(tdb.ownerUrl, { max: 4, onnotice: () => {} });
  batch = createDb(tdb.batchUrl, { max: 4, appName: 'mbt-scale-test' });
  await su`insert into users (id) select unnest(${users}::text[])`;
  redis = createRedis(testRedisUrl('mbt-scale'), 'mbt-scale-e2e');
  await redis.flushdb();
  market = await startLiveQuotes({
    name: 'mbt-scale',
    recording: quoteRecording(
      SYMBOLS.map((S, k) => ({ S, level: 20 + 5 * k })),
      QUOTE_MS,
    ),
    redisUrl: testRedisUrl('mbt-scale'),
    tdb,
    // Always wanted: a market buy is priced (held) from the symbol's last-known-good quote at submit.
    feedEnv: { LOG_LEVEL: 'warn', FEED_SYMBOLS: SYMBOLS.join(',') },
  });
  await Promise.all([start('r1'), start('r2'), market.feed.ready]);
}, 90_000);

afterAll(async () => {
  for (const r of replicas) await r.stop('SIGKILL');
  await market?.close();
  await closeRedis(redis);
  await batch?.close();
  await su?.end();
  await tdb?.drop();
});

// ---- workload ----

function shuffle<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Appends `cmds` chunk after chunk at a steady pace, calling `at(i, n)` right after chunk i (its time counts in the pace). */
async function flow(cmds: ModelCommand[], at: (i: number, n: number) => Promise<void>): Promise<void> {
  const n = Math.ceil(cmds.length / CHUNK);
  for (let i = 0; i < n; i++) {
    const t = Date.now();
    await appendCommands(redis, cmds.slice(i * CHUNK, (i + 1) * CHUNK), P);
    await at(i, n);
    await sleep(Math.max(0, PAUSE_MS - (Date.now() - t)));
  }
}

// ---- what landed (read as raxx_batch: it sees every tenant) ----

interface OrderRow {
  id: string;
  user_id: string;
  symbol: string;
  side: string;
  qty: string;
  filled_qty: string;
  status: string;
  reserved_cash: string;
  command_id: string | null;
}
interface FillRow extends FillKey {
  user_id: string;
  account_id: string;
  symbol: string;
  side: string;
}
interface AccountRow {
  id: string;
  user_id: string;
  cash: string;
  reserved_cash: string;
}

const OPEN_SQL = `status in (${OPEN_ORDER_STATUSES.map((s) => `'${s}'`).join(', ')})`;
const count = async (q: string) => Number((await asBatch(su, (tx) => tx.unsafe(q)))[0]!.n);

async function landed() {
  return asBatch(su, async (tx) => ({
    outcomes: new Map(
      (await tx<{ command_id: string; user_id: string; result_code: string }[]>`select command_id, user_id, result_code from processed_commands`).map((r) => [r.command_id, r]),
    ),
    orders: await tx<OrderRow[]>`select id::text, user_id, symbol, side, qty::text, filled_qty::text, status, reserved_cash::text, command_id from orders`,
    fills: await tx<FillRow[]>`
      select id::text, order_id::text, user_id, account_id::text, symbol, side, qty::text, price::text, fee::text, quote_seq::int, rule from fills`,
    positions: await tx<{ user_id: string; symbol: string; qty: string }[]>`select user_id, symbol, qty::text from positions`,
    accounts: await tx<AccountRow[]>`select id::text, user_id, cash::text, reserved_cash::text from paper_accounts`,
  }));
}
type Landed = Awaited<ReturnType<typeof landed>>;

// ---- the checks: each returns what is wrong, with the user, step and order it concerns ----

interface Tally {
  submits: number;
  accepted: number;
  filled: number;
  canceled: Map<string, number>;
  refused: Map<string, number>;
  cancels: number;
  cancelsAccepted: number;
}
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** Submits: an accepted one has exactly one order, in a final state, with fills summing to its filled qty and no hold; a refused one created nothing. Cancels agree with the orders' ends. */
function checkOrders(planned: readonly PlannedCommand[], db: Landed, bad: string[]): Tally {
  const t: Tally = { submits: 0, accepted: 0, filled: 0, canceled: new Map(), refused: new Map(), cancels: 0, cancelsAccepted: 0 };
  const orderById = new Map(db.orders.map((o) => [o.id, o]));
  const filled = new Map<string, bigint>();
  for (const f of db.fills) filled.set(f.order_id, (filled.get(f.order_id) ?? 0n) + BigInt(f.qty));
  const canceledByCommand = new Set<string>();
  for (const p of planned) {
    const code = db.outcomes.get(p.env.id)?.result_code;
    const at = `${p.env.userId} step ${p.step} (${p.label}), command ${p.env.id}`;
    if (p.targetId) {
      t.cancels++;
      const target = orderById.get(p.targetId);
      if (code === 'accepted') {
        t.cancelsAccepted++;
        canceledByCommand.add(p.targetId);
        if (target?.status !== 'canceled') bad.push(`${at}: cancel accepted, order ${p.targetId} is ${target?.status}`);
      } else if (target?.status === 'canceled') bad.push(`${at}: cancel refused (${code}), yet order ${p.targetId} is canceled`);
      continue;
    }
    t.submits++;
    const o = orderById.get(p.orderId!);
    if (code !== 'accepted') {
      bump(t.refused, `${p.label}: ${code}`);
      if (o) bad.push(`${at}: refused (${code}) but order ${o.id} exists (${o.status})`);
      continue;
    }
    t.accepted++;
    if (!o) {
      bad.push(`${at}: accepted, no order row`);
      continue;
    }
    const sum = String(filled.get(o.id) ?? 0n);
    if (o.command_id !== p.env.id) bad.push(`${at}: order ${o.id} names command ${o.command_id}`);
    if (sum !== o.filled_qty) bad.push(`${at}: order ${o.id} filled_qty ${o.filled_qty}, its fills sum to ${sum}`);
    if (o.status === 'filled') t.filled++;
    else if (o.status === 'canceled') bump(t.canceled, p.label);
    else bad.push(`${at}: order ${o.id} ended ${o.status}`);
    if (o.status === 'filled' && o.filled_qty !== o.qty) bad.push(`${at}: order ${o.id} filled ${o.filled_qty} of ${o.qty}`);
    if (toCents(o.reserved_cash) !== 0n) bad.push(`${at}: order ${o.id} still holds ${o.reserved_cash}`);
  }
  // Nothing else creates or cancels orders here (no session end, no refusal at fill).
  const submitted = new Set(planned.flatMap((p) => (p.orderId ? [p.orderId] : [])));
  for (const o of db.orders) {
    if (!submitted.has(o.id)) bad.push(`order ${o.id} of ${o.user_id} belongs to no appended submit`);
    if (o.status === 'canceled' && !canceledByCommand.has(o.id)) bad.push(`order ${o.id} of ${o.user_id} canceled without an accepted cancel`);
  }
  return t;
}

/** No fill twice per (order, quote); each fill matches its order; positions = Σ signed fills; cash = start − buys + sells − fees. */
function checkMoney(db: Landed, bad: string[]): void {
  const orderById = new Map(db.orders.map((o) => [o.id, o]));
  const perQuote = new Set<string>();
  const expectedPos = new Map<string, bigint>();
  const cash = new Map(db.accounts.map((a) => [a.user_id, toCents(STARTING)]));
  for (const f of db.fills) {
    const k = `${f.order_id}|${f.quote_seq}`;
    if (perQuote.has(k)) bad.push(`order ${f.order_id} filled twice on quote seq ${f.quote_seq}`);
    perQuote.add(k);
    const o = orderById.get(f.order_id);
    if (!o || o.user_id !== f.user_id || o.symbol !== f.symbol || o.side !== f.side) bad.push(`fill ${f.id} does not match its order ${f.order_id}`);
    if (!/^\d+$/.test(f.qty)) bad.push(`fill ${f.id}: fractional qty ${f.qty}`);
    const pk = `${f.user_id}|${f.symbol}`;
    expectedPos.set(pk, (expectedPos.get(pk) ?? 0n) + (f.side === 'buy' ? BigInt(f.qty) : -BigInt(f.qty)));
    const notional = BigInt(f.qty) * toCents(f.price);
    cash.set(f.user_id, (cash.get(f.user_id) ?? 0n) + (f.side === 'buy' ? -notional : notional) - toCents(f.fee));
  }
  for (const [k, q] of expectedPos) if (q === 0n) expectedPos.delete(k);
  const gotPos = new Map(db.positions.map((p) => [`${p.user_id}|${p.symbol}`, BigInt(p.qty)]));
  for (const [k, q] of expectedPos) if (gotPos.get(k) !== q) bad.push(`position ${k}: ${gotPos.get(k)} in PostgreSQL, its fills sum to ${q}`);
  for (const [k, q] of gotPos) if (!expectedPos.has(k)) bad.push(`position ${k}: ${q} in PostgreSQL without fills`);
  for (const a of db.accounts) {
    if (toCents(a.cash) !== cash.get(a.user_id)) bad.push(`${a.user_id}: cash ${a.cash}, its fills say ${cash.get(a.user_id)} cents`);
    if (toCents(a.reserved_cash) !== 0n) bad.push(`${a.user_id}: reserved ${a.reserved_cash} with no open order`);
  }
}

/**
 * Each user's private log: exactly one decision per command of the user; a fill notified at most once, and exactly
 * once on partitions that never moved (a killed replica may lose effects it committed but had not appended yet).
 */
function checkLogs(logs: Map<string, LoggedEvent[]>, mine: Map<string, string[]>, db: Landed, stayed: (u: string) => boolean, bad: string[]): number {
  const notified = new Map<string, number>();
  for (const [u, ids] of mine) {
    const decisions = new Map<string, number>();
    for (const e of logs.get(u) ?? []) {
      if (e.kind === 'decision') bump(decisions, e.commandId!);
      const d = e.data as { event?: string; execution_id?: string } | undefined;
      if (e.kind === 'trade_update' && (d?.event === 'fill' || d?.event === 'partial_fill')) bump(notified, fillId(d.execution_id!));
    }
    for (const id of ids) if (decisions.get(id) !== 1) bad.push(`${u}: command ${id} has ${decisions.get(id) ?? 0} decision events`);
    if (decisions.size !== ids.length) bad.push(`${u}: ${decisions.size} commands decided in its log, ${ids.length} appended`);
  }
  for (const [id, n] of notified) if (n > 1) bad.push(`fill ${id} notified ${n} times`);
  for (const f of db.fills) if (stayed(f.user_id) && !notified.has(f.id)) bad.push(`fill ${f.id} of ${f.user_id} (partition never moved) not notified`);
  return notified.size;
}

const keyOf = (f: FillKey): FillKey => ({ id: f.id, order_id: f.order_id, qty: f.qty, price: f.price, fee: f.fee, quote_seq: f.quote_seq, rule: f.rule });
const sortedEntries = (o: Record<string, string>) => JSON.stringify(Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1)));

describe('MBT at scale through real processes, with a replica SIGKILLed mid-flow', () => {
  it('1,000 users, 11,000 order commands on live quotes: one outcome each, no duplicate fill, positions and cash reconcile, fills replay', async () => {
    const t0 = Date.now();
    const rng = mulberry32(SEED);
    const rnd = () => rng.next();
    const [victim, survivor] = replicas as [AccountsReplica, AccountsReplica];
    expect(new Set(users.map((u) => partitionOf(u, P))).size).toBe(P); // users over every partition
    await waitFor(async () => (await victim.health()).owned.length === P / 2 && (await survivor.health()).owned.length === P / 2, 20_000, 'partitions split');

    // Accounts first (commands, as the gateway appends them), and quotes flowing on every symbol.
    const opens: ModelCommand[] = shuffle(users, rnd).map((u) => ({ env: { id: randomUUID(), userId: u, type: 'account.open', payload: {}, issuedAt: new Date().toISOString() } }));
    await appendCommands(redis, opens, P);
    await waitFor(async () => (await count('select count(*)::int as n from mbt_states')) === USERS, 60_000, 'accounts opened');
    await waitFor(async () => (await redis.hmget(marketDataKeys.lkg, ...SYMBOLS.map((s) => `q:${s}`))).every((v) => v !== null), 30_000, 'quotes on every symbol');

    const setupMs = Date.now() - t0;

    // The workload: step k of every user's script is round k (users shuffled within each round).
    const plans = new Map(users.map((u, i) => [u, planUser(u, [...SYMBOLS], i % RESTING_EVERY === 0, rnd)]));
    const planned = [...plans.values()].flat();
    const rounds: ModelCommand[] = [];
    for (let k = 0; k < SCRIPT_STEPS; k++) for (const u of shuffle(users, rnd)) rounds.push({ env: plans.get(u)![k]!.env });
    expect(rounds.length).toBeGreaterThanOrEqual(10_000);

    let victimOwned: number[] = [];
    let killedAfter = -1;
    let heldByVictim = 0;
    let replacing: Promise<AccountsReplica> | undefined;
    const tFlow = Date.now();
    await flow(rounds, async (i, n) => {
      if (replacing || i < Math.floor(n / 3)) return;
      // Mid-flow, right after a chunk went in: the victim has read entries it has not acknowledged (its mailbox and the
      // turns it is running). Counted with the victim frozen (SIGSTOP), so what it holds cannot be acknowledged between
      // the count and the kill; tried every few milliseconds while it works through the chunk (it drains a chunk in
      // well under the pause), and at a later chunk if it never held any.
      const owned = (await victim.health()).owned;
      let held = 0;
      for (let k = 0; k < 40 && held === 0; k++) {
        victim.child.kill('SIGSTOP');
        held = (await pendingByConsumer(redis, P)).get(victim.owner) ?? 0;
        if (held === 0) {
          victim.child.kill('SIGCONT');
          await sleep(3);
        }
      }
      if (held === 0) {
        if (i >= Math.floor((2 * n) / 3)) throw new Error('the victim never held pending entries after a chunk');
        return;
      }
      victimOwned = owned;
      victim.child.kill('SIGKILL');
      await victim.exited;
      killedAfter = (i + 1) * CHUNK;
      heldByVictim = held;
      replacing = start('r3'); // in the background: the flow keeps its pace
    });
    const appendMs = Date.now() - tFlow;
    const replacement = await replacing!;
    const all = [...opens, ...rounds];

    // Drain: every command decided, nothing pending in any stream, every accepted order in a final state.
    const drainMs = await waitFor(
      async () =>
        (await count('select count(*)::int as n from processed_commands')) === all.length &&
        (await pendingTotal(redis, P)) === 0 &&
        (await count(`select count(*)::int as n from orders where ${OPEN_SQL}`)) === 0,
      90_000,
      `${all.length} commands decided, PEL empty, no open order`,
    ).catch(async (err: unknown) => {
      const open = await asBatch(su, (tx) => tx.unsafe(`select id, user_id, symbol, side, type, status from orders where ${OPEN_SQL} limit 5`));
      const warn = replicas.map((r) => `${r.name}: ${r.lines.filter((l) => /"level":"(warn|error)"/.test(l)).slice(-5).join('\n  ')}`);
      throw new Error(
        [
          String(err),
          `processed ${await count('select count(*)::int as n from processed_commands')} of ${all.length}`,
          `pending ${JSON.stringify([...(await pendingByConsumer(redis, P))])}; open orders ${JSON.stringify(open)}`,
          `leases ${JSON.stringify(await leaseHolders(redis, P))}`,
          ...warn,
        ].join('\n'),
        { cause: err },
      );
    });
    expect(await redis.xlen(runtimeKeys.deadLetter)).toBe(0);
    expect(heldByVictim).toBeGreaterThan(0);
    const [hs, hr] = await Promise.all([survivor.health(), replacement.health()]);
    expect([...hs.owned, ...hr.owned].sort((x, y) => x - y)).toEqual(Array.from({ length: P }, (_, p) => p));
    expect(hs.claimed + hr.claimed).toBeGreaterThanOrEqual(heldByVictim);

    const tChecks = Date.now();
    const moved = new Set(victimOwned);
    const stayed = (u: string) => !moved.has(partitionOf(u, P));
    const db = await landed();
    expect(db.accounts).toHaveLength(USERS);

    // The CLIs on a sample, in the background while the checks below run.
    const pick = <T,>(xs: readonly T[], n: number) => shuffle(xs, rnd).slice(0, n);
    const sample = [...pick(db.accounts.filter((a) => !stayed(a.user_id)), CLI_SAMPLE / 2), ...pick(db.accounts.filter((a) => stayed(a.user_id)), CLI_SAMPLE / 2)];
    const cliEnv = { RAXX_ENV: 'test', DATABASE_BATCH_URL: tdb.batchUrl, LOG_LEVEL: 'error' };
    const clis = mapPool(sample, 2, (a) => exportAndReplay(a.id, market.dir, cliEnv));

    // ---- one outcome per command, one end per accepted order, no duplicate fill, money to the cent ----
    const bad: string[] = [];
    expect(db.outcomes.size).toBe(all.length);
    for (const m of all) {
      const r = db.outcomes.get(m.env.id);
      if (!r || r.user_id !== m.env.userId) bad.push(`${m.env.userId}: command ${m.env.id} (${m.env.type}) has outcome ${JSON.stringify(r)}`);
      else if (m.env.type === 'account.open' && r.result_code !== 'accepted') bad.push(`${m.env.userId}: account.open ${r.result_code}`);
    }
    const tally = checkOrders(planned, db, bad);
    checkMoney(db, bad);
    const mine = new Map(users.map((u) => [u, [] as string[]]));
    for (const m of all) mine.get(m.env.userId)!.push(m.env.id);
    const notified = checkLogs(await eventLogs(redis, users), mine, db, stayed, bad);
    expect(bad.slice(0, 15)).toEqual([]);

    // ---- every account's recorded inputs hold its commands once each, in order, and re-derive exactly its fills, cash and positions ----
    const fillsOf = new Map<string, FillKey[]>();
    for (const f of db.fills) fillsOf.set(f.account_id, [...(fillsOf.get(f.account_id) ?? []), keyOf(f)]);
    const stored = (accountId: string) => JSON.stringify((fillsOf.get(accountId) ?? []).sort((x, y) => (x.id < y.id ? -1 : 1)));
    const positionsOf = (userId: string) => sortedEntries(Object.fromEntries(db.positions.filter((p) => p.user_id === userId).map((p) => [p.symbol, p.qty])));
    const exported = new Map<string, string[]>();
    let inputs = 0;
    await mapPool(db.accounts, 8, async (a) => {
      const lines = await exportReplayLog(batch.db, a.id);
      if (!lines) return void bad.push(`${a.user_id}: no engine state to export`);
      exported.set(a.id, lines);
      inputs += lines.length - 1;
      // The engine stepped each of the user's order commands once, in the user's append order.
      const stepped = lines.slice(1).flatMap((l) => {
        const i = JSON.parse(l) as { type: string; id?: string };
        return i.type === 'command' ? [i.id] : [];
      });
      const script = plans.get(a.user_id)!.map((p) => p.env.id);
      if (JSON.stringify(stepped) !== JSON.stringify(script)) bad.push(`${a.user_id}: engine commands ${JSON.stringify(stepped)}, appended ${JSON.stringify(script)}`);
      const r = fillsOfReplayLog(lines);
      if (JSON.stringify(r.fills) !== stored(a.id)) bad.push(`${a.user_id}: replayed fills ${JSON.stringify(r.fills)} ≠ stored ${stored(a.id)}`);
      if (toCents(r.final.cash) !== toCents(a.cash) || r.final.open_orders !== 0) bad.push(`${a.user_id}: replay ends with cash ${r.final.cash}, ${r.final.open_orders} open; stored ${a.cash}`);
      if (sortedEntries(r.final.positions) !== positionsOf(a.user_id)) bad.push(`${a.user_id}: replayed positions ${sortedEntries(r.final.positions)} ≠ ${positionsOf(a.user_id)}`);
    });
    expect(bad.slice(0, 10)).toEqual([]);

    // The CLIs: the export is the recorded inputs, and the replay re-derives the stored fills and cash.
    const checksMs = Date.now() - tChecks;
    let cliFills = 0;
    (await clis).forEach((r, i) => {
      const a = sample[i]!;
      if ('error' in r) return void bad.push(`${a.user_id}: ${r.error}`);
      cliFills += r.replay.fills.length;
      if (r.exported.trimEnd() !== exported.get(a.id)!.join('\n')) bad.push(`${a.user_id}: the CLI export differs from the recorded inputs`);
      if (JSON.stringify(r.replay.fills) !== stored(a.id)) bad.push(`${a.user_id}: mbt:replay fills ${JSON.stringify(r.replay.fills)} ≠ stored ${stored(a.id)}`);
      if (toCents(r.replay.final.cash) !== toCents(a.cash)) bad.push(`${a.user_id}: mbt:replay cash ${r.replay.final.cash} ≠ ${a.cash}`);
    });
    expect(bad.slice(0, 10)).toEqual([]);
    expect(sample.filter((a) => !stayed(a.user_id))).toHaveLength(CLI_SAMPLE / 2);
    expect(cliFills).toBeGreaterThan(0);

    // The workload did what it claims: mostly accepted, fills by both taker rules, resting orders canceled.
    expect(new Set(db.fills.map((f) => f.rule))).toEqual(new Set(['market_next_quote', 'limit_taker']));
    expect(tally.accepted).toBeGreaterThan(0.8 * tally.submits);
    expect(tally.canceled.get('buy far limit L (rests)')).toBe(USERS / RESTING_EVERY); // never marketable, always canceled
    console.log(
      `[mbt scale] seed ${SEED}; ${USERS} users over ${P} partitions; ${rounds.length} order commands appended in ${appendMs} ms ` +
        `(${tally.submits} submits: ${tally.accepted} accepted → ${tally.filled} filled, canceled ${JSON.stringify([...tally.canceled])}; ` +
        `refused ${JSON.stringify([...tally.refused])}; cancels ${tally.cancelsAccepted}/${tally.cancels} accepted, the rest too late). ` +
        `${victim.name} SIGKILLed after ${killedAfter} holding ${heldByVictim} pending entries (partitions ${victimOwned.join(',')}); ` +
        `claimed ${survivor.name}=${hs.claimed} ${replacement.name}=${hr.claimed}, takeovers ${hs.takeovers}+${hr.takeovers}; drained ${drainMs} ms after the last append. ` +
        `Checked: ${all.length} outcomes, ${db.orders.length} orders, ${db.fills.length} fills (${notified} notified), ${db.positions.length} positions, ` +
        `cash of ${db.accounts.length} accounts to the cent; ${inputs} recorded inputs replayed to the same fills, ${sample.length} accounts also through ` +
        `mbt:explain → mbt:replay (${cliFills} fills). ` +
        `Setup ${setupMs} ms, checks ${checksMs} ms (+${Date.now() - tChecks - checksMs} ms for the CLIs), total ${Date.now() - t0} ms.`,
    );
  }, 240_000);
});
