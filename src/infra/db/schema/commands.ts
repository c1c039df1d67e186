// Effectively-once command bookkeeping and the per-partition fencing epochs of the accounts runtime.
import { bigint, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz, updatedAt } from './columns.js';
import { tenantPolicies } from './roles.js';
import { userIdRef } from './users.js';

/** A command id is recorded with its result in the same transaction as its effects, so a redelivery replays the result. */
export const processedCommands = pgTable(
  'processed_commands',
  {
    commandId: text('command_id').primaryKey(),
    userId: userIdRef(),
    partition: integer('partition').notNull(),
    type: text('type').notNull(),
    resultCode: text('result_code').notNull(),
    result: jsonb('result'),
    processedAt: tstz('processed_at').notNull().defaultNow(),
  },
  (t) => [index('processed_commands_processed_at_idx').on(t.processedAt), ...tenantPolicies('processed_commands', t.userId)],
);

/**
 * Fencing epochs: a runtime instance owns a partition while its epoch is the current one, checked
 * under a row lock (SELECT … FOR UPDATE) in the same transaction as its writes. Not tenant data: no RLS.
 */
export const partitionEpochs = pgTable('partition_epochs', {
  partition: integer('partition').primaryKey(),
  epoch: bigint('epoch', { mode: 'number' }).notNull().default(0),
  owner: text('owner'),
  updatedAt: updatedAt(),
});
