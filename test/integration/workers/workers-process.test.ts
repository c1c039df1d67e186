// The workers role as real processes on Redis DB 0 (unique queue prefix and users), PostgreSQL and the simulator's
// NYSE calendar: scheduled catch-up, SIGKILL mid-fan-out and resume by a new process, the operator endpoints
// (authentication, validation, audit) and the ops CLI, the retention job through BullMQ, metrics, graceful stop.
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleCommandId } from '../../../src/contracts/index.js';
import { addDays, createMarketCalendar, newYorkDate, type MarketSession } from '../../../src/infra/alpaca/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { partitionOf } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { spawnTsx, startRoleProcess, type RoleProcess } from '../../support/processes.js';
import { testRedisUrl } from '../../support/redis.js';
import { startTestSimulator } from '../../support/simulator.js';
import { waitFor } from '../../support/wait.js';
import { SIM_KEY, WORKERS_REDIS_DB, seedUsers, sessionToken, settleEnvelopes, workersRoleEnv } from './fixtures.js';

const P = 16;
const USERS = 1000;
const BATCH = 50;
const run = randomBytes(3).toString('hex');
const prefix = `{wt-${run}}`;
const JWT_SECRET = `workers-test-${run}-0123456789abcdef0123456789`;
const uid = (i: number) => `wp-${run}-${String(i).padStart(5, '0')}`;
const OPERATOR = `wp-${run}-op`;
const PLAIN_USER = `wp-${run}-plain`;

let tdb: TestDatabase;
let su: postgres.Sql;
let redis: Redis;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let sessions: MarketSession[];
let nextSession: MarketSession;
const users = new Set<string>();
const procs: RoleProcess[] = [];

function startWorkers(): RoleProcess {
  const p = startRoleProcess('workers', {
    ...workersRoleEnv({ redisUrl: testRedisUrl(WORKERS_REDIS_DB), appUrl: tdb.appUrl, batchUrl: tdb.batchUrl, simUrl: sim.url, jwtSecret: JWT_SECRET, partitions: P, prefix }),
    WORKERS_SETTLE_CHECK_MS: '1000',
    WORKERS_SETTLE_BATCH_SIZE: String(BATCH),
    WORKERS_SETTLE_BATCH_PAUSE_MS: '100',
    WORKERS_LOCK_DURATION_MS: '1000',
    WORKERS_STALLED_INTERVAL_MS: '500',
  });
  procs.push(p);
  return p;
}

const token = (sub: string, role: 'user' | 'operator') => sessionToken(JWT_SECRET, sub, role);

const watermark = async () => (await su<{ day: string | null }[]>`select max(trading_day)::text as day from settle_fanouts where scheduled and completed_at is not null`)[0]?.day ?? null;
const progressLines = (p: RoleProcess) => p.lines.filter((l) => l.includes('"msg":"settle fan-out progress"'));

beforeAll(async () => {
  [tdb, sim] = await Promise.all([createTestDatabase('raxx_wproc'), startTestSimulator({ SIM_CLOCK: 'nyse', SIM_SYMBOLS: '5' })]);
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  redis = createRedis(testRedisUrl(WORKERS_REDIS_DB), 'wproc-test');
  const calendar = createMarketCalendar({ tradingUrl: sim.url, credentials: () => SIM_KEY });
  const today = newYorkDate(Date.now());
  const all = await calendar.sessions(addDays(today, -20), addDays(today, 20));
  sessions = all.filter((s) => s.closeAt.getTime() <= Date.now());
  nextSession = all.find((s) => s.closeAt.getTime() > Date.now() + 120_000)!;
  for (let i = 0; i < USERS; i++) users.add(uid(i));
  await seedUsers(su, [...users].map((id) => ({ id })));
  await seedUsers(su, [
    { id: OPERATOR, role: 'operator', noAccount: true },
    { id: PLAIN_USER, noAccount: true },
  ]);
  // The scheduled chain last completed three sessions ago: two closes to catch up.
  const s0 = sessions.at(-3)!;
  await su`insert into settle_fanouts (trading_day, close_at, completed_at, scheduled, triggered_by) values (${s0.date}, ${s0.closeAt}, now(), true, 'schedule')`;
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await closeRedis(redis);
  await su?.end();
  await sim?.close();
  await tdb?.drop();
});

