// Row-level security: as raxx_app through withTenant a user sees and changes only its own rows.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, DbError, orders, TenantScopeError, users, withTenant, type DbHandle, type Tx } from '../../../src/infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { seedTenant, TENANT_TABLES } from './fixtures.js';

const A = 'user-a';
const B = 'user-b';
const WEIRD = 'we"ird,{id}\\';

async function ownersOf(tx: Tx, table: string, column: string): Promise<string[]> {
  const rows = await tx.execute<{ uid: string }>(sql.raw(`select ${column} as uid from ${table}`));
  return rows.map((r) => r.uid);
}

function sqlstateOf(err: unknown): string | undefined {
  return err instanceof DbError ? err.sqlstate : undefined;
}

describe('row-level security', () => {
  let t: TestDatabase;
  let app: DbHandle;
  let batch: DbHandle;
  let bOrderId: string;

  beforeAll(async () => {
    t = await createTestDatabase('raxx_rls');
    batch = createDb(t.batchUrl, { max: 2 });
    app = createDb(t.appUrl, { max: 1 }); // one connection: every call below reuses it
    await seedTenant(batch.db, A);
    ({ orderId: bOrderId } = await seedTenant(batch.db, B));
    await seedTenant(batch.db, WEIRD);
  });
  afterAll(async () => {
    await app?.close();
    await batch?.close();
    await t?.drop();
  });

  it('shows a user only its own rows in every tenant table, even with no WHERE clause', async () => {
    await withTenant(app.db, [A], async (tx) => {
      for (const [table, column] of TENANT_TABLES) {
        expect({ table, owners: await ownersOf(tx, table, column) }).toEqual({ table, owners: [A] });
      }
    });
  });

  it('lets a user update or delete none of another user’s rows', async () => {
    await withTenant(app.db, [A], async (tx) => {
      for (const [table, column] of TENANT_TABLES) {
        const [can] = await tx.execute<{ upd: boolean; del: boolean }>(
          sql`select has_table_privilege(${table}, 'UPDATE') as upd, has_table_privilege(${table}, 'DELETE') as del`,
        );
        if (can?.upd) {
          const res = await tx.execute(sql.raw(`update ${table} set ${column} = ${column} where ${column} = '${B}'`));
          expect({ table, updated: res.count }).toEqual({ table, updated: 0 });
        }
        if (can?.del) {
          const res = await tx.execute(sql.raw(`delete from ${table} where ${column} = '${B}'`));
          expect({ table, deleted: res.count }).toEqual({ table, deleted: 0 });
        }
      }
      // By primary key, too.
      const res = await tx.update(orders).set({ symbol: 'HACKED' }).where(sql`${orders.id} = ${bOrderId}`);
      expect(res.count).toBe(0);
    });
    // Nothing of B's changed or vanished.
    await withTenant(batch.db, [], async (tx) => {
      for (const [table, column] of TENANT_TABLES) {
        const owners = await ownersOf(tx, table, column);
        expect({ table, b: owners.filter((o) => o === B).length }).toEqual({ table, b: 1 });
      }
      const [order] = await tx.select({ symbol: orders.symbol }).from(orders).where(sql`${orders.id} = ${bOrderId}`);
      expect(order?.symbol).toBe('AAPL');
    });
  });

  it('refuses to write a row for another user (SQLSTATE 42501) without leaking values', async () => {
    const insert = await withTenant(app.db, [A], (tx) =>
      tx.insert(users).values({ id: B + '-SENTINEL-VALUE', tier: 'free' }),
    ).catch((e: unknown) => e);
    expect(sqlstateOf(insert)).toBe('42501');
    expect(String((insert as Error).message)).not.toContain('SENTINEL');

    // Moving one's own row to another user is refused by WITH CHECK.
    const move = await withTenant(app.db, [A], (tx) => tx.execute(sql`update orders set user_id = ${B} where user_id = ${A}`)).catch(
      (e: unknown) => e,
    );
    expect(sqlstateOf(move)).toBe('42501');
  });

  it('shows nothing without a scope, and nothing to a pooled connection after a scoped transaction', async () => {
    // Fresh session: current_setting(…, true) is NULL.
    const [fresh] = await app.db.execute<{ n: number; pid: number }>(sql`select count(*)::int as n, pg_backend_pid() as pid from orders`);
    expect(fresh?.n).toBe(0);

    const inScope = await withTenant(app.db, [A], async (tx) => {
      const [r] = await tx.execute<{ n: number; pid: number }>(sql`select count(*)::int as n, pg_backend_pid() as pid from orders`);
      return r;
    });
    expect(inScope?.n).toBe(1);

    // Same connection (pool of one), after the transaction: the setting reads '' and still means nobody.
    const [after] = await app.db.execute<{ n: number; pid: number; setting: string | null }>(
      sql`select count(*)::int as n, pg_backend_pid() as pid, current_setting('raxx.user_ids', true) as setting from orders`,
    );
    expect(after?.pid).toBe(inScope?.pid);
    expect(after?.setting).toBe('');
    expect(after?.n).toBe(0);

    const empty = await withTenant(app.db, [], (tx) => ownersOf(tx, 'users', 'id'));
    expect(empty).toEqual([]);
  });

  it('scopes to several users at once and quotes odd ids safely', async () => {
    const both = await withTenant(app.db, [A, B], (tx) => ownersOf(tx, 'users', 'id'));
    expect(both.sort()).toEqual([A, B].sort());
    const weird = await withTenant(app.db, [WEIRD], (tx) => ownersOf(tx, 'orders', 'user_id'));
    expect(weird).toEqual([WEIRD]);
    await expect(withTenant(app.db, [''], async () => 1)).rejects.toBeInstanceOf(TenantScopeError);
  });

  it('lets the batch role see every tenant', async () => {
    await withTenant(batch.db, [], async (tx) => {
      for (const [table, column] of TENANT_TABLES) {
        const owners = await ownersOf(tx, table, column);
        expect({ table, owners: owners.sort() }).toEqual({ table, owners: [A, B, WEIRD].sort() });
      }
    });
  });
});
