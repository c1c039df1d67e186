// CLI: recompute every audit chain and exit 1 at the first broken row (`npm run audit:verify`).
import { loadConfig } from '../config/index.js';
import { formatVerifyReport, verifyAuditLog } from '../infra/audit/index.js';
import { createDb } from '../infra/db/index.js';

const { database } = loadConfig();
// The owner reads every chain (its policy on audit_log); the app role would see only its scope.
const handle = createDb(database.migrationUrl, {
  max: 1,
  appName: 'raxx-audit-verify',
  ...(database.migrationRole ? { role: database.migrationRole } : {}),
});
try {
  const report = await verifyAuditLog(handle.sql);
  for (const line of formatVerifyReport(report)) process.stdout.write(`${line}\n`);
  process.exitCode = report.ok ? 0 : 1;
} catch (err) {
  const e = err as { code?: unknown; message?: unknown };
  process.stderr.write(`audit verify failed: ${String(e.code ?? 'ERROR')}: ${String(e.message)}\n`);
  process.exitCode = 2;
} finally {
  await handle.close();
}
