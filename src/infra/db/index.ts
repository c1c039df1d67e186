// Public surface of the PostgreSQL layer.
export * from './schema/index.js';
export { createDb, type CreateDbOptions, type Db, type DbHandle, type Executor, type Schema, type Tx } from './client.js';
export { DbError, toDbError } from './errors.js';
export { TenantScopeError, withTenant } from './tenant.js';
export {
  BootstrapError,
  bootstrapDatabase,
  databaseUrls,
  dropDatabase,
  type BootstrapOptions,
  type DatabaseUrls,
} from './bootstrap.js';
export { MigrationError, runMigrations, type RunMigrationsOptions } from './migrate.js';
export { DEMO_USERS, SeedError, seedDemoUsers, type DemoUser, type SeedOptions, type SeedResult } from './seed.js';
