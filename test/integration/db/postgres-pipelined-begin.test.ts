// sql.begin sends a transaction's first statements with BEGIN, and may send COMMIT with its last ones
// (patches/postgres+3.4.9.patch): they must still run inside the transaction, a failed one must fail the transaction,
// and the pool must never pipeline another query onto a connection that holds one.
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

  it('statements left in flight go out before COMMIT and commit with it', async () => {
    await sql`create table if not exists pipelined_commit_rows (id int primary key)`;
    await sql`truncate pipelined_commit_rows`;
    let write: Promise<unknown> | undefined;
    const out = await sql.begin(async (tx) => {
      write = tx`insert into pipelined_commit_rows values (1), (2)`.then(() => 'written');
      return 'returned before the write answered';
    });
    expect(out).toBe('returned before the write answered');
    await expect(write).resolves.toBe('written');
    expect(await sql`select count(*)::int as n from pipelined_commit_rows`).toEqual([{ n: 2 }]);
    await sql`drop table pipelined_commit_rows`;
  });

  it('a statement left in flight that fails makes the transaction reject with its error, not resolve (COMMIT answered ROLLBACK)', async () => {
    await sql`create table if not exists pipelined_commit_fail (id int primary key)`;
    await sql`truncate pipelined_commit_fail`;
    const settled: string[] = [];
    const tx = sql.begin(async (t) => {
      await t`insert into pipelined_commit_fail values (1)`;
      void t`insert into pipelined_commit_fail values (2)`.then(() => settled.push('second ok'), () => settled.push('second failed'));
      void t`insert into pipelined_commit_fail values (1)`.then(() => settled.push('duplicate ok'), (e: { code?: string }) => settled.push(`duplicate ${e.code}`));
      void t`insert into pipelined_commit_fail values (3)`.then(() => settled.push('after ok'), (e: { code?: string }) => settled.push(`after ${e.code}`));
      return 'returned with three writes in flight';
    });
    // The first failure in send order, not the "transaction is aborted" (25P02) of the statement after it.
    await expect(tx).rejects.toMatchObject({ code: '23505' });
    expect(settled).toEqual(['second ok', 'duplicate 23505', 'after 25P02']);
    expect(await sql`select count(*)::int as n from pipelined_commit_fail`).toEqual([{ n: 0 }]);
    await sql`drop table pipelined_commit_fail`;
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
