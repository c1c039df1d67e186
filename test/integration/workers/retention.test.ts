// The retention purge on real PostgreSQL as the batch role, with backdated rows of every tier: closed orders and their
// fills past the tier's horizon go (Free 90 days, Pro 3 years, Pro+ never); open orders, positions, settled cycles
// and audit rows stay; bounded statements loop until done and report counts.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../../src/infra/audit/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { purgeCeremonies, purgeHistory } from '../../../src/workers/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { seedUsers } from './fixtures.js';

const DAY = 86_400_000;
const NOW = Date.now();
const ago = (days: number) => new Date(NOW - days * DAY);
const run = randomBytes(3).toString('hex');

let tdb: TestDatabase;
let su: postgres.Sql;
let batch: DbHandle;
let accounts: Map<string, string>;
const USERS = { free: `rt-${run}-free`, pro: `rt-${run}-pro`, plus: `rt-${run}-plus` };

interface OrderSeed {
  user: string;
  label: string;
  status: string;
  ageDays: number;
  fills: number;
}

/** label → order id */
const orderIds = new Map<string, string>();

async function seedOrder(o: OrderSeed): Promise<void> {
  const accountId = accounts.get(o.user)!;
  const at = ago(o.ageDays);
  const [row] = await su<{ id: string }[]>`
    insert into orders (client_order_id, user_id, account_id, symbol, side, type, time_in_force, qty, status, created_at, updated_at, submitted_at)
    values (${o.label}, ${o.user}, ${accountId}, 'AAPL', 'buy', 'market', 'day', '1', ${o.status}, ${at}, ${at}, ${at}) returning id`;
  orderIds.set(o.label, row!.id);
  for (let i = 0; i < o.fills; i++) {
    await su`insert into fills (user_id, account_id, order_id, symbol, side, qty, price, quote_seq, rule, filled_at)
             values (${o.user}, ${accountId}, ${row!.id}, 'AAPL', 'buy', '1', '100', ${i + 1}, 'next_quote', ${at})`;
  }
}

const seeds: OrderSeed[] = [];
function seed(user: string, label: string, status: string, ageDays: number, fills = 0) {
  seeds.push({ user, label, status, ageDays, fills });
}

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_wret');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  batch = createDb(tdb.batchUrl, { max: 2, appName: 'wret-test' });
  accounts = await seedUsers(su, [
    { id: USERS.free, tier: 'free' },
    { id: USERS.pro, tier: 'pro' },
    { id: USERS.plus, tier: 'pro_plus' },
  ]);
  // Free: 7 old closed orders (more than one batch of 3), each with 2 fills; old open ones; recent closed ones.
  for (let i = 0; i < 7; i++) seed(USERS.free, `free-old-filled-${i}`, i % 2 ? 'filled' : 'canceled', 91 + i, i % 2 ? 2 : 0);
  seed(USERS.free, 'free-old-open', 'new', 200);
  seed(USERS.free, 'free-old-partial', 'partially_filled', 120, 1);
  seed(USERS.free, 'free-recent', 'filled', 89, 1);
  // Pro: 3 years is the horizon.
  seed(USERS.pro, 'pro-100d', 'filled', 100, 1);
  seed(USERS.pro, 'pro-2y', 'expired', 730);
  seed(USERS.pro, 'pro-4y', 'filled', 4 * 365, 3);
  seed(USERS.pro, 'pro-4y-open', 'accepted', 4 * 365);
  // Pro+: never.
  seed(USERS.plus, 'plus-10y', 'filled', 3650, 2);
  for (const s of seeds) await seedOrder(s);
  for (const user of Object.values(USERS)) {
    await su`insert into positions (account_id, symbol, user_id, qty, avg_entry_price, cost_basis) values (${accounts.get(user)!}, 'AAPL', ${user}, '3', '100', '300')`;
    await su`insert into settled_cycles (user_id, account_id, trading_day, equity_open, equity_close, pnl, settled_at)
             values (${user}, ${accounts.get(user)!}, '2015-01-02', '100000', '100010', '10', ${ago(4000)})`;
    await appendAudit(batch.db, { actor: user, action: 'account.open', outcome: 'success', subject: user, at: ago(4000) });
  }
});

afterAll(async () => {
  await batch?.close();
  await su?.end();
  await tdb?.drop();
});

const remaining = async () => new Set((await su<{ client_order_id: string }[]>`select client_order_id from orders where user_id like ${`rt-${run}-%`}`).map((r) => r.client_order_id));

