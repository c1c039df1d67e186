// Demo seed: four users (one per tier plus an operator) with paper accounts, idempotently, through the app role.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDb,
  DB_ROLES,
  DEFAULT_STARTING_CASH,
  DEMO_USERS,
  paperAccounts,
  SeedError,
  seedDemoUsers,
  users,
  withTenant,
  type DbHandle,
} from '../../../src/infra/db/index.js';
import { eq } from 'drizzle-orm';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

describe('seedDemoUsers', () => {
  let t: TestDatabase;
  let app: DbHandle;
  let batch: DbHandle;

  beforeAll(async () => {
    t = await createTestDatabase('raxx_seed');
    app = createDb(t.appUrl, { max: 1 });
    batch = createDb(t.batchUrl, { max: 1 });
  });
  afterAll(async () => {
    await app?.close();
    await batch?.close();
    await t?.drop();
  });

  it('lists one demo user per tier plus an operator', () => {
    expect(DEMO_USERS.map((u) => [u.id, u.tier, u.role])).toEqual([
      ['demo-free', 'free', 'user'],
      ['demo-pro', 'pro', 'user'],
      ['demo-pro-plus', 'pro_plus', 'user'],
      ['demo-operator', 'pro_plus', 'operator'],
    ]);
  });

  it('is idempotent: twice still gives 4 users and 4 accounts', async () => {
    expect(await seedDemoUsers(app.db)).toEqual({ users: 4, accounts: 4 });
    expect(await seedDemoUsers(app.db)).toEqual({ users: 4, accounts: 4 });
    await withTenant(batch.db, [], async (tx) => {
      const accounts = await tx
        .select({ userId: paperAccounts.userId, cash: paperAccounts.cash, startingCash: paperAccounts.startingCash, tier: users.tier })
        .from(paperAccounts)
        .innerJoin(users, eq(users.id, paperAccounts.userId));
      expect(accounts).toHaveLength(4);
      for (const a of accounts) {
        expect(a.cash).toBe(DEFAULT_STARTING_CASH);
        expect(a.startingCash).toBe(DEFAULT_STARTING_CASH);
        expect(a.tier).toBe(DEMO_USERS.find((u) => u.id === a.userId)?.tier);
      }
    });
  });

  it('leaves an existing account’s balance alone and restores demo profile fields', async () => {
    await withTenant(batch.db, [], async (tx) => {
      await tx.update(paperAccounts).set({ cash: '123.45' }).where(eq(paperAccounts.userId, 'demo-pro'));
      await tx.update(users).set({ tier: 'free' }).where(eq(users.id, 'demo-pro'));
    });
    await seedDemoUsers(app.db);
    const [row] = await withTenant(app.db, ['demo-pro'], (tx) =>
      tx.select({ cash: paperAccounts.cash, tier: users.tier }).from(paperAccounts).innerJoin(users, eq(users.id, paperAccounts.userId)),
    );
    expect(row).toEqual({ cash: '123.45', tier: 'pro' });
  });

  it('refuses to run as the owner, which sees no tenant rows', async () => {
    const owner = createDb(t.ownerUrl, { max: 1, role: DB_ROLES.owner });
    try {
      await expect(seedDemoUsers(owner.db)).rejects.toBeInstanceOf(SeedError);
    } finally {
      await owner.close();
    }
  });
});
