// One row per account and trading day once the day is settled (feeds the N-cycle gate).
import { boolean, date, numeric, pgTable, primaryKey } from 'drizzle-orm/pg-core';
import { accountIdRef } from './accounts.js';
import { tstz } from './columns.js';
import { tenantPolicies } from './roles.js';
import { userIdRef } from './users.js';

export const settledCycles = pgTable(
  'settled_cycles',
  {
    userId: userIdRef(),
    accountId: accountIdRef(),
    /** Exchange trading day (America/New_York calendar date), not a UTC date. */
    tradingDay: date('trading_day', { mode: 'string' }).notNull(),
    equityOpen: numeric('equity_open').notNull(),
    equityClose: numeric('equity_close').notNull(),
    pnl: numeric('pnl').notNull(),
    hadActivity: boolean('had_activity').notNull().default(false),
    settledAt: tstz('settled_at').notNull().defaultNow(),
  },
  // The primary key is the required unique (account_id, trading_day): settling a day twice conflicts.
  (t) => [
    primaryKey({ name: 'settled_cycles_pkey', columns: [t.accountId, t.tradingDay] }),
    ...tenantPolicies('settled_cycles', t.userId),
  ],
);