describe('retention purge', () => {
  it('deletes closed orders and their fills past the tier horizon, in bounded statements, and reports counts', async () => {
    const fillsBefore = await su<{ order_id: string }[]>`select order_id from fills`;
    const deleted: Array<[string, number, number]> = [];
    const result = await purgeHistory(batch.sql, {
      batchSize: 3,
      freeDays: 90,
      proDays: 1095,
      now: () => NOW,
      logger: { info: () => {} },
      onDeleted: (tier, orders, fills) => deleted.push([tier, orders, fills]),
    });

    const kept = await remaining();
    const expectGone = ['free-old-filled-0', 'free-old-filled-1', 'free-old-filled-2', 'free-old-filled-3', 'free-old-filled-4', 'free-old-filled-5', 'free-old-filled-6', 'pro-4y'];
    const expectKept = ['free-old-open', 'free-old-partial', 'free-recent', 'pro-100d', 'pro-2y', 'pro-4y-open', 'plus-10y'];
    expect([...kept].sort()).toEqual(expectKept.sort());
    for (const label of expectGone) expect(kept.has(label)).toBe(false);

    // Fills went with their orders, and only those.
    const goneIds = new Set(expectGone.map((l) => orderIds.get(l)!));
    const expectedFillsGone = fillsBefore.filter((f) => goneIds.has(f.order_id)).length;
    expect(expectedFillsGone).toBe(3 * 2 + 3); // free-old-filled-1/3/5 have 2 each; pro-4y has 3
    const fillsAfter = await su<{ order_id: string }[]>`select order_id from fills`;
    expect(fillsAfter).toHaveLength(fillsBefore.length - expectedFillsGone);
    expect(fillsAfter.some((f) => goneIds.has(f.order_id))).toBe(false);

    const byTier = Object.fromEntries(result.map((r) => [r.tier, { orders: r.orders, fills: r.fills }]));
    expect(byTier).toEqual({ free: { orders: 7, fills: 6 }, pro: { orders: 1, fills: 3 } });
    // 7 Free orders with 3 per statement: 3 + 3 + 1.
    expect(result.find((r) => r.tier === 'free')!.statements).toBe(3);
    expect(deleted.filter(([t]) => t === 'free').map(([, o]) => o)).toEqual([3, 3, 1]);
    expect(result.map((r) => r.tier)).toEqual(['free', 'pro']); // Pro+ is never looked at
  });

  it('keeps positions, settled cycles and audit rows whatever their age', async () => {
    const [counts] = await su`
      select (select count(*) from positions where user_id like ${`rt-${run}-%`})::int as positions,
             (select count(*) from settled_cycles where user_id like ${`rt-${run}-%`})::int as cycles,
             (select count(*) from audit_log where chain like ${`rt-${run}-%`})::int as audit`;
    expect(counts).toEqual({ positions: 3, cycles: 3, audit: 3 });
  });

  it('a second run finds nothing more to delete', async () => {
    const before = await remaining();
    const result = await purgeHistory(batch.sql, { batchSize: 3, freeDays: 90, proDays: 1095, now: () => NOW, logger: { info: () => {} } });
    expect(result.map((r) => [r.tier, r.orders, r.fills])).toEqual([
      ['free', 0, 0],
      ['pro', 0, 0],
    ]);
    expect(await remaining()).toEqual(before);
  });

  it('a user upgraded to Pro+ keeps history that Free would have lost', async () => {
    await seedOrder({ user: USERS.free, label: 'free-old-again', status: 'filled', ageDays: 400, fills: 1 });
    await su`update users set tier = 'pro_plus' where id = ${USERS.free}`;
    await purgeHistory(batch.sql, { batchSize: 3, freeDays: 90, proDays: 1095, now: () => NOW, logger: { info: () => {} } });
    expect((await remaining()).has('free-old-again')).toBe(true);
    await su`update users set tier = 'free' where id = ${USERS.free}`;
    await purgeHistory(batch.sql, { batchSize: 3, freeDays: 90, proDays: 1095, now: () => NOW, logger: { info: () => {} } });
    expect((await remaining()).has('free-old-again')).toBe(false);
  });
});

describe('ceremony purge', () => {
  it('deletes OAuth states and WebAuthn challenges expired more than the grace ago, in bounded statements; keeps the rest', async () => {
    const user = USERS.pro;
    const hex = (n: number) => randomBytes(n).toString('hex');
    const states = { old: [hex(32), hex(32), hex(32), hex(32)], recent: hex(32), live: hex(32) };
    const insertState = (hash: string, expires: Date) =>
      su`insert into oauth_states (state_hash, user_id, session_hash, redirect_uri, scope, expires_at)
         values (${hash}, ${user}, ${hex(32)}, 'http://localhost/cb', 'trading', ${expires})`;
    for (const h of states.old) await insertState(h, ago(3));
    await insertState(states.recent, new Date(NOW - 3_600_000)); // expired an hour ago: inside the grace
    await insertState(states.live, new Date(NOW + 300_000));
    const insertChallenge = async (expires: Date, used: boolean) => {
      const [row] = await su<{ id: string }[]>`
        insert into webauthn_challenges (user_id, purpose, challenge, expires_at, used_at)
        values (${user}, 'step_up', ${hex(16)}, ${expires}, ${used ? ago(3) : null}) returning id`;
      return row!.id;
    };
    const oldUsed = await insertChallenge(ago(3), true);
    const oldUnused = await insertChallenge(ago(2), false);
    const live = await insertChallenge(new Date(NOW + 60_000), false);

    const deleted: Array<[string, number]> = [];
    const result = await purgeCeremonies(batch.sql, { batchSize: 3, now: () => NOW, logger: { info: () => {} }, onDeleted: (t, n) => deleted.push([t, n]) });
    expect(result.map((r) => [r.table, r.rows, r.statements])).toEqual([
      ['oauth_states', 4, 2],
      ['webauthn_challenges', 2, 1],
    ]);
    expect(deleted).toEqual([
      ['oauth_states', 3],
      ['oauth_states', 1],
      ['webauthn_challenges', 2],
    ]);
    const leftStates = (await su<{ h: string }[]>`select state_hash as h from oauth_states where user_id = ${user}`).map((r) => r.h).sort();
    expect(leftStates).toEqual([states.recent, states.live].sort());
    const leftChallenges = (await su<{ id: string }[]>`select id from webauthn_challenges where user_id = ${user}`).map((r) => r.id);
    expect(leftChallenges).toEqual([live]);
    expect(leftChallenges).not.toContain(oldUsed);
    expect(leftChallenges).not.toContain(oldUnused);
    // Nothing more on a second run.
    const again = await purgeCeremonies(batch.sql, { batchSize: 3, now: () => NOW, logger: { info: () => {} } });
    expect(again.map((r) => r.rows)).toEqual([0, 0]);
  });
});
