// Superuser-side setup: the three roles and an application database owned by raxx_owner (idempotent).
import postgres from 'postgres';
import { DB_ROLES } from './schema/roles.js';
import { toDbError } from './errors.js';

export class BootstrapError extends Error {
  override readonly name = 'BootstrapError';
  constructor(
    readonly code: 'DB_NAME_INVALID' | 'ROLE_UNSAFE' | 'ADMIN_URL_INVALID',
    message: string,
  ) {
    super(message);
  }
}

export interface BootstrapOptions {
  /** A superuser (or, on managed PostgreSQL, a CREATEROLE + CREATEDB admin) on any database of the server. */
  adminUrl: string;
  /** The application database to create if missing. */
  database: string;
}

export interface DatabaseUrls {
  /** Admin credentials on the application database; connect with role raxx_owner (migrations, audit verify). */
  ownerUrl: string;
  /** raxx_app on the application database (gateway, accounts, feed). */
  appUrl: string;
  /** raxx_batch on the application database (workers). */
  batchUrl: string;
}

/** Advisory-lock class for admin operations (distinct from the audit chain's class 1380014168). */
export const ADMIN_LOCK_CLASS = 1380014169;
const BOOTSTRAP_LOCK = 1;

// SQLSTATEs of a concurrent caller winning a race: duplicate_object, unique_violation (catalog index),
// duplicate_database. Another process finished the same step; that is success for us.
const RACE_LOST = new Set(['42710', '23505', '42P04']);
const OBJECT_IN_USE = '55006';

const DB_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

// NOSUPERUSER, NOBYPASSRLS, NOCREATEDB, NOCREATEROLE and NOREPLICATION are CREATE ROLE's defaults; they are
// checked afterwards rather than stated, because a non-superuser admin may not even say NOSUPERUSER.
const ROLE_LOGIN: Record<string, boolean> = {
  [DB_ROLES.owner]: false,
  [DB_ROLES.app]: true,
  [DB_ROLES.batch]: true,
};

function assertDatabaseName(name: string): void {
  if (!DB_NAME.test(name)) throw new BootstrapError('DB_NAME_INVALID', 'database name must match [A-Za-z_][A-Za-z0-9_]{0,62}');
}

function isRaceLost(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RACE_LOST.has(code);
}

/** Same server and options, another user (no password: dev/CI use trust on loopback) and database. */
export function deriveUrl(adminUrl: string, database: string, user?: string): string {
  let url: URL;
  try {
    url = new URL(adminUrl);
  } catch {
    throw new BootstrapError('ADMIN_URL_INVALID', 'admin URL is not a valid postgres:// URL');
  }
  if (user !== undefined) {
    url.username = user;
    url.password = '';
  }
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export function databaseUrls(adminUrl: string, database: string): DatabaseUrls {
  return {
    ownerUrl: deriveUrl(adminUrl, database),
    appUrl: deriveUrl(adminUrl, database, DB_ROLES.app),
    batchUrl: deriveUrl(adminUrl, database, DB_ROLES.batch),
  };
}

async function ensureRole(sql: postgres.Sql, name: string, login: boolean): Promise<void> {
  const [existing] = await sql<{ rolcanlogin: boolean; rolsuper: boolean; rolbypassrls: boolean }[]>`
    select rolcanlogin, rolsuper, rolbypassrls from pg_roles where rolname = ${name}`;
  if (!existing) {
    try {
      await (login ? sql`create role ${sql(name)} login` : sql`create role ${sql(name)} nologin`);
    } catch (err) {
      if (!isRaceLost(err)) throw err;
    }
    return;
  }
  // An existing role that bypasses RLS would silently void every policy: refuse rather than "fix" it.
  if (existing.rolsuper || existing.rolbypassrls) {
    throw new BootstrapError('ROLE_UNSAFE', `role ${name} exists with SUPERUSER or BYPASSRLS; fix it by hand`);
  }
  if (existing.rolcanlogin !== login) {
    await (login ? sql`alter role ${sql(name)} login` : sql`alter role ${sql(name)} nologin`);
  }
}

/** On managed PostgreSQL the admin is no superuser: it must be a member of raxx_owner to create its database and run migrations as it. */
async function ensureAdminCanBecomeOwner(sql: postgres.Sql): Promise<void> {
  const [me] = await sql<{ super: boolean; member: boolean }[]>`
    select r.rolsuper as super, pg_has_role(current_user, ${DB_ROLES.owner}, 'MEMBER') as member
      from pg_roles r where r.rolname = current_user`;
  if (me && !me.super && !me.member) await sql`grant ${sql(DB_ROLES.owner)} to current_user`;
}

async function ensureDatabase(sql: postgres.Sql, database: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const [existing] = await sql`select 1 from pg_database where datname = ${database}`;
    if (existing) return;
    try {
      await sql`create database ${sql(database)} owner ${sql(DB_ROLES.owner)}`;
      return;
    } catch (err) {
      if (isRaceLost(err)) return;
      // "source database template1 is being accessed by other users": transient while another CREATE DATABASE runs.
      const code = (err as { code?: unknown } | null)?.code;
      if (code !== OBJECT_IN_USE || attempt >= 20) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
    }
  }
}

/**
 * Creates roles raxx_owner / raxx_app / raxx_batch and `database` (owned by raxx_owner) if missing, then
 * limits CONNECT on it to the runtime roles. Safe to run repeatedly and concurrently: callers on the same
 * admin database are serialised by an advisory lock, and duplicate-object races are treated as success.
 */
export async function bootstrapDatabase(opts: BootstrapOptions): Promise<DatabaseUrls> {
  assertDatabaseName(opts.database);
  const urls = databaseUrls(opts.adminUrl, opts.database);
  const sql = postgres(opts.adminUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'raxx-bootstrap' } });
  try {
    await sql`select pg_advisory_lock(${ADMIN_LOCK_CLASS}::int, ${BOOTSTRAP_LOCK}::int)`;
    for (const [role, login] of Object.entries(ROLE_LOGIN)) await ensureRole(sql, role, login);
    await ensureAdminCanBecomeOwner(sql);
    await ensureDatabase(sql, opts.database);
    // PUBLIC gets CONNECT and TEMP on new databases by default; only the runtime roles need to connect.
    await sql`revoke all on database ${sql(opts.database)} from public`;
    await sql`grant connect on database ${sql(opts.database)} to ${sql(DB_ROLES.app)}, ${sql(DB_ROLES.batch)}`;
    return urls;
  } catch (err) {
    throw toDbError(err);
  } finally {
    // Ending the session releases the advisory lock.
    await sql.end({ timeout: 5 });
  }
}

/** Drops `database`, terminating its connections (tests, dev resets). */
export async function dropDatabase(opts: BootstrapOptions): Promise<void> {
  assertDatabaseName(opts.database);
  const sql = postgres(opts.adminUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'raxx-bootstrap' } });
  try {
    await sql`drop database if exists ${sql(opts.database)} with (force)`;
  } catch (err) {
    throw toDbError(err);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
