// The table of roles a process can run; `src/main/role.ts <name>` picks one.
import type { RoleStarter } from '../role-context.js';
import { placeholderRole } from './placeholder.js';

export const roles = {
  sim: placeholderRole({ needs: { redis: false, database: false }, pending: 'the Alpaca + KMS simulator arrives with its own issue' }),
  feed: placeholderRole({ needs: { redis: true, database: 'app' }, pending: 'the feed actor arrives with its own issue' }),
  accounts: placeholderRole({ needs: { redis: true, database: 'app' }, pending: 'the account actors arrive with their own issue' }),
  gateway: placeholderRole({ needs: { redis: true, database: 'app' }, pending: 'the uWebSockets.js gateway arrives with its own issue' }),
  workers: placeholderRole({ needs: { redis: true, database: 'batch' }, pending: 'the BullMQ workers arrive with their own issue' }),
} satisfies Record<string, RoleStarter>;

export type RoleName = keyof typeof roles;
export const roleNames = Object.keys(roles) as RoleName[];

export function isRoleName(name: string): name is RoleName {
  return Object.hasOwn(roles, name);
}
