// Test helper: a fresh, migrated database per test file on the throw-away test server.
import { randomBytes } from 'node:crypto';
import { bootstrapDatabase, dropDatabase, runMigrations, DB_ROLES, type DatabaseUrls } from '../../src/infra/db/index.js';

export interface TestDatabase extends DatabaseUrls {
  name: string;
  /** Superuser on the server's maintenance database. */
  adminUrl: string;
  /** Drops the database (terminating leftover connections). */
  drop(): Promise<void>;
}

/** Admin URL set by the vitest global setup (or by hand: RAXX_TEST_PG_ADMIN_URL=postgres://postgres@127.0.0.1:PORT/postgres). */
export function testAdminUrl(): string {
  const url = process.env.RAXX_TEST_PG_ADMIN_URL;
  if (!url) throw new Error('RAXX_TEST_PG_ADMIN_URL is not set: run through vitest (global setup starts PostgreSQL)');
  return url;
}

/** Creates a uniquely named database, bootstraps the roles and runs every migration as raxx_owner. */
export async function createTestDatabase(prefix = 'raxx_test'): Promise<TestDatabase> {
  const adminUrl = testAdminUrl();
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const urls = await bootstrapDatabase({ adminUrl, database: name });
  try {
    await runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner });
  } catch (err) {
    await dropDatabase({ adminUrl, database: name });
    throw err;
  }
  return { name, adminUrl, ...urls, drop: () => dropDatabase({ adminUrl, database: name }) };
}
