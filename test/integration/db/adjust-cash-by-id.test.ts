// raxx_adjust_cash_by_id (migration 0010): a turn's cash adjustments as version-matched point updates by account id,
// under the tenant policy; and why by id: by user_id the policy's scope array multiplies the index searches.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, DbError, paperAccounts, users, withTenant, type DbHandle, type Tx } from '../../../src/infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

const N = 300;
const ids = Array.from({ length: N }, (_, i) => `adj-${String(i).padStart(4, '0')}`);

interface Row extends Record<string, unknown> {
  user_id: string;
  id: string;
  cash: string;
  version: number;
}

/** Index searches on paper_accounts in the current transaction (its indexes' uncommitted scan counters). */
async function indexScans(tx: Tx): Promise<number> {
  const [r] = await tx.execute<{ n: string }>(
    sql`select coalesce(sum(pg_stat_get_xact_numscans(indexrelid)), 0)::text as n from pg_index where indrelid = 'paper_accounts'::regclass`,
  );
  return Number(r!.n);
}

describe('raxx_adjust_cash_by_id', () => {
  let t: TestDatabase;
  let app: DbHandle;
  let batch: DbHandle;
  const rows = new Map<string, Row>();

  beforeAll(async () => {
    t = await createTestDatabase('raxx_adjust_by_id');
    batch = createDb(t.batchUrl, { max: 2 });
    app = createDb(t.appUrl, { max: 1 });
    await batch.db.insert(users).values(ids.map((id) => ({ id, tier: 'pro' as const })));
    await batch.db.insert(paperAccounts).values(ids.map((userId) => ({ userId, cash: '1000' })));
    const all = await batch.db.execute<Row>(sql`select user_id, id::text as id, cash::text as cash, version::int as version from paper_accounts`);
    for (const r of all) rows.set(r.user_id, r);
    // Statistics as production has them (autovacuum analyzes a table this size): the plans below are the real ones.
    const owner = createDb(t.ownerUrl, { max: 1 });
    await owner.db.execute(sql`analyze paper_accounts`);
    await owner.close();
  });
  afterAll(async () => {
    await app?.close();
    await batch?.close();
    await t?.drop();
  });

  const adjust = (tx: Tx, fn: 'raxx_adjust_cash_by_id' | 'raxx_adjust_cash', keys: string[], amounts: string[], versions: number[]) =>
    tx.execute<{ n: number }>(
      sql.raw(
        `select public.${fn}('{${keys.join(',')}}'::${fn === 'raxx_adjust_cash' ? 'text' : 'uuid'}[], '{${amounts.join(',')}}'::numeric[], ` +
          `'{${versions.join(',')}}'::bigint[], '{${keys.map(() => 1).join(',')}}'::int[]) as n`,
      ),
    );
  const current = async (userId: string) => {
    const [r] = await batch.db.execute<Row>(sql`select user_id, id::text as id, cash::text as cash, version::int as version from paper_accounts where user_id = ${userId}`);
    return r!;
  };

  it('applies each adjustment to the version it was computed from, and refuses the turn (40001) otherwise', async () => {
    const [a, b, c] = [rows.get(ids[0]!)!, rows.get(ids[1]!)!, rows.get(ids[2]!)!];
    await withTenant(app.db, [a.user_id, b.user_id], async (tx) => {
      const [r] = await adjust(tx, 'raxx_adjust_cash_by_id', [a.id, b.id], ['2.50', '-1'], [a.version, b.version]);
      expect(r!.n).toBe(2);
    });
    expect(await current(a.user_id)).toMatchObject({ cash: '1002.50', version: a.version + 1 });
    expect(await current(b.user_id)).toMatchObject({ cash: '999', version: b.version + 1 });

    // A stale version, an account outside the scope, cash below what open orders reserve: nothing changes.
    const refused = async (scope: string[], key: string, amount: string, version: number) => {
      const err = await withTenant(app.db, scope, (tx) => adjust(tx, 'raxx_adjust_cash_by_id', [key], [amount], [version])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DbError);
      expect((err as DbError).sqlstate).toBe('40001');
    };
    await refused([a.user_id], a.id, '1', a.version);
    await refused([a.user_id], c.id, '1', c.version);
    await refused([c.user_id], c.id, '-1000.01', c.version);
    expect(await current(a.user_id)).toMatchObject({ cash: '1002.50', version: a.version + 1 });
    expect(await current(c.user_id)).toMatchObject({ cash: '1000', version: c.version });
  });

  const scope = ids.slice(10); // users the first test did not touch

  it(`searches the index once per account in a turn of ${scope.length} users, where by user_id it searched once per user in the scope`, async () => {
    const accounts = scope.map((u) => rows.get(u)!);
    const scans = await withTenant(app.db, scope, async (tx) => {
      const before = await indexScans(tx);
      await adjust(tx, 'raxx_adjust_cash_by_id', accounts.map((r) => r.id), accounts.map(() => '1'), accounts.map((r) => r.version));
      const byId = (await indexScans(tx)) - before;
      // The same turn through the user_id-keyed function (kept for the previous release): the policy's array is an
      // index condition beside `user_id = …`, so every update searches the btree once per user in the scope.
      const mid = await indexScans(tx);
      await adjust(tx, 'raxx_adjust_cash', scope, accounts.map(() => '1'), accounts.map((r) => r.version + 1));
      return { byId, byUserId: (await indexScans(tx)) - mid };
    });
    expect(scans.byId).toBe(scope.length);
    expect(scans.byUserId).toBeGreaterThanOrEqual(scope.length * scope.length);
    for (const u of scope.slice(0, 3)) expect(await current(u)).toMatchObject({ cash: '1002', version: rows.get(u)!.version + 2 });
  });
});
