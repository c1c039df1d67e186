// CLI: apply pending migrations as the migration role (`npm run migrate`).
import { loadConfig } from '../config/index.js';
import { runMigrations } from '../infra/db/index.js';

const { database } = loadConfig();
try {
  await runMigrations({ url: database.migrationUrl, ...(database.migrationRole ? { role: database.migrationRole } : {}) });
  process.stdout.write('migrations applied\n');
} catch (err) {
  // Our errors carry a code and a message without query parameters; print nothing else.
  const e = err as { code?: unknown; message?: unknown };
  process.stderr.write(`migrate failed: ${String(e.code ?? 'ERROR')}: ${String(e.message)}\n`);
  process.exitCode = 1;
}
