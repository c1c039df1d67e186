// The settle fan-out in-process on real Redis (DB 0, unique users), PostgreSQL as the batch role and the simulator's
// NYSE calendar: the right envelopes in the right partitions, once per (user, day), catch-up of two missed closes,
// an idempotent re-run, the first-run rule, an operator re-run with the same ids, and the cross-replica lock.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleCommandId, settlePayloadSchema } from '../../../src/contracts/index.js';
import { addDays, createMarketCalendar, newYorkDate, type MarketSession } from '../../../src/infra/alpaca/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { partitionOf } from '../../../src/runtime/index.js';
import { runSettleCheck, runSettleForDay, settleWatermark, withSettleLock, type SettleJobDeps } from '../../../src/workers/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';
import { startTestSimulator } from '../../support/simulator.js';
import { SIM_KEY, WORKERS_REDIS_DB, seedUsers, settleEnvelopes } from './fixtures.js';

const P = 16;
const run = randomBytes(3).toString('hex');
const uid = (i: number) => `wf-${run}-${String(i).padStart(4, '0')}`;

let tdb: TestDatabase;
let su: postgres.Sql;
let batch: DbHandle;
let redis: Redis;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let sessions: MarketSession[]; // the passed closes, oldest first
const logs: Array<{ obj: object; msg: string }> = [];
let deps: SettleJobDeps;
const included = new Set<string>();
const excluded = new Set<string>();

beforeAll(async () => {
  [tdb, sim] = await Promise.all([createTestDatabase('raxx_wsettle'), startTestSimulator({ SIM_CLOCK: 'nyse', SIM_SYMBOLS: '5' })]);
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  batch = createDb(tdb.batchUrl, { max: 2, appName: 'wsettle-test' });
  redis = createRedis(testRedisUrl(WORKERS_REDIS_DB), 'wsettle-test');
  const calendar = createMarketCalendar({ tradingUrl: sim.url, credentials: () => SIM_KEY });
  const today = newYorkDate(Date.now());
  sessions = (await calendar.sessions(addDays(today, -20), today)).filter((s) => s.closeAt.getTime() <= Date.now());
  expect(sessions.length).toBeGreaterThanOrEqual(4);

  // 130 users with accounts (batch size 50: three batches), plus users the fan-out must skip.
  for (let i = 0; i < 130; i++) included.add(uid(i));
  const newest = sessions.at(-1)!;
  await seedUsers(su, [
    ...[...included].map((id, i) => ({ id, tier: (['free', 'pro', 'pro_plus'] as const)[i % 3] })),
    { id: uid(900), noAccount: true },
    { id: uid(901), accountStatus: 'closed' },
    { id: uid(902), accountCreatedAt: new Date(newest.closeAt.getTime() + 60_000) }, // opened after every close here
  ]);
  for (const i of [900, 901, 902]) excluded.add(uid(i));
  deps = {
    sql: batch.sql,
    redis,
    partitions: P,
    batchSize: 50,
    batchPauseMs: 0,
    now: () => Date.now(),
    logger: { info: (obj, msg) => logs.push({ obj, msg }) },
    calendar,
  };
});

afterAll(async () => {
  await closeRedis(redis);
  await batch?.close();
  await su?.end();
  await sim?.close();
  await tdb?.drop();
});

const everyone = () => new Set([...included, ...excluded]);

