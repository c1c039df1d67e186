// Typed database errors that carry the SQLSTATE but never the query text or its parameters.
import { DrizzleQueryError } from 'drizzle-orm';

/**
 * A failed database operation. drizzle 0.45 puts every bound parameter into `err.message`, and server
 * messages can quote input values ("invalid input syntax for type uuid: …"), so neither is kept here,
 * not even as `cause` (loggers serialise causes). What remains is safe to log and to branch on.
 */
export class DbError extends Error {
  readonly code = 'DB_ERROR' as const;
  override readonly name = 'DbError';

  constructor(
    /** SQLSTATE from the server (e.g. 42501, 23505); undefined for a driver or connection failure. */
    readonly sqlstate: string | undefined,
    readonly details: { constraint?: string; table?: string; driverCode?: string } = {},
  ) {
    super(
      sqlstate
        ? `database error SQLSTATE ${sqlstate}${details.constraint ? ` (constraint ${details.constraint})` : ''}`
        : `database driver error${details.driverCode ? ` ${details.driverCode}` : ''}`,
    );
  }
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

function field(err: object, key: string): string | undefined {
  const value = (err as Record<string, unknown>)[key];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Maps a driver/drizzle error to DbError; anything else (the caller's own errors) is returned unchanged. */
export function toDbError(err: unknown): unknown {
  if (err instanceof DbError) return err;
  const inner = err instanceof DrizzleQueryError ? err.cause : err;
  if (typeof inner !== 'object' || inner === null) return err;
  const code = field(inner, 'code');
  if ((inner as { name?: unknown }).name === 'PostgresError' && code && SQLSTATE.test(code)) {
    const details: { constraint?: string; table?: string } = {};
    const constraint = field(inner, 'constraint_name');
    const table = field(inner, 'table_name');
    if (constraint) details.constraint = constraint;
    if (table) details.table = table;
    return new DbError(code, details);
  }
  if (err instanceof DrizzleQueryError) {
    const driverCode = code;
    return new DbError(undefined, driverCode ? { driverCode } : {});
  }
  return err;
}
