// drizzle-kit configuration: `npm run db:generate` diffs the schema into ./drizzle migrations.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/infra/db/schema/index.ts',
  out: './drizzle',
  // Roles are created by bootstrap (or a DBA on managed PostgreSQL), never by migrations.
  entities: { roles: false },
});
