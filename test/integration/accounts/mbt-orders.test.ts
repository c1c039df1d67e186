// MBT inside the account actor, on real PostgreSQL and Redis (DB 12, unique users and symbols): orders as commands,
// quotes and clock events as signals in fenced turns, the query-table projection, settle, isolation, explain and
// export → replay equality. Turns run through the runtime's own fenced, effectively-once path (commitFencedBatch);
// the first test also goes through the in-process PartitionRuntime.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountHost, type RecordedEffect, type UserEventDraft, createMarketQuotes, explainOrder, exportReplayLog, openOrderPairs, openOrderSymbolsByUser } from '../../../src/actors/account/index.js';
import { marketDataKeys, userEventKeys, userEventSchema, type UserEvent } from '../../../src/contracts/index.js';
import { mbt } from '../../../src/domain/index.js';
import { createDb, toDbError, users, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { UserEventLog } from '../../../src/infra/user-events/index.js';
import {
  appendCommand,
  claimPartitionEpoch,
  commitFencedBatch,
  FencedOutError,
  partitionOf,
  PartitionRuntime,
  type Envelope,
  type Signal,
  type StoredDecision,
} from '../../../src/runtime/index.js';
import { purgeEngineLogs } from '../../../src/workers/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { fencedTurns, rollingBack } from '../../support/turns.js';
import { clearEffects, recoverEffects, type OutboxEffect } from '../../../src/infra/signal-outbox/index.js';
import { runCli } from '../../support/processes.js';
import { testRedisUrl } from '../../support/redis.js';
import { waitFor } from '../../support/wait.js';

const HARNESS_PARTITION = 100; // the fenced turns below; the in-process runtime uses 0..3
const run = randomBytes(3).toString('hex').toUpperCase().replace(/[0-9]/g, (c) => 'GHIJKLMNOP'[Number(c)]!);
const uid = (name: string) => `mbt-${name}-${run.toLowerCase()}`;
const sym = (name: string) => `${name}${run}`.slice(0, 10);

let tdb: TestDatabase;
let su: postgres.Sql;
let app: DbHandle;
let batch: DbHandle;
let redis: Redis;
let events: UserEventLog;
let epoch: number;
const host = () => hostRef!;
let hostRef: ReturnType<typeof createAccountHost> | undefined;

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_mbt');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  app = createDb(tdb.appUrl, { max: 8, role: 'raxx_app', appName: 'mbt-test' });
  batch = createDb(tdb.batchUrl, { max: 2, appName: 'mbt-test-batch' });
  redis = createRedis(testRedisUrl('mbt-orders'), 'mbt-test');
  events = new UserEventLog(redis);
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'rt', 'outbox', 'cash', 'cash2', 'cash3', 'blind', 'ckpt'].map(uid);
  await withTenant(app.db, ids, (tx) => tx.insert(users).values(ids.map((id) => ({ id, email: `${id}@example.com`, displayName: id }))));
  epoch = await claimPartitionEpoch(app.db, HARNESS_PARTITION, 1, 'mbt-test');
  hostRef = createAccountHost({ startingCash: '100000', mbt: { quotes: createMarketQuotes(redis), feed: 'sip' } });
});
afterAll(async () => {
  await events?.drain();
  await app?.close();
  await batch?.close();
  await closeRedis(redis);
  await su?.end();
  await tdb?.drop();
});

const cmd = (userId: string, type: string, payload: unknown = {}): Envelope => ({ id: randomUUID(), userId, type, payload, issuedAt: new Date().toISOString() });

const turns = () => fencedTurns(app.db, HARNESS_PARTITION, () => epoch, host, events);
/** One command turn exactly as the runtime runs it: fenced, effectively once, then the decisions' events appended. */
const turn = (...envs: Envelope[]): Promise<StoredDecision[]> => turns().turn(...envs);
/** One signal turn: the fenced transaction the runtime will open for signals; effects appended after commit. */
const signals = async (...list: Signal[]): Promise<void> => void (await turns().signals(...list));

const T0 = Date.now() - 20 * 60_000;
const day = new Date(T0).toISOString().slice(0, 10);
const openSignal = (userId: string): Signal => ({ userId, kind: 'clock', payload: { type: 'clock', event: 'regular_open', day, ts: T0 } });
/** Opens the user's paper account and the regular session of its engine. */
const openTrading = async (userId: string) => {
  await turn(cmd(userId, 'account.open'));
  await signals(openSignal(userId));
};
const frame = (S: string, seq: number, ts: number, bp: number, bs: number, ap: number, as: number) => ({
  T: 'q',
  S,
  bx: 'V',
  bp,
  bs,
  ax: 'V',
  ap,
  as,
  c: ['R'],
  z: 'C',
  t: `${new Date(ts).toISOString().slice(0, 23)}456789Z`,
  src: 'rt',
  seq,
});
const quote = (userId: string, f: ReturnType<typeof frame>): Signal => ({ userId, kind: 'quote', payload: f });

const asBatch = async <T>(fn: (tx: postgres.TransactionSql) => Promise<T>) =>
  su.begin(async (tx) => {
    await tx`set local role raxx_batch`;
    return fn(tx);
  }) as Promise<T>;
const accountOf = (userId: string) =>
  asBatch(async (tx) => (await tx`select id::text, cash::text, reserved_cash::text from paper_accounts where user_id = ${userId}`)[0] as { id: string; cash: string; reserved_cash: string });
const ordersOf = (userId: string) =>
  asBatch((tx) => tx<Array<Record<string, string>>>`select id::text, status, filled_qty::text, filled_avg_price::text, reserved_cash::text, command_id, client_order_id from orders where user_id = ${userId} order by submitted_at, id`);
