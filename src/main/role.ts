// Entry point of one role process: `role.ts <sim|feed|accounts|gateway|workers>` (PORT=0 picks a free port).
import { isRoleName, roleNames, roles } from './roles/index.js';
import { runRole } from './role-context.js';

const name = process.argv[2] ?? '';
if (!isRoleName(name)) {
  process.stderr.write(`Unknown role "${name}". Choose one of: ${roleNames.join(', ')}.\n`);
  process.exit(2);
}
if (name === 'sim') {
  // The simulator stands for Alpaca and AWS: its own program, settings and logs (src/sim).
  const { runSimulator } = await import('../sim/main.js');
  await runSimulator();
} else {
  await runRole(name, roles[name]);
}
