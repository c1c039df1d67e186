// Private-log events of signal turns (fills from quotes, live trade updates), written in the turn's own transaction
// and deleted once appended to the users' logs: a replica that dies between COMMIT and the append leaves them here,
// and whoever owns the partition next appends them (the append is deduplicated by each effect's key).
import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgPolicy, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt } from './columns.js';
import { appRole, batchRole, scopeUserIds } from './roles.js';

/** Every user of the row must be in the transaction's scope (the turn's batch), for reads and writes alike. */
const rowInScope = sql`${sql.identifier('user_ids')} <@ (${scopeUserIds})`;

export const signalOutbox = pgTable(
  'signal_outbox',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    partition: integer('partition').notNull(),
    userIds: text('user_ids').array().notNull(),
    /** The effects as the host returned them: [{userId, events, key}]. */
    effects: jsonb('effects').$type<unknown[]>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('signal_outbox_partition_idx').on(t.partition, t.id),
    // An empty list would be "in" every scope.
    check('signal_outbox_has_users', sql`cardinality(${t.userIds}) > 0`),
    pgPolicy('signal_outbox_app_tenant', { for: 'all', to: appRole, using: rowInScope, withCheck: rowInScope }),
    pgPolicy('signal_outbox_batch_all', { for: 'all', to: batchRole, using: sql`true`, withCheck: sql`true` }),
  ],
);