const fillsOf = (userId: string) =>
  asBatch((tx) => tx<Array<Record<string, string | number>>>`select order_id::text, qty::text, price::text, quote_seq::int, rule, fee::text from fills where user_id = ${userId} order by filled_at, quote_seq`);
const positionsOf = (userId: string) => asBatch((tx) => tx<Array<Record<string, string>>>`select symbol, qty::text, avg_entry_price::text from positions where user_id = ${userId}`);
const inputCount = (userId: string) => asBatch(async (tx) => Number((await tx`select count(*)::int as n from mbt_inputs where user_id = ${userId}`)[0]!.n));
async function logOf(userId: string): Promise<UserEvent[]> {
  const entries = await redis.xrange(userEventKeys.log(userId), '-', '+');
  return entries.map(([, f]) => userEventSchema.parse(JSON.parse(f[f.indexOf('f') + 1]!)));
}
/** A turn whose handler ran (the engines in memory took the commands) and whose transaction then aborted before COMMIT. */
const crashingTurn = (env: Envelope) =>
  rollingBack((onRollback) =>
    commitFencedBatch(app.db, HARNESS_PARTITION, epoch, [env], async (tx, fresh) => {
      await host().handleBatch({ partition: HARNESS_PARTITION, epoch, tx, onRollback }, fresh);
      throw new Error('crash before commit');
    }),
  );
const submit = (userId: string, order: Record<string, unknown>) =>
  cmd(userId, 'order.submit', { order: { id: randomUUID(), client_order_id: randomUUID(), time_in_force: 'day', ...order } });

