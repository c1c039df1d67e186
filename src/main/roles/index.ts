// The table of roles a process can run; `src/main/role.ts <name>` picks one.
import type { RoleStarter } from '../role-context.js';
import { startAccounts } from './accounts.js';
import { startFeed } from './feed.js';
import { startGatewayRole } from './gateway.js';
import { startWorkers } from './workers.js';

/** Application roles; `sim` is a separate program (src/sim) that role.ts hands over to. */
export const roles = {
  feed: startFeed,
  accounts: startAccounts,
  gateway: startGatewayRole,
  workers: startWorkers,
} satisfies Record<string, RoleStarter>;

export type AppRoleName = keyof typeof roles;
export type RoleName = AppRoleName | 'sim';
export const roleNames: RoleName[] = ['sim', ...(Object.keys(roles) as AppRoleName[])];

export function isRoleName(name: string): name is RoleName {
  return name === 'sim' || Object.hasOwn(roles, name);
}
