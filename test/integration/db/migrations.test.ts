// Migrations: apply to an empty database, re-run as a no-op, and leave the catalog in the secure shape.
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapDatabase, dropDatabase, MigrationError, runMigrations, DB_ROLES } from '../../../src/infra/db/index.js';
import { createTestDatabase, testAdminUrl, type TestDatabase } from '../../support/database.js';

const journal = JSON.parse(readFileSync(new URL('../../../drizzle/meta/_journal.json', import.meta.url), 'utf8')) as {
  entries: unknown[];
};

/** Every table that holds per-user rows: those with a user_id column, plus users (id) and audit_log (chain). */
const EXPECTED_TENANT_TABLES = [
  'alpaca_live_connections',
  'audit_log',
  'customer_trading_mode_overrides',
  'fills',
  'live_gate_overrides',
  'live_orders',
  'mbt_checkpoints',
  'mbt_inputs',
  'mbt_states',
  'oauth_states',
  'orders',
  'paper_accounts',
  'positions',
  'processed_commands',
  'settled_cycles',
  'users',
  'webauthn_challenges',
  'webauthn_credentials',
];

describe('migrations', () => {
  let t: TestDatabase;
  let admin: postgres.Sql;

  beforeAll(async () => {
    t = await createTestDatabase('raxx_mig');
    admin = postgres(t.ownerUrl, { max: 2, onnotice: () => {} }); // superuser, no role: sees the whole catalog
  });
  afterAll(async () => {
    await admin?.end();
    await t?.drop();
  });

  async function fingerprint(): Promise<string> {
    const rows = await admin`
      select (select count(*) from drizzle.__drizzle_migrations)::int as migrations,
             (select count(*) from pg_class where relnamespace = 'public'::regnamespace)::int as relations,
             (select count(*) from pg_policies where schemaname = 'public')::int as policies,
             (select count(*) from pg_trigger t join pg_class c on c.oid = t.tgrelid
               where c.relnamespace = 'public'::regnamespace and not t.tgisinternal)::int as triggers`;
    return JSON.stringify(rows[0]);
  }

  it('applies every migration to the empty database', async () => {
    const [row] = await admin`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(row?.n).toBe(journal.entries.length);
  });

  it('is a no-op when run again', async () => {
    const before = await fingerprint();
    await runMigrations({ url: t.ownerUrl, role: DB_ROLES.owner });
    await runMigrations({ url: t.ownerUrl, role: DB_ROLES.owner });
    expect(await fingerprint()).toBe(before);
  });

  it('forces row-level security on every tenant table', async () => {
    const tenant = await admin<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }[]>`
      select c.relname, c.relrowsecurity, c.relforcerowsecurity
        from pg_class c
       where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
         and (c.relname in ('users', 'audit_log')
              or exists (select 1 from pg_attribute a
                          where a.attrelid = c.oid and a.attname = 'user_id' and not a.attisdropped))
       order by c.relname`;
    // Derived from the catalog, so a new table with a user_id column and no FORCE fails here.
    expect(tenant.map((r) => r.relname)).toEqual(EXPECTED_TENANT_TABLES);
    for (const r of tenant) expect({ table: r.relname, rls: r.relrowsecurity && r.relforcerowsecurity }).toEqual({ table: r.relname, rls: true });
  });

  it('gives the runtime roles no way around RLS and no ownership', async () => {
    const roles = await admin<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }[]>`
      select rolname, rolsuper, rolbypassrls, rolcanlogin from pg_roles
       where rolname in (${DB_ROLES.owner}, ${DB_ROLES.app}, ${DB_ROLES.batch}) order by rolname`;
    expect(roles).toEqual([
      { rolname: 'raxx_app', rolsuper: false, rolbypassrls: false, rolcanlogin: true },
      { rolname: 'raxx_batch', rolsuper: false, rolbypassrls: false, rolcanlogin: true },
      { rolname: 'raxx_owner', rolsuper: false, rolbypassrls: false, rolcanlogin: false },
    ]);
    const owned = await admin`select count(*)::int as n from pg_class where relowner = ${DB_ROLES.app}::regrole`;
    expect(owned[0]?.n).toBe(0);
    const owners = await admin`
      select distinct pg_get_userbyid(relowner) as owner from pg_class
       where relnamespace = 'public'::regnamespace and relkind in ('r', 'S', 'i')`;
    expect(owners.map((r) => r.owner)).toEqual([DB_ROLES.owner]);
    const [canCreate] = await admin`select has_schema_privilege(${DB_ROLES.app}, 'public', 'CREATE') as c`;
    expect(canCreate?.c).toBe(false);
  });

  it('refuses to run as anyone but raxx_owner, and serialises concurrent runs', async () => {
    const adminUrl = testAdminUrl();
    const name = `raxx_mig2_${process.pid}_${Date.now() % 100000}`;
    const urls = await bootstrapDatabase({ adminUrl, database: name });
    try {
      const err = await runMigrations({ url: urls.ownerUrl }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as MigrationError).code).toBe('MIGRATION_ROLE_INVALID');
      // The refused run left nothing behind; three concurrent runs then apply everything exactly once.
      await Promise.all([1, 2, 3].map(() => runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner })));
      const sql = postgres(urls.ownerUrl, { max: 1 });
      try {
        const [row] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
        expect(row?.n).toBe(journal.entries.length);
      } finally {
        await sql.end();
      }
    } finally {
      await dropDatabase({ adminUrl, database: name });
    }
  });

  it('bootstrap is idempotent under concurrent callers', async () => {
    const adminUrl = testAdminUrl();
    const name = `raxx_boot_${process.pid}_${Date.now() % 100000}`;
    try {
      const results = await Promise.all([1, 2, 3, 4].map(() => bootstrapDatabase({ adminUrl, database: name })));
      expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
      const [db] = await admin`select pg_get_userbyid(datdba) as owner from pg_database where datname = ${name}`;
      expect(db?.owner).toBe(DB_ROLES.owner);
    } finally {
      await dropDatabase({ adminUrl, database: name });
    }
  });
});
