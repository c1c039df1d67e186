// Connection pool factory: one postgres.js pool and the drizzle database on top of it.
import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema/index.js';

export type Schema = typeof schema;
export type Db = PostgresJsDatabase<Schema>;
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
}

export interface DbHandle {
  /** The raw postgres.js pool, for what drizzle does not do (cursors, LISTEN). */
  sql: postgres.Sql;
  db: Db;
  /** Ends the pool; safe to call more than once. */
  close(): Promise<void>;
}

export function createDb(url: string, opts: CreateDbOptions = {}): DbHandle {
  const connection: Record<string, string> = { application_name: opts.appName ?? 'raxx' };
  if (opts.role !== undefined) connection.role = opts.role;
  const sql = postgres(url, {
    max: opts.max ?? 10,
    connection,
    // postgres.js prints NOTICEs to the console by default; "already exists, skipping" is not news.
    onnotice: () => {},
  });
  const db = drizzle({ client: sql, schema });
  let closing: Promise<void> | undefined;
  return {
    sql,
    db,
    close: () => (closing ??= sql.end({ timeout: 5 })),
  };
}
