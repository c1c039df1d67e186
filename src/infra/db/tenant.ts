// Tenant-scoped transactions: the only way app-role code should touch tenant tables.
import { sql } from 'drizzle-orm';
import type { Db, Tx } from './client.js';
import { arrayLiteral } from './arrays.js';
import { toDbError } from './errors.js';

/** Raised before touching the database when the scope itself is malformed. */
export class TenantScopeError extends Error {
  readonly code = 'TENANT_SCOPE_INVALID' as const;
  override readonly name = 'TenantScopeError';
}

/**
 * Runs `fn` in a transaction whose row-level-security scope is exactly `userIds` (empty: nobody).
 * The scope is set with set_config(…, true), i.e. transaction-local: it ends with COMMIT/ROLLBACK, so a
 * pooled connection never carries one request's tenant into the next. Database errors come out as DbError.
 */
export async function withTenant<T>(db: Db, userIds: readonly string[], fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (userIds.some((id) => typeof id !== 'string' || id.length === 0)) {
    throw new TenantScopeError('tenant scope contains an empty or non-string user id');
  }
  const literal = arrayLiteral(userIds);
  try {
    return await db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('raxx.user_ids', ${literal}, true)`);
      return fn(tx);
    });
  } catch (err) {
    throw toDbError(err);
  }
}
