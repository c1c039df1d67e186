// Retention of the paper engine's recorded inputs on real PostgreSQL as the batch role: an account's inputs go up to
// its newest checkpoint older than the tier's horizon (Free 90 days, Pro 3 years, Pro+ never), with the checkpoints
// before it; an account without such a checkpoint keeps everything; old checkpoints are thinned to one per month.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mbt } from '../../../src/domain/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { purgeEngineLogs, type EngineLogTable } from '../../../src/workers/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { seedUsers } from './fixtures.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-06-15T12:00:00Z');
const ago = (days: number) => new Date(NOW - days * DAY);
const run = randomBytes(3).toString('hex');
const USERS = { free: `el-${run}-free`, bare: `el-${run}-bare`, pro: `el-${run}-pro`, plus: `el-${run}-plus` };

let tdb: TestDatabase;
let su: postgres.Sql;
let batch: DbHandle;
let accounts: Map<string, string>;

async function seedInputs(user: string, ages: number[]): Promise<void> {
  const account = accounts.get(user)!;
  for (const [i, age] of ages.entries()) {
    await su`insert into mbt_inputs (account_id, n, user_id, input, at)
             values (${account}, ${i + 1}, ${user}, ${su.json({ type: 'clock', event: 'pre_open', day: '2020-01-02', ts: i + 1 })}, ${ago(age)})`;
  }
}

async function seedCheckpoint(user: string, n: number, at: Date): Promise<void> {
  const account = accounts.get(user)!;
  const state = mbt.initialState({ id: account });
  await su`insert into mbt_checkpoints (account_id, n, user_id, trading_day, state, client_ids, at)
           values (${account}, ${n}, ${user}, ${at.toISOString().slice(0, 10)}, ${su.json(state as never)}, '[]'::jsonb, ${at})`;
}

const inputsOf = async (user: string) => (await su<{ n: number }[]>`select n::int from mbt_inputs where user_id = ${user} order by n`).map((r) => r.n);
const checkpointsOf = async (user: string) => (await su<{ n: number }[]>`select n::int from mbt_checkpoints where user_id = ${user} order by n`).map((r) => r.n);

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_welret');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  batch = createDb(tdb.batchUrl, { max: 2, appName: 'welret-test' });
  accounts = await seedUsers(su, [
    { id: USERS.free, tier: 'free' },
    { id: USERS.bare, tier: 'free' },
    { id: USERS.pro, tier: 'pro' },
    { id: USERS.plus, tier: 'pro_plus' },
  ]);
  // Free: inputs 1–6 old, 7–10 recent; checkpoints after 3 (120 days), 6 (95 days) and 9 (10 days).
  await seedInputs(USERS.free, [130, 125, 120, 110, 100, 95, 20, 15, 10, 5]);
  await seedCheckpoint(USERS.free, 3, ago(120));
  await seedCheckpoint(USERS.free, 6, ago(95));
  await seedCheckpoint(USERS.free, 9, ago(10));
  // Free with old inputs but no checkpoint older than the horizon: nothing to start an export from, so all stay.
  await seedInputs(USERS.bare, [200, 150, 5]);
  await seedCheckpoint(USERS.bare, 3, ago(5));
  // Pro: the 3-year horizon cuts after input 2 (a checkpoint 4 years old); the 2-year one stays.
  await seedInputs(USERS.pro, [1500, 1480, 800, 730, 10]);
  await seedCheckpoint(USERS.pro, 2, ago(1480));
  await seedCheckpoint(USERS.pro, 4, ago(730));
  // Pro+: never purged; old checkpoints thinned to the first of each month and the newest old one.
  await seedInputs(USERS.plus, [400, 399, 398, 397, 396, 395, 394, 10]);
  for (const [n, day] of [
    [1, '2025-03-03'],
    [2, '2025-03-04'],
    [3, '2025-03-05'],
    [4, '2025-04-01'],
    [5, '2025-04-02'],
    [6, '2025-04-03'],
  ] as const)
    await seedCheckpoint(USERS.plus, n, new Date(`${day}T21:00:00Z`));
  await seedCheckpoint(USERS.plus, 8, ago(10));
});

