// Multi-row INSERTs whose text does not depend on the number of rows: each column goes over as ONE array parameter
// (`insert … select * from unnest($1::uuid[], $2::jsonb[], …)`). Every statement is a named prepared statement per
// connection (client.ts), so a `values (…), (…)` list is a new statement — parsed, planned, and one extra round trip
// for its parameter types — for every row count a turn happens to have, with one parameter built per cell; one text
// per statement kind is prepared once.
//
// Inserts only. A lookup or a join against an array parameter (`= any($1)`, `from unnest(…) join t`) gets a generic
// plan that assumes 10 elements, and while a table is small that plan is a sequential scan or a hash join over all of
// it — which the connection then keeps (force_generic_plan) as the table grows. Lookups and updates keep their
// equality shapes (`in ($1, …)`, `values` joined on the key), whose plans use the index.
import { sql, type SQL } from 'drizzle-orm';

/** A cell of an array parameter: text, a number, a boolean, or null (SQL NULL). */
export type ArrayCell = string | number | bigint | boolean | null;

/** PostgreSQL array literal: every element quoted with `"` and `\` escaped, null → NULL: `{"a",NULL,"b\"c"}`. */
export function arrayLiteral(cells: readonly ArrayCell[]): string {
  let out = '{';
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (i > 0) out += ',';
    out += c === null ? 'NULL' : `"${escapeElement(String(c))}"`;
  }
  return `${out}}`;
}

// Most cells need no escaping; JSON cells have a quote per key. A replacement string, not a callback: the callback
// ran (and allocated) once per quote, a sizeable share of an account turn's garbage.
const escapeElement = (s: string): string => (s.includes('"') || s.includes('\\') ? s.replace(/[\\"]/g, '\\$&') : s);

const ELEMENT_TYPE = /^[a-z_][a-z0-9_ ]*$/;

/**
 * `cells` as one parameter of type `elementType[]` (e.g. `uuid`, `jsonb`, `numeric`, `timestamptz`), ready for an
 * insert's `unnest(…)` (not for lookups: see above). The element type is SQL text, so it must be a plain type name.
 */
export function arrayParam(cells: readonly ArrayCell[], elementType: string): SQL {
  if (!ELEMENT_TYPE.test(elementType)) throw new Error(`not a plain type name: ${elementType}`);
  return sql`${arrayLiteral(cells)}::${sql.raw(elementType)}[]`;
}

/** JSON values as jsonb[] cells (`undefined` → SQL NULL; a JSON `null` stays the jsonb value `null`). */
export const jsonCells = (values: readonly unknown[]): Array<string | null> => values.map((v) => (v === undefined ? null : JSON.stringify(v)));
