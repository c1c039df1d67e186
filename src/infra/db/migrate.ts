// Applies the drizzle migrations in ./drizzle, optionally as a given role (raxx_owner), once per database.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { ADMIN_LOCK_CLASS } from './bootstrap.js';
import { createDb } from './client.js';
import { toDbError } from './errors.js';
import { DB_ROLES } from './schema/roles.js';

export class MigrationError extends Error {
  readonly code = 'MIGRATION_ROLE_INVALID' as const;
  override readonly name = 'MigrationError';
}

export interface RunMigrationsOptions {
  url: string;
  /** Role every statement runs as (raxx_owner); the login user must be a member of it. */
  role?: string;
  /** Defaults to the repository's ./drizzle, found by walking up from this file (works from src/ and dist/). */
  migrationsFolder?: string;
}

const MIGRATIONS_LOCK = 2;

/** Nearest ancestor folder holding drizzle/meta/_journal.json. */
export function defaultMigrationsFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'drizzle');
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('drizzle migrations folder not found above ' + dirname(fileURLToPath(import.meta.url)));
}

/**
 * Runs pending migrations in one transaction. Idempotent (drizzle records applied ones in
 * drizzle.__drizzle_migrations) and safe when several processes start at once: a session advisory lock on a
 * single connection serialises them, and the later ones find nothing left to do.
 */
export async function runMigrations(opts: RunMigrationsOptions): Promise<void> {
  const migrationsFolder = opts.migrationsFolder ?? defaultMigrationsFolder();
  // One connection: the role startup parameter and the session advisory lock must cover every statement.
  const handle = createDb(opts.url, {
    max: 1,
    appName: 'raxx-migrate',
    ...(opts.role !== undefined ? { role: opts.role } : {}),
  });
  try {
    // Checked before drizzle creates its bookkeeping schema: run as the wrong role even once, and that schema
    // would belong to it and lock raxx_owner out. The custom migration repeats the check for raw SQL users.
    const [who] = await handle.sql<{ user: string }[]>`select current_user as "user"`;
    if (who?.user !== DB_ROLES.owner) {
      throw new MigrationError(`migrations must run as ${DB_ROLES.owner}: pass role (config.database.migrationRole)`);
    }
    await handle.sql`select pg_advisory_lock(${ADMIN_LOCK_CLASS}::int, ${MIGRATIONS_LOCK}::int)`;
    await migrate(handle.db, { migrationsFolder });
  } catch (err) {
    throw toDbError(err);
  } finally {
    await handle.close(); // also releases the advisory lock
  }
}
