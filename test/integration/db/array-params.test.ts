// arrayParam: a multi-row statement sends one array parameter per column, so its text is the same for any row count
// (one prepared statement), and every value comes back exactly as sent, whatever characters it holds.
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { arrayLiteral, arrayParam, jsonCells } from '../../../src/infra/db/arrays.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { testAdminUrl } from '../../support/database.js';

const AWKWARD = ['plain', '', 'NULL', 'null', 'with "quotes"', 'back\\slash', '{braces}', 'a,b', ' spaced ', 'ünïcödé ✓', 'line\nbreak', '\\"'];

describe('array literals', () => {
  it('quote every element, escape quotes and backslashes, and write null as NULL', () => {
    expect(arrayLiteral([])).toBe('{}');
    expect(arrayLiteral(['a', null, 'b"c', 'd\\e', 1, true])).toBe('{"a",NULL,"b\\"c","d\\\\e","1","true"}');
  });

  it('refuse an element type that is not a plain type name', () => {
    expect(() => arrayParam(['x'], 'text); drop table users; --')).toThrow(/plain type name/);
  });

  it('jsonCells keeps a JSON null as JSON and makes undefined SQL NULL', () => {
    expect(jsonCells([null, undefined, { a: 1 }])).toEqual(['null', null, '{"a":1}']);
  });
});

describe('array parameters on PostgreSQL', () => {
  const handles: DbHandle[] = [];
  afterAll(() => Promise.all(handles.map((h) => h.close())));

  it('round-trip awkward text, NULLs and JSON through unnest unchanged', async () => {
    const h = createDb(testAdminUrl(), { max: 1 });
    handles.push(h);
    const texts = [...AWKWARD, null];
    const docs = [{ s: 'with "quotes" and \\ and {}' }, [1, 'two', null], 'just a string', null, { nested: { deep: ['x,y'] } }];
    const rows = await h.db.execute<{ t: string | null; i: number }>(sql`select t, i::int as i from unnest(${arrayParam(texts, 'text')}) with ordinality as u(t, i) order by i`);
    expect(rows.map((r) => r.t)).toEqual(texts);
    const json = await h.db.execute<{ j: unknown }>(sql`select j from unnest(${arrayParam(jsonCells(docs), 'jsonb')}) with ordinality as u(j, i) order by i`);
    expect(json.map((r) => r.j)).toEqual(docs);
  });

  it('keep one statement text for any number of rows (one prepared statement per connection)', async () => {
    const h = createDb(testAdminUrl(), { max: 1 });
    handles.push(h);
    const count = async (n: number) => {
      const ids = Array.from({ length: n }, (_, i) => `id-${i}`);
      const rows = await h.db.execute<{ n: number }>(sql`select count(*)::int as n from unnest(${arrayParam(ids, 'text')}) as u(id) where id = any(${arrayParam(ids, 'text')})`);
      return rows[0]!.n;
    };
    expect(await Promise.all([1, 2, 7, 50].map(count))).toEqual([1, 2, 7, 50]);
    const prepared = await h.db.execute<{ n: number }>(sql`select count(*)::int as n from pg_prepared_statements where statement like '%from unnest(%as u(id)%'`);
    expect(prepared[0]!.n).toBe(1);
  });
});