describe('MBT in the account actor', () => {
  it('through the in-process runtime: open, then a submit is decided as Alpaca order JSON', async () => {
    const u = uid('rt');
    const decisions: { env: Envelope; d: StoredDecision }[] = [];
    const rt = new PartitionRuntime({ redis, db: app.db, partitions: 4, leaseTtlMs: 2000, host: host(), onDecision: (env, d) => void decisions.push({ env, d }) });
    await rt.start();
    try {
      const open = cmd(u, 'account.open');
      const order = submit(u, { symbol: sym('RT'), side: 'buy', type: 'limit', qty: '5', limit_price: '12.5' });
      await appendCommand(redis, open, 4);
      await appendCommand(redis, order, 4);
      await waitFor(() => decisions.length === 2, 15_000, 'two decisions');
      const d = decisions.find((x) => x.env.id === order.id)!.d;
      expect(d.outcome).toBe('accepted');
      const o = (d.result as { order: Record<string, unknown> }).order;
      // No session event yet (no calendar, no clock signal): Alpaca's "accepted", held until the open.
      expect(o).toMatchObject({ id: order.payload && (order.payload as { order: { id: string } }).order.id, status: 'accepted', asset_class: 'us_equity', order_class: 'simple', legs: null, qty: '5', limit_price: '12.5', type: 'limit', order_type: 'limit' });
      expect(o.created_at).toBe(o.submitted_at);
      expect(await accountOf(u)).toMatchObject({ reserved_cash: '62.5' });
      expect(partitionOf(u, 4)).toBeLessThan(4);
    } finally {
      await rt.stop();
    }
  });

  it('submit → new; quotes fill with quote seq and rule; position, cash and holds to the cent; cancel releases; redelivery changes nothing', async () => {
    const u = uid('a');
    const S = sym('MA');
    expect((await turn(cmd(u, 'account.open')))[0]!.outcome).toBe('accepted');
    await signals(openSignal(u));
    // The hub's last-known-good quote is fed before the submit, so the market buy is held at its ask (row 13).
    await redis.hset(marketDataKeys.lkg, `q:${S}`, JSON.stringify(frame(S, 5, T0 + 60_000, 10.01, 2, 10.03, 1)));
    const buy = submit(u, { symbol: S, side: 'buy', type: 'market', qty: '150' });
    const [d] = await turn(buy);
    expect(d).toMatchObject({ outcome: 'accepted', replayed: false });
    const orderId = (buy.payload as { order: { id: string } }).order.id;
    expect((d!.result as { order: { status: string; id: string } }).order).toMatchObject({ id: orderId, status: 'new' });
    expect(await accountOf(u)).toMatchObject({ cash: '100000', reserved_cash: '1564.5' }); // 150 × collar(10.03) = 150 × 10.43

    // Displayed size: 1 lot on seq 6 (partial), the rest on seq 7 (next-quote rule, buy at the ask).
    await signals(quote(u, frame(S, 6, T0 + 61_000, 10.0, 1, 10.04, 1)), quote(u, frame(S, 7, T0 + 62_000, 10.01, 1, 10.05, 2)));
    expect(await fillsOf(u)).toEqual([
      { order_id: orderId, qty: '100', price: '10.04', quote_seq: 6, rule: 'market_next_quote', fee: '0' },
      { order_id: orderId, qty: '50', price: '10.05', quote_seq: 7, rule: 'market_next_quote', fee: '0' },
    ]);
    expect(await positionsOf(u)).toEqual([{ symbol: S, qty: '150', avg_entry_price: '10.043333333' }]);
    expect(await accountOf(u)).toMatchObject({ cash: '98493.5', reserved_cash: '0' }); // 100000 − 1004 − 502.50
    expect((await ordersOf(u))[0]).toMatchObject({ id: orderId, status: 'filled', filled_qty: '150', filled_avg_price: '10.043333333', reserved_cash: '0', command_id: buy.id });

    // A limit buy holds qty × limit; cancel releases it.
    const limit = submit(u, { symbol: sym('MB'), side: 'buy', type: 'limit', qty: '10', limit_price: '9' });
    await turn(limit);
    expect(await accountOf(u)).toMatchObject({ reserved_cash: '90' });
    const limitId = (limit.payload as { order: { id: string } }).order.id;
    const [c] = await turn(cmd(u, 'order.cancel', { order_id: limitId }));
    expect((c!.result as { order: { status: string } }).order.status).toBe('canceled');
    expect(await accountOf(u)).toMatchObject({ cash: '98493.5', reserved_cash: '0' });

    // The same envelope again: the stored decision is replayed; no order, input or fill is added.
    const [inputs, orders, fills] = [await inputCount(u), (await ordersOf(u)).length, (await fillsOf(u)).length];
    const [again] = await turn(buy);
    expect(again).toMatchObject({ replayed: true, outcome: 'accepted' });
    expect([await inputCount(u), (await ordersOf(u)).length, (await fillsOf(u)).length]).toEqual([inputs, orders, fills]);

    // Private log: the decision, then one trade_update per engine event (Alpaca payload), fills included.
    const log = await logOf(u);
    const trades = log.filter((e) => e.kind === 'trade_update').map((e) => e.data as { event: string; order: { id: string }; qty?: string; price?: string; execution_id?: string });
    expect(trades.map((t) => t.event)).toEqual(['new', 'partial_fill', 'fill', 'new', 'canceled']);
    expect(trades[1]).toMatchObject({ order: { id: orderId }, qty: '100', price: '10.04', execution_id: `${orderId}-1` });
    expect(log.filter((e) => e.kind === 'decision' && e.commandId === buy.id)).toHaveLength(1);

    // Row 18 / insufficient buying power come back as Alpaca errors with the contract's code.
    const [tooBig] = await turn(submit(u, { symbol: sym('MC'), side: 'buy', type: 'limit', qty: '100000', limit_price: '5' }));
    expect(tooBig).toMatchObject({ outcome: 'rejected', code: 'alpaca_40310000', result: { status: 403, code: 40310000, message: 'insufficient buying power' } });
    const [bad] = await turn(submit(u, { symbol: S, side: 'buy', type: 'iceberg', qty: '1' }));
    expect(bad).toMatchObject({ outcome: 'rejected', code: 'alpaca_40010001', result: { status: 422 } });

    // adjust_cash keeps its rule (cash may not fall below the holds) while orders hold cash.
    await turn(submit(u, { symbol: sym('MD'), side: 'buy', type: 'limit', qty: '1000', limit_price: '98' }));
    const [withdraw] = await turn(cmd(u, 'account.adjust_cash', { amount: '-500', reason: 'too much' }));
    expect(withdraw).toMatchObject({ outcome: 'rejected', code: 'insufficient_cash', result: { cash: '98493.5', reservedCash: '98000' } });
    await turn(cmd(u, 'order.cancel_all'));
    expect(await accountOf(u)).toMatchObject({ reserved_cash: '0' });
  });

  it('cash adjustments in one turn: no round trip each, one engine save; after an order of that turn, its hold is seen', async () => {
    const [u, v] = [uid('cash'), uid('cash2')];
    await openTrading(u);
    await openTrading(v);
    // A pool that reports every statement it sends: this turn's statements are counted.
    const sent: string[] = [];
    const counted = createDb(tdb.appUrl, { max: 2, role: 'raxx_app', appName: 'mbt-test-counted', onStatement: (text) => sent.push(text) });
    const awaitedUpdates = () => sent.filter((t) => /update paper_accounts set cash = cash \+/.test(t) && /returning id::text/.test(t));
    try {
      const countedTurn = (...envs: Envelope[]) => fencedTurns(counted.db, HARNESS_PARTITION, () => epoch, host, events).turn(...envs);
      const adjust = (userId: string, amount: string) => cmd(userId, 'account.adjust_cash', { amount, reason: 'batch' });
      const version = async (userId: string) =>
        asBatch(async (tx) => Number((await tx`select version::int as n from paper_accounts where user_id = ${userId}`)[0]!.n));
      const v0 = await version(u);
      const decided = await countedTurn(adjust(u, '10'), adjust(u, '20.50'), adjust(u, '-5'), adjust(u, '-1000000'));
      expect(decided.map((d) => d.outcome)).toEqual(['accepted', 'accepted', 'accepted', 'rejected']);
      expect(decided.map((d) => (d.result as { cash: string }).cash)).toEqual(['100010', '100030.50', '100025.50', '100025.50']);
      expect(decided.slice(0, 3).map((d) => (d.result as { version: number }).version)).toEqual([v0 + 1, v0 + 2, v0 + 3]);
      expect(decided[3]).toMatchObject({ code: 'insufficient_cash', result: { amount: '-1000000', cash: '100025.50', reservedCash: '0', buyingPower: '100025.50' } });
      // Decided from the row the turn read with its fence: no statement awaited per adjustment, and — since none
      // writes a balance the next one reads — one engine save at the end of the turn.
      expect(awaitedUpdates()).toHaveLength(0);
      expect(sent.filter((t) => /raxx_adjust_cash_by_id/.test(t))).toHaveLength(1); // the three accepted ones, one call
      expect(sent.filter((t) => /update mbt_states/.test(t))).toHaveLength(1);
      expect(await accountOf(u)).toMatchObject({ cash: '100025.50', reserved_cash: '0' });
      expect(await version(u)).toBe(v0 + 3);

      // Orders hold cash through the engine, which writes the balances (in its own decimal form: 100025.50 is stored
      // as 100025.5): an adjustment after one in the same turn is
      // decided by SQL after those writes — also when another user's adjustment already sent them — and sees the hold.
      sent.length = 0;
      const order = (userId: string) => submit(userId, { symbol: sym('MH'), side: 'buy', type: 'limit', qty: '10', limit_price: '50' });
      const mixed = await countedTurn(order(u), order(v), adjust(u, '1'), adjust(v, '2'));
      expect(mixed.map((d) => d.outcome)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
      expect(mixed[2]).toMatchObject({ result: { cash: '100026.5', reservedCash: '500', buyingPower: '99526.5' } });
      expect(mixed[3]).toMatchObject({ result: { cash: '100002', reservedCash: '500', buyingPower: '99502' } });
      expect(awaitedUpdates()).toHaveLength(2);
      expect(await accountOf(u)).toMatchObject({ cash: '100026.5', reserved_cash: '500' });
      expect(await accountOf(v)).toMatchObject({ cash: '100002', reserved_cash: '500' });
    } finally {
      await counted.close();
    }
  });

  it('a cash adjustment whose row another writer changed after the turn read it fails the turn (40001); the retry is right', async () => {
    const u = uid('cash3');
    await openTrading(u);
    const adjust = cmd(u, 'account.adjust_cash', { amount: '7.25', reason: 'raced' });
    // Another writer (a batch job, say) holds the row: the turn reads the committed row, decides from it, and its
    // version-matched update waits for the lock; the other writer then commits a change (version + 1, cash + 100).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const other = su.begin(async (tx) => {
      await tx`set local role raxx_batch`;
      await tx`update paper_accounts set cash = cash + 100, version = version + 1 where user_id = ${u}`;
      locked();
      await held;
    });
    await isLocked;
    const raced = turn(adjust);
    // Released only once the turn's update waits for the row lock (so it read the row before the change committed).
    await waitFor(async () => Number((await su`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n) > 0, 10_000, 'the turn waiting for the row lock');
    release();
    await other;
    const err = await raced.then(
      () => null,
      (e: unknown) => e,
    );
    expect(toDbError(err)).toMatchObject({ sqlstate: '40001' });
    expect(await accountOf(u)).toMatchObject({ cash: '100100' }); // nothing of the failed turn landed
    // The runtime retries the batch: a fresh read, the adjustment on top of the other writer's change.
    const [again] = await turn(adjust);
    expect(again).toMatchObject({ outcome: 'accepted', replayed: false, result: { cash: '100107.25' } });
    expect(await accountOf(u)).toMatchObject({ cash: '100107.25' });
  });

  it('a fill whose events were committed but never appended (the replica died): the next owner appends them, once', async () => {
    const u = uid('outbox');
    const S = sym('MO');
    await turn(cmd(u, 'account.open'));
    await signals(openSignal(u));
    await redis.hset(marketDataKeys.lkg, `q:${S}`, JSON.stringify(frame(S, 5, T0 + 60_000, 10.01, 2, 10.03, 1)));
    await turn(submit(u, { symbol: S, side: 'buy', type: 'market', qty: '10' }));
    const before = (await logOf(u)).length;
    const effects = await turns().commitSignals(quote(u, frame(S, 6, T0 + 61_000, 10.0, 1, 10.04, 5)));
    expect(effects.length).toBe(1);
    expect(await fillsOf(u)).toHaveLength(1);
    expect((await logOf(u)).length).toBe(before); // committed, not appended
    const stored = await asBatch((tx) => tx<Array<{ id: number; user_ids: string[] }>>`select id::int, user_ids from signal_outbox where ${u} = any(user_ids)`);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.user_ids).toEqual([u]);
    // The row's insert went out deferred, with the turn's last writes: its id reaches the effects once committed.
    expect(await (effects[0] as unknown as RecordedEffect).outboxId).toBe(stored[0]!.id);
    // Another user's scope cannot see or delete it (RLS); the row's own users can.
    await clearEffects(app.db, stored[0]!.id, [uid('b')]);
    expect(await asBatch((tx) => tx`select 1 from signal_outbox where id = ${stored[0]!.id}`)).toHaveLength(1);

    const append = (e: OutboxEffect) => events.append(e.userId, e.events as UserEventDraft[], e.key);
    expect(await recoverEffects(batch.db, [HARNESS_PARTITION], append, 0)).toBeGreaterThanOrEqual(1);
    const after = await logOf(u);
    expect(after.length).toBeGreaterThan(before);
    expect(after.filter((e) => e.kind === 'trade_update' && (e.data as { event: string }).event === 'fill')).toHaveLength(1);
    // Recovery twice, or the live path appending too: each event once.
    expect(await recoverEffects(batch.db, [HARNESS_PARTITION], append, 0)).toBe(0);
    for (const e of effects) await events.append(e.userId, e.events, e.key);
    expect((await logOf(u)).length).toBe(after.length);
  });

  it('settle: the close expires DAY orders as an engine event, one cycle marked from the replay window; idempotent', async () => {
    const u = uid('a');
    const S = sym('MA');
    const sell = submit(u, { symbol: S, side: 'sell', type: 'limit', qty: '10', limit_price: '20' });
    await turn(sell);
    const closeMs = Date.now() - 1000;
    await redis.xadd(marketDataKeys.replay('q', S), '*', 's', '8', 'f', JSON.stringify(frame(S, 8, closeMs - 5000, 10.1, 3, 10.2, 3)));
    await redis.xadd(marketDataKeys.replay('q', S), '*', 's', '9', 'f', JSON.stringify(frame(S, 9, closeMs + 500, 11, 3, 11.2, 3))); // after the close: not a mark
    const settle = cmd(u, 'mbt.settle', { tradingDay: day, closeAt: new Date(closeMs).toISOString() });
    const [d] = await turn(settle);
    expect(d!.outcome).toBe('accepted');
    const cycle = (d!.result as { cycle: mbt.CycleOutput }).cycle;
    // 150 × mid(10.10, 10.20) = 1522.50 + cash 98493.50 = 100016.00.
    expect(cycle).toMatchObject({ day, equity_close: '100016.00', positions: [{ symbol: S, mark: '10.15', mark_source: 'quote', stale_mark: false }] });
    const sellId = (sell.payload as { order: { id: string } }).order.id;
    expect((await ordersOf(u)).find((o) => o.id === sellId)).toMatchObject({ status: 'expired', reserved_cash: '0' });
    const rows = await asBatch((tx) => tx`select trading_day::text, equity_close::text, pnl::text from settled_cycles where user_id = ${u}`);
    expect(rows).toEqual([{ trading_day: day, equity_close: '100016.00', pnl: cycle.pnl }]);
    const trades = (await logOf(u)).filter((e) => e.kind === 'trade_update' && e.commandId === settle.id).map((e) => (e.data as { event: string }).event);
    expect(trades).toEqual(['expired']);

    // Another fan-out of the same day (new id): a duplicate, no second cycle; the same id: replayed.
    const [dup] = await turn(cmd(u, 'mbt.settle', { tradingDay: day, closeAt: new Date(closeMs).toISOString() }));
    expect(dup).toMatchObject({ outcome: 'accepted', result: { duplicate: true, cycle: null } });
    expect((await turn(settle))[0]).toMatchObject({ replayed: true });
    expect(await asBatch((tx) => tx`select count(*)::int as n from settled_cycles where user_id = ${u}`)).toEqual([{ n: 1 }]);
  });

  it("isolation: B cannot cancel A's order (404), B's quote signals do nothing, open-order listings are per user", async () => {
    const [a, b] = [uid('a'), uid('b')];
    await turn(cmd(b, 'account.open'));
    await signals(openSignal(b));
    const S = sym('MA');
    const mine = submit(a, { symbol: S, side: 'buy', type: 'limit', qty: '1', limit_price: '1' });
    const [placed] = await turn(mine);
    const status = (placed!.result as { order: { status: string } }).order.status; // "accepted": the session closed at the settle
    const mineId = (mine.payload as { order: { id: string } }).order.id;
    const [x] = await turn(cmd(b, 'order.cancel', { order_id: mineId }));
    expect(x).toMatchObject({ outcome: 'rejected', code: 'alpaca_40410000', result: { status: 404 } });
    expect((await ordersOf(a)).find((o) => o.id === mineId)!.status).toBe(status);
    expect(['accepted', 'new']).toContain(status);
    const before = await inputCount(b);
    await signals(quote(b, frame(S, 50, Date.now(), 0.9, 1, 0.95, 1)));
    expect(await inputCount(b)).toBe(before); // no open order of B on S: not stepped, not recorded
    expect(await ordersOf(b)).toEqual([]);
    expect((await logOf(b)).some((e) => JSON.stringify(e).includes(mineId))).toBe(false);

    const pairs = host().mbt.openOrderPairs().filter((p) => p.userId === a || p.userId === b);
    expect(pairs).toEqual([{ userId: a, symbol: S }]);
    expect(openOrderPairs([[b, mbt.initialState({ id: 'x' })]])).toEqual([]);
    const bySql = await openOrderSymbolsByUser(batch.db, [partitionOf(a, 4)], 4);
    expect(bySql.get(a)).toEqual([S]);
    expect(bySql.has(b)).toBe(false);
    await turn(cmd(a, 'order.cancel', { order_id: mineId }));
  });

  it('a turn that rolls back leaves nothing, in PostgreSQL or in memory: the next turn works from the committed engine', async () => {
    const u = uid('c');
    await turn(cmd(u, 'account.open'));
    await signals(openSignal(u));
    const lost = submit(u, { symbol: sym('MR'), side: 'buy', type: 'limit', qty: '10', limit_price: '10' });
    const lostId = (lost.payload as { order: { id: string } }).order.id;
    // The handler ran (the engine in memory took the order), then the transaction aborted before COMMIT.
    await expect(crashingTurn(lost)).rejects.toThrow('crash before commit');
    // The rollback callback dropped the engine's in-memory copy: the next turn reloads what was committed, first time.
    const next = submit(u, { symbol: sym('MS'), side: 'buy', type: 'limit', qty: '1', limit_price: '5' });
    const decided = await turn(next);
    expect(decided[0]!.outcome).toBe('accepted');
    expect((await ordersOf(u)).map((o) => o.id)).toEqual([(next.payload as { order: { id: string } }).order.id]);
    expect(await accountOf(u)).toMatchObject({ reserved_cash: '5' });
    const [c] = await turn(cmd(u, 'order.cancel', { order_id: lostId }));
    expect(c).toMatchObject({ outcome: 'rejected', code: 'alpaca_40410000' }); // the engine never kept it
  });

  it('client order ids: the index is rebuilt from orders after passivation (fingerprint on the row, not in the state); a rolled-back id stays free', async () => {
    const u = uid('d');
    await openTrading(u);
    const order = { symbol: sym('MI'), side: 'buy', type: 'limit', qty: '2', limit_price: '7', client_order_id: `k-${run}` };
    const [first] = await turn(submit(u, order));
    const firstId = (first!.result as { order: { id: string } }).order.id;
    const [row] = await asBatch((tx) => tx<{ request_fp: string | null }[]>`select request_fp from orders where id = ${firstId}`);
    expect(row?.request_fp).toMatch(/\S/);
    const [saved] = await asBatch((tx) => tx<{ state: Record<string, unknown> }[]>`select state from mbt_states where user_id = ${u}`);
    expect(saved?.state).not.toHaveProperty('clientIds');

    host().mbt.passivate(u); // the next turn loads the engine and its index from PostgreSQL
    const [again] = await turn(submit(u, { ...order, limit_price: '7.00' }));
    expect(again).toMatchObject({ outcome: 'accepted', result: { duplicate: true, order: { id: firstId } } });
    host().mbt.passivate(u);
    const [reused] = await turn(submit(u, { ...order, limit_price: '6' }));
    expect(reused).toMatchObject({ outcome: 'rejected', result: { status: 422, message: 'client_order_id must be unique' } });
    // The engine in memory, the id gone from its bounded cache (as after 1,024 newer ids): found in orders again.
    host().mbt.cached(u)!.history = new mbt.MemoryHistory({ maxIds: 1024, maxClosed: 64 });
    expect(await turn(submit(u, { ...order, limit_price: '7' }))).toMatchObject([{ outcome: 'accepted', result: { duplicate: true, order: { id: firstId } } }]);
    host().mbt.cached(u)!.history = new mbt.MemoryHistory({ maxIds: 1024, maxClosed: 64 });
    expect(await turn(submit(u, { ...order, limit_price: '6' }))).toMatchObject([{ outcome: 'rejected', result: { status: 422 } }]);

    // A submit whose turn rolled back took the id only in memory; the rollback drops it with the engine.
    const lost = submit(u, { ...order, client_order_id: `l-${run}` });
    await expect(crashingTurn(lost)).rejects.toThrow('crash before commit');
    const [free] = await turn(submit(u, { ...order, client_order_id: `l-${run}`, limit_price: '5' }));
    expect(free).toMatchObject({ outcome: 'accepted', result: { order: { client_order_id: `l-${run}`, limit_price: '5' } } });
    expect((await ordersOf(u)).map((o) => o.client_order_id)).toEqual([`k-${run}`, `l-${run}`]);
  });

  it('a blind submit looks no client order id up: a fresh one is decided blind; one only PostgreSQL knows fails the blind try on the unique index, and the turn run again decides it (row 24)', async () => {
    const u = uid('blind');
    await openTrading(u);
    const order = { symbol: sym('MB'), side: 'buy', type: 'limit', qty: '1', limit_price: '4', client_order_id: `b-${run}` };
    const first = await turns().blindTurn(submit(u, order));
    expect(first).toMatchObject({ blind: true, decisions: [{ outcome: 'accepted' }] });
    const firstId = (first.decisions[0]!.result as { order: { id: string } }).order.id;
    // The engine's history holds the id: a resubmit is decided blind, from memory.
    expect(await turns().blindTurn(submit(u, order))).toMatchObject({ blind: true, decisions: [{ outcome: 'accepted', result: { duplicate: true, order: { id: firstId } } }] });
    // The id gone from memory (as after 1,024 newer ids): the blind try takes the order as new, the orders insert
    // meets the unique (account_id, client_order_id) index, and the turn run again reads the id and decides.
    const forget = () => (host().mbt.cached(u)!.history = new mbt.MemoryHistory({ maxIds: 1024, maxClosed: 64 }));
    forget();
    expect(await turns().blindTurn(submit(u, order))).toMatchObject({ blind: false, decisions: [{ outcome: 'accepted', result: { duplicate: true, order: { id: firstId } } }] });
    forget();
    expect(await turns().blindTurn(submit(u, { ...order, limit_price: '6' }))).toMatchObject({
      blind: false,
      decisions: [{ outcome: 'rejected', result: { status: 422, message: 'client_order_id must be unique' } }],
    });
    // Nothing of the failed blind tries was kept: one order, its reservation once.
    expect((await ordersOf(u)).map((o) => o.id)).toEqual([firstId]);
    expect(await accountOf(u)).toMatchObject({ reserved_cash: '4' });
  });

  it('closed orders leave the saved engine state; a cancel or replace naming one is answered from orders (422 and its event), within one batch and after passivation', async () => {
    const u = uid('e');
    await openTrading(u);
    const order = submit(u, { symbol: sym('MX'), side: 'buy', type: 'limit', qty: '1', limit_price: '5' });
    const orderId = (order.payload as { order: { id: string } }).order.id;
    await turn(order);
    // The accepted decision's event carries the order (the paper API answers from it, without a PostgreSQL read).
    const decided = (await logOf(u)).find((e) => e.kind === 'decision' && e.commandId === order.id);
    expect(decided?.data).toMatchObject({ type: 'order.submit', order: { id: orderId, status: 'new' } });
    expect(decided?.data).not.toHaveProperty('trade_updates');
    const cancel = () => cmd(u, 'order.cancel', { order_id: orderId });
    const already = { outcome: 'rejected', code: 'alpaca_42210000', result: { status: 422, message: 'order is already in "canceled" state' } };
    // The first cancel closes it; the second, in the same turn, finds it among the orders that turn closed.
    expect(await turn(cancel(), cancel())).toMatchObject([{ outcome: 'accepted' }, already]);
    const [saved] = await asBatch((tx) => tx<{ state: { orders: object } }[]>`select state from mbt_states where user_id = ${u}`);
    expect(saved?.state.orders).toEqual({});

    host().mbt.passivate(u); // the engine comes back without it: the turn reads the order from PostgreSQL
    expect(await turn(cancel())).toMatchObject([already]);
    host().mbt.passivate(u);
    const [replaced] = await turn(cmd(u, 'order.replace', { order_id: orderId, new_order_id: randomUUID(), patch: { qty: '2', client_order_id: randomUUID() } }));
    expect(replaced).toMatchObject({ outcome: 'rejected', result: { status: 422, message: 'order is not replaceable (status: canceled)' } });
    const rejections = (await logOf(u)).flatMap((e) => {
      const d = e.data as { event?: string; order?: { id: string; status: string } };
      return e.kind === 'trade_update' && d.event?.endsWith('_rejected') ? [`${d.event}:${d.order?.status}`] : [];
    });
    expect(rejections).toEqual(['order_cancel_rejected:canceled', 'order_cancel_rejected:canceled', 'order_replace_rejected:canceled']);
    // Only its own orders: B naming A's closed order is told it does not exist.
    const [foreign] = await turn(cmd(uid('b'), 'order.cancel', { order_id: orderId }));
    expect(foreign).toMatchObject({ outcome: 'rejected', code: 'alpaca_40410000' });
  });

  it('a stale engine copy (another owner saved the account since) fails its turn in the SQL: nothing lands, and the retry works from the saved engine', async () => {
    const u = uid('f');
    await openTrading(u);
    await turn(submit(u, { symbol: sym('MF'), side: 'buy', type: 'limit', qty: '1', limit_price: '3' }));
    const before = { orders: (await ordersOf(u)).length, inputs: await inputCount(u) };
    // Another owner moved the saved engine on behind this host's back (its copy in memory is now stale).
    await su`update mbt_states set input_count = input_count + 100 where user_id = ${u}`;
    const late = submit(u, { symbol: sym('MG'), side: 'buy', type: 'limit', qty: '1', limit_price: '4' });
    const err = await turn(late).catch((e: unknown) => e);
    expect(err).toMatchObject({ sqlstate: '40001' });
    expect({ orders: (await ordersOf(u)).length, inputs: await inputCount(u) }).toEqual(before);
    const [stored] = await asBatch((tx) => tx<{ n: number }[]>`select count(*)::int as n from processed_commands where command_id = ${late.id}`);
    expect(stored?.n).toBe(0);
    // The failed turn dropped the stale copy: the redelivered command is decided from the saved engine.
    expect(await turn(late)).toMatchObject([{ outcome: 'accepted', replayed: false }]);
    expect((await ordersOf(u)).length).toBe(before.orders + 1);
  });

  it("a command turn's reads go out with its fence (prefetch); the engines a fenced-out turn loaded never join the cache", async () => {
    const u = uid('g');
    await openTrading(u);
    const order = submit(u, { symbol: sym('MP'), side: 'buy', type: 'limit', qty: '1', limit_price: '2' });
    expect(await turn(order)).toMatchObject([{ outcome: 'accepted' }]);
    const hasEngine = () => host().mbt.openOrderPairs().some((p) => p.userId === u);
    expect(hasEngine()).toBe(true);

    host().mbt.passivate(u);
    const h = host();
    const late = submit(u, { symbol: sym('MQ'), side: 'buy', type: 'limit', qty: '1', limit_price: '3' });
    let prefetched = 0;
    const err = await commitFencedBatch(app.db, HARNESS_PARTITION, epoch - 1, [late], async () => [], {
      prefetch: (tx, list, t) => (prefetched++, h.prefetch!(tx, list, t)),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedOutError);
    expect(prefetched).toBe(1); // the engine was read, with the fence…
    expect(hasEngine()).toBe(false); // …and left out of memory: this turn never ran

    // The owner's next turn prefetches it again and keeps it: both orders open, the first one from the saved engine.
    expect(await turn(late)).toMatchObject([{ outcome: 'accepted', replayed: false }]);
    expect(host().mbt.openOrderPairs().filter((p) => p.userId === u).map((p) => p.symbol)).toEqual([sym('MP'), sym('MQ')].sort());
    expect((await ordersOf(u)).map((o) => o.status)).toEqual(['new', 'new']);
  });

  it('explain shows the recorded quote and rule of each fill; the exported inputs replay to the same fills', async () => {
    const u = uid('a');
    const acc = await accountOf(u);
    const orderId = (await ordersOf(u))[0]!.id!;
    const e = await explainOrder(batch.db, orderId);
    expect(e!.fills.map((f) => [f.quote_seq, f.rule, f.quote?.input.seq, f.quote?.input.ap])).toEqual([
      [6, 'market_next_quote', 6, 10.04],
      [7, 'market_next_quote', 7, 10.05],
    ]);

    const env = { DATABASE_BATCH_URL: tdb.batchUrl, LOG_LEVEL: 'error' };
    const human = await runCli('src/main/mbt-explain.ts', [orderId], env);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/fill 1: 100 @ 10.04 .*rule market_next_quote, quote seq 6/);
    expect(human.out).toMatch(/quote \(input #\d+\): bid 10 × 1 \/ ask 10.04 × 1 lots/);
    const jsonl = await runCli('src/main/mbt-explain.ts', [orderId, '--json'], env);
    expect(jsonl.out.trim().split('\n').map((l) => (JSON.parse(l) as { record: string }).record)).toEqual(['order', 'fill', 'fill']);

    const exported = await runCli('src/main/mbt-explain.ts', ['--export', acc.id], env);
    expect(exported.code).toBe(0);
    expect(exported.out.trim().split('\n')).toEqual(await exportReplayLog(batch.db, acc.id));
    const dir = mkdtempSync(join(tmpdir(), 'mbt-replay-'));
    try {
      const file = join(dir, 'log.jsonl');
      writeFileSync(file, exported.out);
      const replay = await runCli('src/main/mbt-replay.ts', [file], {});
      expect(replay.code).toBe(0);
      const replayed = replay.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((o) => o.out === 'trade_update' && (o.event === 'fill' || o.event === 'partial_fill'))
        .map((o) => ({ order_id: o.order_id, qty: o.qty, price: o.price, quote_seq: o.quote_seq, rule: o.rule, fee: o.fee }));
      expect(replayed.length).toBeGreaterThan(0);
      expect(replayed).toEqual(await fillsOf(u));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a settle writes a checkpoint; once retention removed the inputs before it, the export starts there and replays to the fills since', async () => {
    const u = uid('ckpt');
    const S = sym('MK');
    await openTrading(u);
    await redis.hset(marketDataKeys.lkg, `q:${S}`, JSON.stringify(frame(S, 1, T0 + 60_000, 10.0, 5, 10.02, 5)));
    const buy = submit(u, { symbol: S, side: 'buy', type: 'market', qty: '5' });
    await turn(buy);
    await signals(quote(u, frame(S, 2, T0 + 61_000, 10.0, 5, 10.02, 5)));
    // A GTC limit rests over the close: it is open at the checkpoint.
    const gtc = submit(u, { symbol: S, side: 'buy', type: 'limit', qty: '10', limit_price: '9.5', time_in_force: 'gtc' });
    await turn(gtc);
    const gtcOrder = (gtc.payload as { order: { id: string; client_order_id: string } }).order;
    const [settled] = await turn(cmd(u, 'mbt.settle', { tradingDay: day, closeAt: new Date(Date.now() - 1000).toISOString() }));
    expect(settled!.outcome).toBe('accepted');
    const atSettle = await inputCount(u);

    const checkpoints = await asBatch((tx) => tx<Array<{ n: number; trading_day: string; state: mbt.MbtState; client_ids: unknown }>>`
      select n::int, trading_day::text, state, client_ids from mbt_checkpoints where user_id = ${u}`);
    const [fp] = await asBatch((tx) => tx<Array<{ request_fp: string }>>`select request_fp from orders where id = ${gtcOrder.id}::uuid`);
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]).toMatchObject({ n: atSettle, trading_day: day, client_ids: [{ client_order_id: gtcOrder.client_order_id, order_id: gtcOrder.id, fingerprint: fp!.request_fp }] });
    expect(Object.keys(checkpoints[0]!.state.orders)).toEqual([gtcOrder.id]);
    expect(checkpoints[0]!.state.cycle.lastSettledDay).toBe(day);
    expect(mbt.mbtStateSchema.safeParse(checkpoints[0]!.state).success).toBe(true);

    // After the checkpoint: a resubmit of the GTC (row 24 knows it from the checkpoint's client ids), and its fill.
    const [dup] = await turn({ ...gtc, id: randomUUID() });
    expect(dup).toMatchObject({ outcome: 'accepted', result: { duplicate: true } });
    // The settle closed the session (its close event is an input): the next day opens, and a quote fills the GTC.
    const reopen = Date.now() - 200;
    const nextDay = new Date(Date.parse(`${day}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    await signals({ userId: u, kind: 'clock', payload: { type: 'clock', event: 'regular_open', day: nextDay, ts: reopen } });
    await signals(quote(u, frame(S, 3, reopen + 100, 9.4, 5, 9.45, 5)));
    const fillsBefore = (await fillsOf(u)).filter((f) => f.order_id !== gtcOrder.id);
    const fillsAfter = (await fillsOf(u)).filter((f) => f.order_id === gtcOrder.id);
    expect(fillsBefore.length).toBeGreaterThan(0);
    expect(fillsAfter).toEqual([{ order_id: gtcOrder.id, qty: '10', price: '9.45', quote_seq: 3, rule: 'auction_taker', fee: '0' }]); // the first quote after the open

    // Retention a horizon later (the user is Free): the inputs up to the checkpoint go, the checkpoint stays.
    const deleted: Array<[string, string, number]> = [];
    const purged = await purgeEngineLogs(batch.sql, {
      batchSize: 2,
      freeDays: 90,
      proDays: 1095,
      now: () => Date.now() + 91 * 86_400_000,
      logger: { info: () => {} },
      onDeleted: (table, tier, rows) => deleted.push([table, tier, rows]),
    });
    const mine = await asBatch((tx) => tx<Array<{ n: number }>>`select n::int from mbt_inputs where user_id = ${u} order by n`);
    expect(mine[0]!.n).toBe(atSettle + 1);
    expect(purged.tiers.find((t) => t.tier === 'free')!.inputs).toBeGreaterThanOrEqual(atSettle);
    expect(deleted.filter(([t]) => t === 'mbt_inputs').every(([, tier, rows]) => tier === 'free' && rows <= 2)).toBe(true);
    expect(await asBatch((tx) => tx`select n::int from mbt_checkpoints where user_id = ${u}`)).toEqual([{ n: atSettle }]);

    // Explain: a fill whose quote input is gone shows none; the export starts from the checkpoint.
    const buyId = (buy.payload as { order: { id: string } }).order.id;
    expect((await explainOrder(batch.db, buyId))!.fills.map((f) => f.quote)).toEqual([null]);
    const acc = await accountOf(u);
    const lines = (await exportReplayLog(batch.db, acc.id))!;
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'account', id: acc.id, after_input: atSettle, client_ids: [{ order_id: gtcOrder.id }] });
    expect(lines).toHaveLength(1 + mine.length);
    const dir = mkdtempSync(join(tmpdir(), 'mbt-replay-'));
    try {
      const file = join(dir, 'log.jsonl');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const replay = await runCli('src/main/mbt-replay.ts', [file], {});
      expect(replay.code).toBe(0);
      const outs = replay.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const replayed = outs
        .filter((o) => o.out === 'trade_update' && (o.event === 'fill' || o.event === 'partial_fill'))
        .map((o) => ({ order_id: o.order_id, qty: o.qty, price: o.price, quote_seq: o.quote_seq, rule: o.rule, fee: o.fee }));
      expect(replayed).toEqual(fillsAfter);
      expect(outs.some((o) => o.out === 'reply' && o.duplicate === true)).toBe(true);
      const final = outs.at(-1) as { account: { cash: string }; positions: Record<string, { qty: string }> };
      expect(final.account.cash).toBe((await accountOf(u)).cash);
      expect(final.positions[S]!.qty).toBe('15');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

