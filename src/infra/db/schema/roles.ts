// The three database roles and the row-level-security policies every tenant table carries.
import { sql } from 'drizzle-orm';
import { pgPolicy, pgRole, type AnyPgColumn } from 'drizzle-orm/pg-core';

/** Role names; bootstrap creates them and migrations GRANT to them by these names. */
export const DB_ROLES = {
  /** NOLOGIN; owns every table; migrations run as it. */
  owner: 'raxx_owner',
  /** LOGIN, not owner, no BYPASSRLS: gateway, accounts and feed; sees only the users in its transaction's scope. */
  app: 'raxx_app',
  /** LOGIN, no BYPASSRLS: workers only; a permissive policy lets it cross tenants. */
  batch: 'raxx_batch',
} as const;

// `.existing()`: drizzle-kit must not try to create or drop them; bootstrap (or a DBA) owns them.
export const ownerRole = pgRole(DB_ROLES.owner).existing();
export const appRole = pgRole(DB_ROLES.app).existing();
export const batchRole = pgRole(DB_ROLES.batch).existing();

/** The transaction-local setting withTenant() writes (a text[] literal). */
export const TENANT_SETTING = 'raxx.user_ids';

/**
 * The user ids in scope for the current transaction. current_setting(…, true) is NULL on a fresh
 * connection and '' on a pooled one after a transaction that set it: both must mean "nobody".
 */
export const scopeUserIds = sql.raw(`coalesce(nullif(current_setting('${TENANT_SETTING}', true), ''), '{}')::text[]`);

/** `column = ANY(scope)`; column is named bare so the policy text is independent of the table alias. */
export function inScope(column: AnyPgColumn) {
  return sql`${sql.identifier(column.name)} = ANY (${scopeUserIds})`;
}

/**
 * Policies for a table whose rows belong to the user in `column`: raxx_app only within the scope
 * (reads and writes), raxx_batch everywhere. The owner gets none, so FORCE RLS hides tenant rows from it.
 */
export function tenantPolicies(table: string, column: AnyPgColumn) {
  return [
    pgPolicy(`${table}_app_tenant`, { for: 'all', to: appRole, using: inScope(column), withCheck: inScope(column) }),
    pgPolicy(`${table}_batch_all`, { for: 'all', to: batchRole, using: sql`true`, withCheck: sql`true` }),
  ];
}
