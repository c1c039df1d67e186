// Retention of the command runtime's bookkeeping on real PostgreSQL (batch role) and Redis: processed_commands rows
// and cmd:dead entries older than the window go, in bounded statements, whatever the user's tier; newer ones stay.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis } from '../../../src/infra/redis/index.js';
import { runtimeKeys } from '../../../src/runtime/index.js';
import { purgeCommandBookkeeping, type CommandRetentionTable } from '../../../src/workers/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';
import { seedUsers } from './fixtures.js';

const DAY = 86_400_000;
const NOW = Date.now();
const run = randomBytes(3).toString('hex');
const USERS = { free: `cr-${run}-free`, plus: `cr-${run}-plus` };

let tdb: TestDatabase;
let su: postgres.Sql;
let batch: DbHandle;
let redis: Redis;
/** label → command id */
const ids = new Map<string, string>();

async function seedCommand(label: string, user: string, ageDays: number): Promise<void> {
  const id = randomUUID();
  ids.set(label, id);
  await su`insert into processed_commands (command_id, user_id, partition, type, result_code, result, processed_at)
           values (${id}, ${user}, 3, 'paper.order.submit', 'accepted', ${su.json({ order: { symbol: 'AAPL', qty: '1' } })}, ${new Date(NOW - ageDays * DAY)})`;
}

const remaining = async () =>
  new Set((await su<{ command_id: string }[]>`select command_id from processed_commands where user_id like ${`cr-${run}-%`}`).map((r) => r.command_id));
const labelsOf = (set: Set<string>) => [...ids].filter(([, id]) => set.has(id)).map(([label]) => label).sort();
const purge = (onDeleted?: (table: CommandRetentionTable, rows: number) => void) =>
  purgeCommandBookkeeping(batch.sql, redis, { batchSize: 3, days: 30, now: () => NOW, logger: { info: () => {} }, onDeleted });

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_wcret');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  batch = createDb(tdb.batchUrl, { max: 2, appName: 'wcret-test' });
  redis = createRedis(testRedisUrl('workers-retention'), 'wcret-test');
  await redis.del(runtimeKeys.deadLetter);
  await seedUsers(su, [
    { id: USERS.free, tier: 'free' },
    { id: USERS.plus, tier: 'pro_plus' },
  ]);
  // Older than 30 days: 5 Free and 2 Pro+ (one window for every tier); 7 rows take 3 statements of 3.
  for (let i = 0; i < 5; i++) await seedCommand(`free-old-${i}`, USERS.free, 31 + i * 40);
  await seedCommand('plus-old-0', USERS.plus, 31);
  await seedCommand('plus-old-1', USERS.plus, 3650);
  await seedCommand('free-29d', USERS.free, 29);
  await seedCommand('free-now', USERS.free, 0);
  await seedCommand('plus-now', USERS.plus, 0);
  // Dead letters with the ids Redis gives them (their time): two past the window, one recent.
  const raw = JSON.stringify({ id: randomUUID(), userId: USERS.free, type: 'paper.order.submit', payload: { symbol: 'AAPL' } });
  for (const at of [NOW - 400 * DAY, NOW - 31 * DAY])
    await redis.xadd(runtimeKeys.deadLetter, `${at}-0`, 'stream', 'cmd:{p3}', 'id', '1-0', 'reason', 'malformed', 'raw', raw);
  await redis.xadd(runtimeKeys.deadLetter, `${NOW - 29 * DAY}-0`, 'stream', 'cmd:{p3}', 'id', '2-0', 'reason', 'malformed', 'raw', raw);
});

afterAll(async () => {
  await redis?.del(runtimeKeys.deadLetter);
  if (redis) await closeRedis(redis);
  await batch?.close();
  await su?.end();
  await tdb?.drop();
});

describe('retention of command bookkeeping', () => {
  it('deletes processed_commands rows and dead letters older than the window, for every tier, in bounded statements', async () => {
    const deleted: Array<[CommandRetentionTable, number]> = [];
    const result = await purge((table, rows) => deleted.push([table, rows]));

    expect(labelsOf(await remaining())).toEqual(['free-29d', 'free-now', 'plus-now']);
    expect(result).toEqual({ cutoff: new Date(NOW - 30 * DAY).toISOString(), processedCommands: 7, statements: 3, deadLetters: 2 });
    expect(deleted).toEqual([
      ['processed_commands', 3],
      ['processed_commands', 3],
      ['processed_commands', 1],
      ['cmd:dead', 2],
    ]);
    const left = await redis.xrange(runtimeKeys.deadLetter, '-', '+');
    expect(left.map(([id]) => id)).toEqual([`${NOW - 29 * DAY}-0`]);
  });

  it('a second run finds nothing more to delete', async () => {
    const before = await remaining();
    const deleted: Array<[CommandRetentionTable, number]> = [];
    const result = await purge((table, rows) => deleted.push([table, rows]));
    expect(result).toMatchObject({ processedCommands: 0, statements: 1, deadLetters: 0 });
    expect(deleted).toEqual([]);
    expect(await remaining()).toEqual(before);
    expect(await redis.xlen(runtimeKeys.deadLetter)).toBe(1);
  });
});
