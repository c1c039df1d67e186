// Demo users (one per tier plus an operator) with their paper accounts, for dev and demos. Idempotent.
import { count, inArray, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { DB_ROLES } from './schema/roles.js';
import { DEFAULT_STARTING_CASH, paperAccounts } from './schema/accounts.js';
import { users, type Tier, type UserRole } from './schema/users.js';
import { withTenant } from './tenant.js';

export interface DemoUser {
  id: string;
  email: string;
  displayName: string;
  tier: Tier;
  role: UserRole;
}

export const DEMO_USERS: readonly DemoUser[] = [
  { id: 'demo-free', email: 'demo-free@example.com', displayName: 'Demo Free', tier: 'free', role: 'user' },
  { id: 'demo-pro', email: 'demo-pro@example.com', displayName: 'Demo Pro', tier: 'pro', role: 'user' },
  { id: 'demo-pro-plus', email: 'demo-pro-plus@example.com', displayName: 'Demo Pro+', tier: 'pro_plus', role: 'user' },
  { id: 'demo-operator', email: 'demo-operator@example.com', displayName: 'Demo Operator', tier: 'pro_plus', role: 'operator' },
];

export interface SeedOptions {
  /** Cash of a newly created demo paper account (numeric string); default DEFAULT_STARTING_CASH. */
  startingCash?: string;
}

export interface SeedResult {
  users: number;
  accounts: number;
}

export class SeedError extends Error {
  readonly code = 'SEED_ROLE_INVALID' as const;
  override readonly name = 'SeedError';
}

/**
 * Upserts DEMO_USERS (profile fields are reset to the demo values) and gives each a paper account if it has
 * none; an existing account, and its balance, is left alone. Runs through withTenant scoped to the demo ids,
 * so with the app role it cannot touch anyone else. Returns the demo users and accounts now present.
 */
export async function seedDemoUsers(db: Db, opts: SeedOptions = {}): Promise<SeedResult> {
  const startingCash = opts.startingCash ?? DEFAULT_STARTING_CASH;
  const ids = DEMO_USERS.map((u) => u.id);
  return withTenant(db, ids, async (tx) => {
    // Fail clearly instead of with an RLS violation: under FORCE RLS the owner has no policy on tenant tables.
    const [who] = await tx.execute<{ user: string }>(sql`select current_user as "user"`);
    if (who?.user === DB_ROLES.owner) {
      throw new SeedError('seed must run as raxx_app (config.database.appUrl) or raxx_batch, not raxx_owner');
    }
    await tx
      .insert(users)
      .values(DEMO_USERS.map((u) => ({ id: u.id, email: u.email, displayName: u.displayName, tier: u.tier, role: u.role })))
      .onConflictDoUpdate({
        target: users.id,
        set: {
          email: sql`excluded.email`,
          displayName: sql`excluded.display_name`,
          tier: sql`excluded.tier`,
          role: sql`excluded.role`,
          updatedAt: sql`now()`,
        },
      });
    await tx
      .insert(paperAccounts)
      .values(DEMO_USERS.map((u) => ({ userId: u.id, startingCash, cash: startingCash })))
      .onConflictDoNothing({ target: paperAccounts.userId });
    const [userCount] = await tx.select({ n: count() }).from(users).where(inArray(users.id, ids));
    const [accountCount] = await tx.select({ n: count() }).from(paperAccounts).where(inArray(paperAccounts.userId, ids));
    return { users: userCount?.n ?? 0, accounts: accountCount?.n ?? 0 };
  });
}
