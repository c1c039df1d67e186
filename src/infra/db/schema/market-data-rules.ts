// Bar-close rule registry: which rules run when a minute bar of one of their symbols closes (not a tenant table).
import { sql } from 'drizzle-orm';
import { boolean, check, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, updatedAt } from './columns.js';

/** Rule ids end up in BullMQ job ids: no `:`/`|`, never integer-like (the CHECK and the repository enforce it). */
export const MARKET_DATA_RULE_ID_PATTERN = '^[A-Za-z][A-Za-z0-9_.-]{0,63}$';

export const marketDataRules = pgTable(
  'market_data_rules',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    symbols: text('symbols').array().notNull(),
    enabled: boolean('enabled').notNull().default(true),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [check('market_data_rules_id_format', sql`${t.id} ~ ${sql.raw(`'${MARKET_DATA_RULE_ID_PATTERN}'`)}`)],
);
