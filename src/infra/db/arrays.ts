// Multi-row statements whose text does not depend on the number of rows: each column goes over as ONE array
// parameter (`unnest($1::uuid[], $2::jsonb[], …)`, `= any($1::text[])`). Every statement is a named prepared statement
// per connection (client.ts), so a `values (…), (…)` list would be a new statement — parsed, planned, and one extra
// round trip for its parameter types — for every row count a turn happens to have; one text per statement kind is
// prepared once. It also spares building one parameter per cell.
import { sql, type SQL } from 'drizzle-orm';

/** A cell of an array parameter: text, a number, a boolean, or null (SQL NULL). */
export type ArrayCell = string | number | bigint | boolean | null;

/** PostgreSQL array literal: every element quoted with `"` and `\` escaped, null → NULL: `{"a",NULL,"b\"c"}`. */
export function arrayLiteral(cells: readonly ArrayCell[]): string {
  let out = '{';
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (i > 0) out += ',';
    out += c === null ? 'NULL' : `"${String(c).replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
  }
  return `${out}}`;
}

const ELEMENT_TYPE = /^[a-z_][a-z0-9_ ]*$/;

/**
 * `cells` as one parameter of type `elementType[]` (e.g. `uuid`, `jsonb`, `numeric`, `timestamptz`), ready for
 * `unnest(…)` or `= any(…)`. The element type is SQL text, so it must be a plain type name.
 */
export function arrayParam(cells: readonly ArrayCell[], elementType: string): SQL {
  if (!ELEMENT_TYPE.test(elementType)) throw new Error(`not a plain type name: ${elementType}`);
  return sql`${arrayLiteral(cells)}::${sql.raw(elementType)}[]`;
}

/** JSON values as jsonb[] cells (`undefined` → SQL NULL; a JSON `null` stays the jsonb value `null`). */
export const jsonCells = (values: readonly unknown[]): Array<string | null> => values.map((v) => (v === undefined ? null : JSON.stringify(v)));
