// Users (one row per auth-service subject) and their paper/live trading-mode override.
import { sql } from 'drizzle-orm';
import { check, pgEnum, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, oneOf, updatedAt } from './columns.js';
import { tenantPolicies } from './roles.js';

export const TIERS = ['free', 'pro', 'pro_plus'] as const;
export type Tier = (typeof TIERS)[number];
export const tierEnum = pgEnum('tier', TIERS);

export const USER_ROLES = ['user', 'operator'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = pgTable(
  'users',
  {
    /** The auth service's `sub`. */
    id: text('id').primaryKey(),
    email: text('email'),
    displayName: text('display_name'),
    tier: tierEnum('tier').notNull().default('free'),
    role: text('role').$type<UserRole>().notNull().default('user'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('users_role_check', oneOf(t.role, USER_ROLES)),
    check('users_id_not_empty', sql`length(${t.id}) > 0`),
    ...tenantPolicies('users', t.id),
  ],
);

export const TRADING_MODES = ['paper', 'live'] as const;
export type TradingMode = (typeof TRADING_MODES)[number];
export const tradingModeEnum = pgEnum('trading_mode', TRADING_MODES);

/** Per-customer override of the trading mode (absent row = paper). */
export const customerTradingModeOverrides = pgTable(
  'customer_trading_mode_overrides',
  {
    userId: text('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    mode: tradingModeEnum('mode').notNull().default('paper'),
    /** Who set it (an operator's user id or a service name). */
    setBy: text('set_by').notNull(),
    reason: text('reason'),
    updatedAt: updatedAt(),
  },
  (t) => [...tenantPolicies('customer_trading_mode_overrides', t.userId)],
);

/** The owning user of a tenant row: `user_id text NOT NULL REFERENCES users ON DELETE CASCADE` (RLS keys on it). */
export const userIdRef = () =>
  text('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' });