afterAll(async () => {
  await batch?.close();
  await su?.end();
  await tdb?.drop();
});

const purge = (onDeleted?: (table: EngineLogTable, tier: string, rows: number) => void) =>
  purgeEngineLogs(batch.sql, { batchSize: 4, freeDays: 90, proDays: 1095, now: () => NOW, logger: { info: () => {} }, onDeleted });

describe('retention of the engine logs', () => {
  it('cuts each account at its newest checkpoint past the horizon, in bounded statements, and thins old checkpoints', async () => {
    const deleted: Array<[EngineLogTable, string, number]> = [];
    const result = await purge((table, tier, rows) => deleted.push([table, tier, rows]));

    expect(await inputsOf(USERS.free)).toEqual([7, 8, 9, 10]);
    expect(await checkpointsOf(USERS.free)).toEqual([6, 9]);
    expect(await inputsOf(USERS.bare)).toEqual([1, 2, 3]);
    expect(await checkpointsOf(USERS.bare)).toEqual([3]);
    expect(await inputsOf(USERS.pro)).toEqual([3, 4, 5]);
    expect(await checkpointsOf(USERS.pro)).toEqual([2, 4]);
    expect(await inputsOf(USERS.plus)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await checkpointsOf(USERS.plus)).toEqual([1, 4, 6, 8]); // 2, 3 and 5 thinned; 6 is the newest old one

    expect(result.tiers).toEqual([
      { tier: 'free', cutoff: ago(90).toISOString(), inputs: 6, checkpoints: 1, statements: 3 }, // one page of accounts: inputs 4 + 2, then the checkpoints
      { tier: 'pro', cutoff: ago(1095).toISOString(), inputs: 2, checkpoints: 0, statements: 2 },
    ]);
    expect(result.thinned).toBe(3);
    expect(deleted).toContainEqual(['mbt_inputs', 'free', 4]);
    expect(deleted).toContainEqual(['mbt_inputs', 'free', 2]);
    expect(deleted).toContainEqual(['mbt_checkpoints', 'any', 3]);
  });

  it('a second run finds nothing more; a user upgraded to Pro+ keeps what Free would have lost', async () => {
    const again = await purge();
    expect(again.tiers.map((t) => [t.tier, t.inputs, t.checkpoints])).toEqual([
      ['free', 0, 0],
      ['pro', 0, 0],
    ]);
    expect(again.thinned).toBe(0);

    await su`update users set tier = 'pro_plus' where id = ${USERS.free}`;
    await su`update mbt_checkpoints set at = ${ago(91)} where user_id = ${USERS.free} and n = 9`;
    await purge();
    expect(await inputsOf(USERS.free)).toEqual([7, 8, 9, 10]);
    await su`update users set tier = 'free' where id = ${USERS.free}`;
    await purge();
    expect(await inputsOf(USERS.free)).toEqual([10]);
    expect(await checkpointsOf(USERS.free)).toEqual([9]);
  });

  it('the checkpoint an export starts from survives thinning, also after the user moved to a tier with a longer horizon', async () => {
    const user = `el-${run}-head`;
    accounts.set(user, (await seedUsers(su, [{ id: user, tier: 'free' }])).get(user)!);
    await seedInputs(user, [100, 98, 96, 20, 10]);
    await seedCheckpoint(user, 1, new Date('2026-03-03T21:00:00Z'));
    await seedCheckpoint(user, 3, new Date('2026-03-09T21:00:00Z'));
    await seedCheckpoint(user, 5, ago(10));
    await purge();
    expect([await inputsOf(user), await checkpointsOf(user)]).toEqual([[4, 5], [3, 5]]);
    // As Pro, months later: every checkpoint is past the Free horizon; the head (3, the oldest) and the newest stay.
    await su`update users set tier = 'pro' where id = ${user}`;
    await purgeEngineLogs(batch.sql, { batchSize: 4, freeDays: 90, proDays: 1095, now: () => NOW + 200 * DAY, logger: { info: () => {} } });
    expect([await inputsOf(user), await checkpointsOf(user)]).toEqual([[4, 5], [3, 5]]);
  });
});
