// Progress of the end-of-day settle fan-out, one row per trading day (workers only; not a tenant table).
import { sql } from 'drizzle-orm';
import { boolean, check, date, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, tstz, updatedAt } from './columns.js';

export const settleFanouts = pgTable(
  'settle_fanouts',
  {
    /** Exchange trading day (America/New_York date) whose close is fanned out. */
    tradingDay: date('trading_day', { mode: 'string' }).primaryKey(),
    closeAt: tstz('close_at').notNull(),
    /** Last user id whose settle command was appended (keyset cursor over paper_accounts); NULL = from the start. */
    cursor: text('cursor'),
    /** Settle commands appended so far in this run (a run resumed after a crash counts its repeated batch again). */
    usersAppended: integer('users_appended').notNull().default(0),
    /** Set once every user of the day has had its command appended. */
    completedAt: tstz('completed_at'),
    /** True once the scheduled catch-up has passed this day: the watermark is the latest such completed day. */
    scheduled: boolean('scheduled').notNull().default(false),
    /** `schedule` or `operator:<user id>` of the latest run. */
    triggeredBy: text('triggered_by').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [check('settle_fanouts_users_appended_check', sql`${t.usersAppended} >= 0`)],
);
