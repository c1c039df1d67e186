// Connection pool factory: one postgres.js pool and the drizzle database on top of it.
import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema/index.js';

export type Schema = typeof schema;
/**
 * drizzle without the schema: nothing uses its relational queries (`db.query.<table>`), and with a schema every
 * transaction builds one query builder per table (~24) and turns its `query` object into a dictionary — per account
 * turn, per tier read. Tables are imported from `./schema` where they are used.
 */
export type Db = PostgresJsDatabase;
/** The transaction handle drizzle passes to `db.transaction(fn)`. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Anything that can run a statement: the pool or a transaction on it. */
export type Executor = Db | Tx;

export interface CreateDbOptions {
  /** Pool size (default 10). */
  max?: number;
  /**
   * Role every connection runs as, set as the `role` startup parameter (like `-c role=…`): the
   * connection's default, so it also survives RESET ROLE / DISCARD ALL. The login user must be a member.
   */
  role?: string;
  /** application_name shown in pg_stat_activity (default "raxx"). */
  appName?: string;
  /**
   * `plan_cache_mode = force_generic_plan` on every connection: prepared statements are planned once per connection,
   * never again per execution. For pools that only run short key lookups (the account actors' turns): PostgreSQL
   * otherwise keeps planning a statement whose custom plans look cheaper than its generic one — the turn's fence
   * (`partition = any($1)`) was planned on every execution, 88 µs each, more than it took to run.
   */
  genericPlans?: boolean;
  /**
   * Called with each statement's text as it is sent (postgres.js `debug`). For diagnostics and tests that count what
   * a transaction sends; never gets the parameters, so nothing secret passes through it.
   */
  onStatement?: (text: string) => void;
}

export interface DbHandle {
  /** The raw postgres.js pool, for what drizzle does not do (cursors, LISTEN). */
  sql: postgres.Sql;
  db: Db;
  /** Ends the pool; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * The pool as drizzle should see it: every statement a named prepared statement (postgres.js caches them per
 * connection). drizzle sends unnamed statements (`unsafe(…, { prepare: false })`) unless a query is given a name,
 * and postgres.js sends an unnamed statement with parameters in two round trips (Parse + Describe, wait for the
 * parameter types, then Bind + Execute) and stops pipelining behind it: every statement of a turn would cost two
 * round trips, and PostgreSQL would parse and plan it every time. Prepared, a statement after its first use per
 * connection is one Bind + Execute, pipelined with its neighbours. Transactions and savepoints hand drizzle a new
 * postgres.js handle, so those are wrapped too.
 */
function preparedByDefault(sql: postgres.Sql): postgres.Sql {
  type Fn = (...a: unknown[]) => unknown;
  const wrap = <T extends object>(handle: T): T => {
    const h = handle as unknown as Record<string, Fn>;
    // Made once per handle (the pool, or one transaction), not on every statement.
    const unsafe = (query: string, args?: unknown[], options?: Record<string, unknown>) => h.unsafe!.call(handle, query, args, { ...options, prepare: true });
    const scoped = (name: 'begin' | 'savepoint') => (...a: unknown[]) => {
      const fn = a.pop() as (inner: object) => unknown;
      return h[name]!.call(handle, ...a, (inner: object) => fn(wrap(inner)));
    };
    const own: Record<string, unknown> = { unsafe, begin: scoped('begin'), savepoint: scoped('savepoint') };
    return new Proxy(handle, {
      get: (target, prop, receiver) => (typeof prop === 'string' && prop in own && typeof h[prop] === 'function' ? own[prop] : Reflect.get(target, prop, receiver)),
    });
  };
  return wrap(sql);
}

export function createDb(url: string, opts: CreateDbOptions = {}): DbHandle {
  // Times print in UTC whatever the server's default: an account actor formats the times it reports without asking
  // PostgreSQL (known-accounts.ts, pgTimestamp) exactly as a statement of the same turn would.
  const connection: Record<string, string> = { application_name: opts.appName ?? 'raxx', TimeZone: 'UTC' };
  if (opts.role !== undefined) connection.role = opts.role;
  if (opts.genericPlans) connection.plan_cache_mode = 'force_generic_plan';
  const sql = postgres(url, {
    max: opts.max ?? 10,
    connection,
    // postgres.js prints NOTICEs to the console by default; "already exists, skipping" is not news.
    onnotice: () => {},
    ...(opts.onStatement ? { debug: (_connection: number, text: string) => opts.onStatement!(text) } : {}),
  });
  const db = drizzle({ client: preparedByDefault(sql) });
  let closing: Promise<void> | undefined;
  return {
    sql,
    db,
    close: () => (closing ??= sql.end({ timeout: 5 })),
  };
}
