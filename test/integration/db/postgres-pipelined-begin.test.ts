// sql.begin sends a transaction's first statements with BEGIN (patches/postgres+3.4.9.patch): they must still run
// inside the transaction, and the pool must never pipeline another query onto a connection that holds one.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAdminUrl } from '../../support/database.js';

describe('postgres.js transactions with BEGIN pipelined', () => {
  let sql: postgres.Sql;
  beforeAll(() => {
    sql = postgres(testAdminUrl(), { max: 2, onnotice: () => {} });
  });
  afterAll(() => sql.end({ timeout: 5 }));

  it('the first statements run inside the transaction: a failure later rolls them back', async () => {
    await sql`create table if not exists pipelined_begin_rows (id int primary key)`;
    await sql`truncate pipelined_begin_rows`;
    await expect(
      sql.begin(async (tx) => {
        const first = tx`insert into pipelined_begin_rows values (1)`;
        await first;
        await tx`insert into pipelined_begin_rows values (1)`; // duplicate key: aborts the transaction
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await sql`select count(*)::int as n from pipelined_begin_rows`).toEqual([{ n: 0 }]);
    await sql`drop table pipelined_begin_rows`;
  });

  it('the first statement sees the transaction (transaction-local settings, one snapshot)', async () => {
    const rows = await sql.begin(async (tx) => {
      const [, read] = await Promise.all([tx`select set_config('raxx.probe', 'inside', true)`, tx`select current_setting('raxx.probe', true) as v`]);
      return read;
    });
    expect(rows).toEqual([{ v: 'inside' }]);
    expect(await sql`select coalesce(current_setting('raxx.probe', true), '') as v`).toEqual([{ v: '' }]);
  });

  it('queries outside never run on a connection that holds an open transaction, however busy the pool is', async () => {
    const seen: string[] = [];
    const tx = sql.begin(async (t) => {
      await t`select set_config('raxx.probe', 'in-transaction', true)`;
      await t`select pg_sleep(0.3)`;
      return (await t`select current_setting('raxx.probe', true) as v`)[0]!.v as string;
    });
    // Far more queries than connections while the transaction is open: each must see no transaction-local setting.
    const outside = Array.from({ length: 40 }, () => sql`select coalesce(current_setting('raxx.probe', true), '') as v, pg_backend_pid() as pid`.then((r) => seen.push(String(r[0]!.v))));
    await Promise.all([tx, ...outside]);
    expect(await tx).toBe('in-transaction');
    expect(seen).toHaveLength(40);
    expect(seen.every((v) => v === '')).toBe(true);
  });

  it('a pool of one connection runs transactions one after another, each whole', async () => {
    const one = postgres(testAdminUrl(), { max: 1, onnotice: () => {} });
    try {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          one.begin(async (t) => {
            await t`select set_config('raxx.probe', ${String(i)}, true)`;
            return (await t`select current_setting('raxx.probe', true) as v`)[0]!.v as string;
          }),
        ),
      );
      expect(results).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    } finally {
      await one.end({ timeout: 5 });
    }
  });
});