describe('workers role', () => {
  let b: RoleProcess;
  let url: string;

  it('catches up two missed closes and resumes after SIGKILL mid-fan-out, each (user, day) appended with its one id', async () => {
    const [s1, s2] = sessions.slice(-2) as [MarketSession, MarketSession];
    const a = startWorkers();
    await a.ready;
    await waitFor(() => progressLines(a).length >= 5, 30_000, 'five fan-out batches in the first process');
    await a.stop('SIGKILL');
    const [mid] = await su`select cursor, completed_at from settle_fanouts where trading_day = ${s1.date}`;
    expect(mid?.completed_at).toBeNull();
    expect(mid?.cursor).toMatch(new RegExp(`^wp-${run}-`));

    b = startWorkers();
    url = (await b.ready).url;
    await waitFor(async () => (await watermark()) === s2.date, 60_000, 'the watermark to reach the latest close');
    expect(b.lines.some((l) => l.includes('"msg":"settle fan-out: resuming"'))).toBe(true);

    const envelopes = await settleEnvelopes(redis, P, users);
    for (const day of [s1, s2]) {
      const ofDay = envelopes.filter((e) => (e.payload as { tradingDay: string }).tradingDay === day.date);
      expect(new Set(ofDay.map((e) => e.userId))).toEqual(users);
      for (const e of ofDay) {
        expect(e.id).toBe(settleCommandId(e.userId, day.date));
        expect(e.partition).toBe(partitionOf(e.userId, P));
      }
      // At most the batch in flight at the kill is appended twice (same ids: no-ops at the actor).
      expect(ofDay.length).toBeGreaterThanOrEqual(USERS);
      expect(ofDay.length).toBeLessThanOrEqual(USERS + BATCH);
    }
    const [done] = await su`select completed_at is not null as done, triggered_by from settle_fanouts where trading_day = ${s1.date}`;
    expect(done).toEqual({ done: true, triggered_by: 'schedule' });
  }, 120_000);

  it('keeps one job scheduler per queue whatever the number of replicas', async () => {
    const c = startWorkers(); // a second replica upserts the same schedulers
    await c.ready;
    const connection = createRedis(testRedisUrl(WORKERS_REDIS_DB), 'wproc-queues');
    const settle = new Queue('settle', { connection, prefix });
    const retention = new Queue('retention', { connection, prefix });
    try {
      expect((await settle.getJobSchedulers()).map((s) => [s.key, s.every])).toEqual([['settle-check-every', 1000]]);
      expect((await retention.getJobSchedulers()).map((s) => [s.key, s.pattern, s.tz])).toEqual([['retention-purge-daily', '0 7 * * *', 'UTC']]);
    } finally {
      await Promise.all([settle.close(), retention.close()]);
      await closeRedis(connection);
      expect((await c.stop('SIGTERM')).code).toBe(0);
    }
  });

  it('guards the operator endpoints like the gateway: 401 without a session, 403 (audited) for a non-operator', async () => {
    const post = (body: unknown, auth?: string) =>
      fetch(`${url}/ops/settle/runs`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) }, body: JSON.stringify(body) });
    const none = await post({ date: sessions.at(-1)!.date });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: 'unauthorized' });
    expect((await post({ date: sessions.at(-1)!.date }, 'not-a-jwt')).status).toBe(401);
    const userToken = await token(PLAIN_USER, 'user');
    const denied = await post({ date: sessions.at(-1)!.date }, userToken);
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ code: 'operator_required' });
    // A token claiming operator is not enough: users.role must say so too.
    expect((await post({ date: sessions.at(-1)!.date }, await token(PLAIN_USER, 'operator'))).status).toBe(403);
    const audit = await su`select actor, outcome, details from audit_log where action = 'ops.access' and actor = ${`user:${PLAIN_USER}`}`;
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ outcome: 'denied', details: { path: '/ops/settle/runs', via: 'workers-ops' } });

    const op = await token(OPERATOR, 'operator');
    const bad = await post({ date: '2024-13-40x' }, op);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'invalid_request' });
    const saturday = (() => {
      let d = sessions.at(-1)!.date;
      while (new Date(`${d}T12:00:00Z`).getUTCDay() !== 6) d = addDays(d, -1);
      return d;
    })();
    const weekend = await post({ date: saturday }, op);
    expect(weekend.status).toBe(422);
    expect(await weekend.json()).toMatchObject({ code: 'not_a_session' });
    const early = await post({ date: nextSession.date }, op);
    expect(early.status).toBe(409);
    expect(await early.json()).toMatchObject({ code: 'close_not_passed' });
    const text = await fetch(`${url}/ops/settle/runs`, { method: 'POST', headers: { authorization: `Bearer ${op}`, 'content-type': 'text/plain' }, body: 'x' });
    expect(text.status).toBe(415);
  });

  it('runs the fan-out for a given date from the ops CLI, audited, and reports it on /metrics', async () => {
    const day = sessions.at(-4)!; // before the watermark: never fanned out so far
    const op = await token(OPERATOR, 'operator');
    const cli = spawnTsx('src/main/ops.ts', ['settle', 'run', '--date', day.date, '--wait', '--workers', url, '--token', op], {});
    let out = '';
    cli.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    cli.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((res) => cli.once('exit', res));
    expect(out).toContain(`settle fan-out for ${day.date} complete: ${USERS} settle commands appended`);
    expect(code).toBe(0);

    const ofDay = (await settleEnvelopes(redis, P, users)).filter((e) => (e.payload as { tradingDay: string }).tradingDay === day.date);
    expect(ofDay).toHaveLength(USERS);
    expect(ofDay.every((e) => e.id === settleCommandId(e.userId, day.date))).toBe(true);
    const [row] = await su`select triggered_by, scheduled from settle_fanouts where trading_day = ${day.date}`;
    expect(row).toEqual({ triggered_by: `operator:${OPERATOR}`, scheduled: false });
    expect(await watermark()).toBe(sessions.at(-1)!.date); // operator runs do not move the watermark
    const [audit] = await su`select actor, outcome, details from audit_log where action = 'settle.run'`;
    expect(audit).toMatchObject({ actor: `operator:${OPERATOR}`, outcome: 'success', details: { tradingDay: day.date, via: 'workers-ops' } });

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/raxx_workers_jobs_total\{queue="settle",job="settle-run",outcome="completed",role="workers"\} 1/);
    const fanned = Number(/raxx_workers_settle_users_fanned_out_total\{role="workers"\} (\d+)/.exec(metrics)?.[1]);
    expect(fanned).toBeGreaterThanOrEqual(USERS);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  }, 60_000);

  it('runs the retention purge as a BullMQ job on request', async () => {
    const [user] = [`wp-${run}-ret`];
    const accounts = await seedUsers(su, [{ id: user, tier: 'free' }]);
    const old = new Date(Date.now() - 200 * 86_400_000);
    await su`insert into orders (client_order_id, user_id, account_id, symbol, side, type, time_in_force, qty, status, created_at, updated_at)
             values ('old', ${user}, ${accounts.get(user)!}, 'AAPL', 'buy', 'market', 'day', '1', 'filled', ${old}, ${old}),
                    ('open', ${user}, ${accounts.get(user)!}, 'AAPL', 'buy', 'limit', 'gtc', '1', 'new', ${old}, ${old})`;
    const command = randomUUID();
    await su`insert into processed_commands (command_id, user_id, partition, type, result_code, processed_at)
             values (${command}, ${user}, 0, 'paper.order.submit', 'accepted', ${old})`;
    const res = await fetch(`${url}/ops/retention/runs`, { method: 'POST', headers: { authorization: `Bearer ${await token(OPERATOR, 'operator')}` } });
    expect(res.status).toBe(202);
    await waitFor(async () => (await su`select 1 from orders where user_id = ${user} and client_order_id = 'old'`).length === 0, 20_000, 'the old order to be purged');
    expect((await su`select client_order_id from orders where user_id = ${user}`).map((r) => r.client_order_id)).toEqual(['open']);
    await waitFor(async () => /raxx_workers_retention_rows_purged_total\{table="orders",tier="free",role="workers"\} 1/.test(await (await fetch(`${url}/metrics`)).text()), 10_000, 'the purge metric');
    // The command bookkeeping goes in the same job, after the history.
    await waitFor(async () => (await su`select 1 from processed_commands where command_id = ${command}`).length === 0, 10_000, 'the old processed_commands row to be purged');
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/raxx_workers_retention_rows_purged_total\{table="processed_commands",tier="any",role="workers"\} [1-9]/);
  }, 40_000);

  it('stops cleanly on SIGTERM', async () => {
    const { code } = await b.stop('SIGTERM');
    expect(code).toBe(0);
    expect(b.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});