describe('settle fan-out', () => {
  it('on the first run fans out only the latest passed close', async () => {
    const result = await runSettleCheck(deps);
    const latest = sessions.at(-1)!;
    expect(result.days.map((d) => d.tradingDay)).toEqual([latest.date]);
    expect(result.days[0]).toMatchObject({ appended: included.size, batches: 3, alreadyComplete: false });
    expect(await settleWatermark(batch.sql)).toBe(latest.date);

    const envelopes = await settleEnvelopes(redis, P, everyone());
    expect(envelopes).toHaveLength(included.size);
    expect(new Set(envelopes.map((e) => e.userId))).toEqual(included);
    for (const e of envelopes) {
      expect(e.id).toBe(settleCommandId(e.userId, latest.date));
      expect(e.partition).toBe(partitionOf(e.userId, P));
      expect(settlePayloadSchema.parse(e.payload)).toEqual({ tradingDay: latest.date, closeAt: latest.closeAt.toISOString() });
    }
    expect(logs.filter((l) => l.msg === 'settle fan-out progress')).toHaveLength(3);
  });

  it('catches up two missed closes in order, once per (user, day), and a re-run appends nothing', async () => {
    // The scheduled chain last completed s0; s1 and s2 were missed (workers down); the latest close is already done
    // (say, an operator ran it), so only the two missed days are appended.
    const [s0, s1, s2] = sessions.slice(-4, -1) as [MarketSession, MarketSession, MarketSession];
    const latest = sessions.at(-1)!;
    await su`delete from settle_fanouts where trading_day <> ${latest.date}`;
    await su`update settle_fanouts set scheduled = false`;
    await su`insert into settle_fanouts (trading_day, close_at, completed_at, scheduled, triggered_by) values (${s0.date}, ${s0.closeAt}, now(), true, 'schedule')`;
    const before = (await settleEnvelopes(redis, P, everyone())).length;

    const result = await runSettleCheck(deps);
    expect(result.days.map((d) => [d.tradingDay, d.appended, d.alreadyComplete])).toEqual([
      [s1.date, included.size, false],
      [s2.date, included.size, false],
      [latest.date, 0, true],
    ]);
    expect(await settleWatermark(batch.sql)).toBe(latest.date);
    const envelopes = await settleEnvelopes(redis, P, everyone());
    const added = envelopes.length - before;
    expect(added).toBe(2 * included.size);
    for (const day of [s1, s2]) {
      const ofDay = envelopes.filter((e) => (e.payload as { tradingDay: string }).tradingDay === day.date);
      expect(ofDay.map((e) => e.userId).sort()).toEqual([...included].sort());
      expect(new Set(ofDay.map((e) => e.id)).size).toBe(included.size);
      for (const e of ofDay) {
        expect(e.id).toBe(settleCommandId(e.userId, day.date));
        expect((e.payload as { closeAt: string }).closeAt).toBe(day.closeAt.toISOString());
      }
    }
    // Days are fanned out oldest first: within one partition every s1 entry precedes every s2 entry.
    const p = partitionOf(uid(0), P);
    const order = envelopes.filter((e) => e.partition === p).map((e) => (e.payload as { tradingDay: string }).tradingDay);
    expect(order.lastIndexOf(s1.date)).toBeLessThan(order.indexOf(s2.date));

    const again = await runSettleCheck(deps);
    expect(again.days).toEqual([]);
    expect((await settleEnvelopes(redis, P, everyone())).length).toBe(envelopes.length);
  });

  it('an operator re-run of a completed day appends the same ids again (a no-op at the actor)', async () => {
    const day = sessions.at(-2)!;
    const ids = async () => (await settleEnvelopes(redis, P, everyone())).filter((e) => (e.payload as { tradingDay: string }).tradingDay === day.date).map((e) => e.id);
    const first = await ids();
    const result = await runSettleForDay(deps, { tradingDay: day.date, closeAt: day.closeAt.toISOString(), requestedBy: 'operator:op-1' });
    expect(result).toMatchObject({ tradingDay: day.date, appended: included.size, alreadyComplete: false });
    const second = await ids();
    expect(second).toHaveLength(2 * first.length);
    expect(new Set(second)).toEqual(new Set(first));
    const [row] = await su`select triggered_by, completed_at is not null as done, scheduled from settle_fanouts where trading_day = ${day.date}`;
    expect(row).toEqual({ triggered_by: 'operator:op-1', done: true, scheduled: true });
    // The operator run did not move the scheduled watermark.
    expect(await settleWatermark(batch.sql)).toBe(sessions.at(-1)!.date);
  });

  it('resumes an unfinished day from its cursor instead of starting over', async () => {
    const day = sessions.at(-4)!;
    const sorted = [...included].sort();
    // As a run killed after its first batch leaves it: cursor at the 50th user, not complete.
    await su`insert into settle_fanouts (trading_day, close_at, cursor, users_appended, triggered_by) values (${day.date}, ${day.closeAt}, ${sorted[49]!}, 50, 'schedule')
             on conflict (trading_day) do update set cursor = excluded.cursor, users_appended = 50, completed_at = null`;
    const before = (await settleEnvelopes(redis, P, everyone())).filter((e) => (e.payload as { tradingDay: string }).tradingDay === day.date);
    const result = await runSettleForDay(deps, { tradingDay: day.date, closeAt: day.closeAt.toISOString(), requestedBy: 'operator:op-1' });
    expect(result.appended).toBe(included.size - 50);
    const after = (await settleEnvelopes(redis, P, everyone())).filter((e) => (e.payload as { tradingDay: string }).tradingDay === day.date);
    const added = after.filter((e) => !before.some((b) => b.id === e.id && b.issuedAt === e.issuedAt));
    expect(added.map((e) => e.userId).sort()).toEqual(sorted.slice(50));
    expect(logs.some((l) => l.msg === 'settle fan-out: resuming')).toBe(true);
  });

  it('one fan-out at a time across replicas: a check that finds the lock held does nothing', async () => {
    const other = postgres(tdb.batchUrl, { max: 1, onnotice: () => {} });
    try {
      const result = await withSettleLock(batch.sql, () => runSettleCheck({ ...deps, sql: other }));
      expect(result).toMatchObject({ busy: true, days: [] });
    } finally {
      await other.end();
    }
  });
});
