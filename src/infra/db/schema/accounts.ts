// Paper trading accounts: one per user in v1, with cash, reserved buying power and the reset cycle.
import { sql } from 'drizzle-orm';
import { bigint, check, numeric, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { createdAt, oneOf, tstz, updatedAt } from './columns.js';
import { tenantPolicies } from './roles.js';
import { users } from './users.js';

/** Starting cash of a new paper account (numeric, so a string). */
export const DEFAULT_STARTING_CASH = '100000';

export const ACCOUNT_TYPES = ['cash', 'margin'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];
export const ACCOUNT_STATUSES = ['active', 'suspended', 'closed'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

export const paperAccounts = pgTable(
  'paper_accounts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id')
      .notNull()
      .unique('paper_accounts_user_id_key')
      .references(() => users.id, { onDelete: 'cascade' }),
    // Alpaca-style "PA…" number; random so it leaks nothing about sign-up order.
    accountNumber: text('account_number')
      .notNull()
      .unique('paper_accounts_account_number_key')
      .default(sql`('PA' || upper(substr(md5(gen_random_uuid()::text), 1, 10)))`),
    accountType: text('account_type').$type<AccountType>().notNull().default('cash'),
    status: text('status').$type<AccountStatus>().notNull().default('active'),
    currency: text('currency').notNull().default('USD'),
    startingCash: numeric('starting_cash').notNull().default(DEFAULT_STARTING_CASH),
    cash: numeric('cash').notNull(),
    /** Buying power held by open orders. */
    reservedCash: numeric('reserved_cash').notNull().default('0'),
    /** Start of the current cycle (account opening or last reset); the N-cycle gate counts from here. */
    cycleStartedAt: tstz('cycle_started_at').notNull().defaultNow(),
    /** Optimistic-concurrency counter, bumped by every write. */
    version: bigint('version', { mode: 'number' }).notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('paper_accounts_account_type_check', oneOf(t.accountType, ACCOUNT_TYPES)),
    check('paper_accounts_status_check', oneOf(t.status, ACCOUNT_STATUSES)),
    check('paper_accounts_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check('paper_accounts_reserved_cash_check', sql`${t.reservedCash} >= 0`),
    check('paper_accounts_starting_cash_check', sql`${t.startingCash} > 0`),
    ...tenantPolicies('paper_accounts', t.userId),
  ],
);

/** The paper account a row belongs to: `account_id uuid NOT NULL REFERENCES paper_accounts ON DELETE CASCADE`. */
export const accountIdRef = () =>
  uuid('account_id')
    .notNull()
    .references(() => paperAccounts.id, { onDelete: 'cascade' });
