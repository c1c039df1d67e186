// sendStatement: a statement sent straight through postgres.js under drizzle — on the pool and inside a transaction,
// prepared once per connection, in call order with drizzle's statements, rows parsed like drizzle's `execute`.
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { arrayLiteral } from '../../../src/infra/db/arrays.js';
import { createDb, toDbError, type DbHandle } from '../../../src/infra/db/index.js';
import { sendStatement } from '../../../src/infra/db/statements.js';
import { testAdminUrl } from '../../support/database.js';

describe('sendStatement', () => {
  const handles: DbHandle[] = [];
  afterAll(() => Promise.all(handles.map((h) => h.close())));
  const open = (onStatement?: (text: string) => void) => {
    const h = createDb(testAdminUrl(), { max: 1, ...(onStatement ? { onStatement } : {}) });
    handles.push(h);
    return h;
  };

  it('returns the rows as drizzle execute parses them (bigint and numeric as text, json as values, arrays)', async () => {
    const h = open();
    const text = 'select $1::int as i, $2::bigint as b, $3::numeric as n, $4::jsonb as j, $5::text[] as t, $6::text as missing';
    const params = [7, '9007199254740993', '1.50', '{"a":[1,"x"]}', arrayLiteral(['a', 'b"c', null]), null];
    const raw = await sendStatement(h.db, text, params);
    const viaDrizzle = await h.db.execute(sql`select ${7}::int as i, ${'9007199254740993'}::bigint as b, ${'1.50'}::numeric as n, ${'{"a":[1,"x"]}'}::jsonb as j, ${arrayLiteral(['a', 'b"c', null])}::text[] as t, ${null}::text as missing`);
    expect(raw).toHaveLength(1);
    expect(raw[0]).toMatchObject({ i: 7, b: '9007199254740993', n: '1.50', j: { a: [1, 'x'] }, missing: null });
    expect((raw[0] as { t: unknown[] }).t.slice(0, 2)).toEqual(['a', 'b"c']);
    expect([...viaDrizzle]).toEqual(raw);
  });

  it('runs inside the transaction it is given and is sent in call order with drizzle statements', async () => {
    const sent: string[] = [];
    const h = open((t) => sent.push(t));
    const seen = await h.db.transaction(async (tx) => {
      await tx.execute(sql`create temporary table steps (n serial, what text) on commit drop`);
      // Issued together without awaiting in between: PostgreSQL must run them in this order.
      const a = tx.execute(sql`insert into steps (what) values (${'drizzle 1'})`).then((r) => r);
      const b = sendStatement(tx, 'insert into steps (what) values ($1)', ['raw 2']);
      const c = tx.execute(sql`insert into steps (what) values (${'drizzle 3'})`).then((r) => r);
      const d = sendStatement<{ what: string }>(tx, 'select what from steps order by n', []);
      await Promise.all([a, b, c]);
      return (await d).map((r) => r.what);
    });
    expect(seen).toEqual(['drizzle 1', 'raw 2', 'drizzle 3']);
    // Rolled back with its transaction: the temporary table is gone.
    await expect(sendStatement(h.db, 'select count(*) from steps', [])).rejects.toThrow(/steps/);
    expect(sent.filter((t) => t.startsWith('insert into steps'))).toHaveLength(3);
  });

  it('is prepared once per connection, whatever the parameters; without any it is planned each time (simple protocol)', async () => {
    const h = open();
    for (let i = 0; i < 3; i++) {
      await sendStatement(h.db, 'select $1::int + 1 as v /* sendStatement-prepared */', [i]);
      await sendStatement(h.db, 'select 2 as v /* sendStatement-no-params */', []);
    }
    const rows = await sendStatement<{ statement: string }>(
      h.db,
      "select statement from pg_prepared_statements where statement like '%sendStatement-%' and statement not like '%pg_prepared_statements%'",
      [],
    );
    expect(rows.map((r) => r.statement.replace(/.*(sendStatement-[a-z-]+).*/s, '$1'))).toEqual(['sendStatement-prepared']);
  });

  it("reports PostgreSQL's error with its SQLSTATE", async () => {
    const h = open();
    const err = await sendStatement(h.db, 'select 1 / $1::int as x', [0]).catch((e: unknown) => e);
    expect(toDbError(err)).toMatchObject({ sqlstate: '22012' });
  });

  it('refuses a handle that is not a drizzle postgres-js database', () => {
    expect(() => sendStatement({} as never, 'select 1', [])).toThrow(TypeError);
  });
});
