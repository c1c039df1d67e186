// CLI: create the demo users and their paper accounts through the app role (`npm run seed`).
import { loadConfig } from '../config/index.js';
import { createDb, seedDemoUsers } from '../infra/db/index.js';

const config = loadConfig();
const handle = createDb(config.database.appUrl, { max: 1, appName: 'raxx-seed' });
try {
  const result = await seedDemoUsers(handle.db, { startingCash: config.accounts.startingCash });
  process.stdout.write(`demo users: ${result.users}, paper accounts: ${result.accounts}\n`);
} catch (err) {
  const e = err as { code?: unknown; message?: unknown };
  process.stderr.write(`seed failed: ${String(e.code ?? 'ERROR')}: ${String(e.message)}\n`);
  process.exitCode = 1;
} finally {
  await handle.close();
}
