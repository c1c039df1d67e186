// Statements sent straight through postgres.js, under drizzle: for the few a command turn sends every time (its fence,
// id lookup and multi-row inserts). drizzle builds each query anew on every call (its SQL template walked, every
// chunk type-checked), which measured ~15 µs of CPU per statement on top of postgres.js's ~23 µs; a turn sends about
// ten. The text here is fixed, so postgres.js prepares it once per connection, like every other statement (client.ts).
// Everything else keeps drizzle: these are for hot paths whose SQL is written out anyway.
import type { Executor } from './client.js';

/** What a statement takes: a text, a number, a boolean, null, or an array literal built with `arrayLiteral`. */
export type StatementParam = string | number | boolean | null;

interface PendingRows {
  then<R>(onfulfilled: (rows: unknown[]) => R, onrejected?: (err: unknown) => R): Promise<R>;
}
interface RawClient {
  unsafe(text: string, params: StatementParam[]): PendingRows;
}

/** The postgres.js handle drizzle runs a database or transaction on (drizzle-orm/postgres-js keeps it as `_.session.client`). */
function clientOf(executor: Executor): RawClient {
  const client = (executor as unknown as { _?: { session?: { client?: RawClient } } })._?.session?.client;
  if (typeof client?.unsafe !== 'function') throw new TypeError('not a drizzle postgres-js database or transaction');
  return client;
}

/**
 * Sends `text` with its `$n` parameters now — in call order with every statement sent before it on the same
 * connection, drizzle's included, so a turn's pipelined statements keep their order — and resolves with the rows as
 * postgres.js parses them (like drizzle's `execute`: bigint and numeric as strings, json as values). Errors are
 * postgres.js's, as from drizzle (`toDbError` types them).
 *
 * A statement without parameters goes by the simple protocol (postgres.js's default), so PostgreSQL plans it on every
 * execution. The turn's account read relies on that: prepared (one generic plan per connection, made on its first
 * turn) it cost PostgreSQL 10–14 points more of a core at 1,000 commands/s than planned each time (73 µs) — most
 * likely a plan made for the small new table, a sequential scan that evaluates the tenant policy's array per row.
 */
export function sendStatement<Row = Record<string, unknown>>(executor: Executor, text: string, params: readonly StatementParam[]): Promise<Row[]> {
  const client = clientOf(executor);
  // postgres.js sends a query one microtask after its `.then` is called. drizzle reaches that `.then` by awaiting the
  // query (a thenable: one more microtask), so calling `.then` directly here would overtake drizzle statements issued
  // just before. Awaiting it the same way keeps call order (test/integration/db/statements.test.ts holds it to that).
  const send = async () => (await client.unsafe(text, params as StatementParam[])) as Row[];
  return send();
}

/**
 * `($1::uuid, $2::jsonb), ($3::uuid, $4::jsonb), …`: a VALUES list of `rows` rows whose columns have the given casts
 * (plain type names), numbered from `$first`. For updates joined to a VALUES list, whose plans use the key's index
 * (arrays.ts); postgres.js prepares one text per row count.
 */
export function valuesList(rows: number, casts: readonly string[], first = 1): string {
  const parts: string[] = [];
  let n = first;
  for (let r = 0; r < rows; r++) parts.push(`(${casts.map((c) => `$${n++}::${c}`).join(', ')})`);
  return parts.join(', ');
}

/**
 * `build` memoised per row count (the first `max` counts seen): a hot statement whose text lists its rows is built
 * once per size, not on every call.
 */
export function perRowCount(build: (rows: number) => string, max = 256): (rows: number) => string {
  const texts = new Map<number, string>();
  return (rows) => {
    let text = texts.get(rows);
    if (text === undefined) {
      text = build(rows);
      if (texts.size < max) texts.set(rows, text);
    }
    return text;
  };
}
