// Bar-close jobs from the rule registry: one job per subscribed rule, de-duplicated (Redis DB 15 + PostgreSQL).
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, closeRedis, type Redis } from '../../../src/infra/redis/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import {
  BAR_CLOSE_JOB_NAME,
  BAR_CLOSE_QUEUE,
  BarCloseJobs,
  disableRule,
  listEnabledRules,
  upsertRule,
  type BarCloseJobData,
} from '../../../src/infra/market-data/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';

const url = () => testRedisUrl('redis-bar-close');

let database: TestDatabase;
let app: DbHandle;
let batch: DbHandle;
let redisA: Redis;
let redisB: Redis;
let queueA: Queue;
let queueB: Queue;

beforeAll(async () => {
  database = await createTestDatabase();
  app = createDb(database.appUrl, { max: 2 });
  batch = createDb(database.batchUrl, { max: 1 });
  redisA = createRedis(url(), 'test-bars-a');
  redisB = createRedis(url(), 'test-bars-b');
  await redisA.flushdb();
  queueA = new Queue(BAR_CLOSE_QUEUE, { connection: redisA });
  queueB = new Queue(BAR_CLOSE_QUEUE, { connection: redisB });
});
afterAll(async () => {
  await queueA?.close();
  await queueB?.close();
  await closeRedis(redisA);
  await closeRedis(redisB);
  await app?.close();
  await batch?.close();
  await database?.drop();
});

describe('rule registry (PostgreSQL)', () => {
  it('upserts, lists enabled rules, disables; raxx_batch may only read', async () => {
    await upsertRule(app.db, { id: 'sma-cross', name: 'SMA cross', symbols: ['AAPL', 'MSFT', 'AAPL'], createdBy: 'ops' });
    await upsertRule(app.db, { id: 'rsi.alert', name: 'RSI', symbols: ['AAPL'] });
    await upsertRule(app.db, { id: 'old-rule', name: 'Old', symbols: ['AAPL'] });
    const updated = await upsertRule(app.db, { id: 'rsi.alert', name: 'RSI 14', symbols: ['AAPL', 'BRK.B'], createdBy: 'someone-else' });
    expect(updated).toMatchObject({ id: 'rsi.alert', name: 'RSI 14', symbols: ['AAPL', 'BRK.B'], enabled: true, createdBy: null });
    expect(await disableRule(app.db, 'old-rule')).toBe(true);
    expect(await disableRule(app.db, 'nope')).toBe(false);

    const rules = await listEnabledRules(batch.db);
    expect(rules.map((r) => [r.id, r.symbols])).toEqual([
      ['rsi.alert', ['AAPL', 'BRK.B']],
      ['sma-cross', ['AAPL', 'MSFT']],
    ]);
    await expect(upsertRule(batch.db, { id: 'x', name: 'x', symbols: ['A'] })).rejects.toMatchObject({ sqlstate: '42501' });
    await expect(upsertRule(app.db, { id: 'bad:id', name: 'x', symbols: ['A'] })).rejects.toThrow(/rule id/);
    await expect(upsertRule(app.db, { id: 'ok', name: 'x', symbols: ['aapl'] })).rejects.toThrow();
    // The CHECK holds even for writes that bypass the repository.
    await expect(app.sql`insert into market_data_rules (id, name, symbols) values ('123', 'x', '{A}')`).rejects.toMatchObject({
      code: '23514',
    });
  });
});

describe('BarCloseJobs (BullMQ)', () => {
  const bar = { symbol: 'AAPL', t: '2026-03-02T14:30:00Z', o: 1, h: 2, l: 0.5, c: 1.5, v: 1000, n: 12, vw: 1.4 };

  it('adds one job per subscribed rule; the same bar from a second leader adds nothing; unsubscribed symbols none', async () => {
    const rules = await listEnabledRules(app.db);
    const leaderA = new BarCloseJobs(queueA, () => Date.parse('2026-03-02T14:31:00.050Z'));
    const leaderB = new BarCloseJobs(queueB);
    const ids = await leaderA.enqueue(bar, rules);
    expect(ids.sort()).toEqual(['bar|rsi.alert|AAPL|1772461800000', 'bar|sma-cross|AAPL|1772461800000']);
    const again = await Promise.all([leaderA.enqueue(bar, rules), leaderB.enqueue({ ...bar, t: '2026-03-02T14:30:00.000000000Z' }, rules)]);
    expect(again.map((x) => x.sort())).toEqual([ids, ids]);
    expect(await leaderA.enqueue({ ...bar, symbol: 'TSLA' }, rules)).toEqual([]);
    expect(await queueA.getJobCounts('waiting', 'completed', 'delayed')).toEqual({ waiting: 2, completed: 0, delayed: 0 });

    const job = await queueA.getJob('bar|sma-cross|AAPL|1772461800000');
    expect(job?.name).toBe(BAR_CLOSE_JOB_NAME);
    expect(job?.data as BarCloseJobData).toEqual({
      ruleId: 'sma-cross',
      symbol: 'AAPL',
      bar: { t: '2026-03-02T14:30:00Z', o: 1, h: 2, l: 0.5, c: 1.5, v: 1000, n: 12, vw: 1.4 },
      enqueuedAt: '2026-03-02T14:31:00.050Z',
    });
    expect(job?.opts.removeOnComplete).toEqual({ age: 86_400 });

    // Next minute: new jobs; MSFT only for the rule that has it; n/vw absent → null.
    const next = await leaderB.enqueue({ symbol: 'MSFT', t: '2026-03-02T14:31:00Z', o: 1, h: 1, l: 1, c: 1, v: 1 }, rules);
    expect(next).toEqual(['bar|sma-cross|MSFT|1772461860000']);
    expect((await queueA.getJob(next[0]!))?.data.bar).toMatchObject({ n: null, vw: null });
  });

  it('refuses another queue and a malformed bar time', async () => {
    const other = new Queue('something-else', { connection: redisA });
    expect(() => new BarCloseJobs(other)).toThrow(/md-bar-close/);
    await other.close();
    await expect(new BarCloseJobs(queueA).enqueue({ ...bar, t: 'yesterday' }, [{ id: 'r', symbols: ['AAPL'] }])).rejects.toThrow(/RFC 3339/);
  });
});
