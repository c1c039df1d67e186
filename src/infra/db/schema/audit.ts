// The append-only, per-chain hash-chained audit log (triggers and grants live in the custom migration).
import { sql } from 'drizzle-orm';
import { bigint, check, jsonb, pgPolicy, pgTable, text, unique } from 'drizzle-orm/pg-core';
import { tstz } from './columns.js';
import { appRole, batchRole, inScope, ownerRole } from './roles.js';

/** Chain of rows that concern no particular user (service and operator actions on the platform). */
export const SYSTEM_CHAIN = 'system';

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /** Subject user id, or 'system'. */
    chain: text('chain').notNull(),
    // seq, at, prev_hash and hash are assigned by the BEFORE INSERT trigger under a per-chain lock;
    // a DEFAULT would be evaluated before that lock and fork the chain under concurrency.
    seq: bigint('seq', { mode: 'number' }).notNull(),
    at: tstz('at').notNull(),
    actor: text('actor').notNull(),
    subject: text('subject'),
    action: text('action').notNull(),
    outcome: text('outcome').notNull(),
    correlationId: text('correlation_id'),
    /** Never secrets: appendAudit() refuses secret-looking keys. */
    details: jsonb('details').notNull().default(sql`'{}'::jsonb`),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    unique('audit_log_chain_seq_key').on(t.chain, t.seq),
    // Two rows can never claim the same predecessor: a fork is a constraint violation, not a silent branch.
    unique('audit_log_prev_hash_key').on(t.prevHash),
    check('audit_log_chain_not_empty', sql`length(${t.chain}) > 0`),
    check('audit_log_details_is_object', sql`jsonb_typeof(${t.details}) = 'object'`),
    // Services and operators write rows about anyone (and 'system'); a user's scope reads only its own chains.
    pgPolicy('audit_log_app_insert', { for: 'insert', to: appRole, withCheck: sql`true` }),
    pgPolicy('audit_log_app_select', { for: 'select', to: appRole, using: inScope(t.chain) }),
    pgPolicy('audit_log_batch_all', { for: 'all', to: batchRole, using: sql`true`, withCheck: sql`true` }),
    // The owner sees every row: the SECURITY DEFINER chain trigger must read each chain's last row under
    // FORCE RLS, and the verifier reads everything. UPDATE/DELETE by the owner still hit the guard trigger,
    // which is the point: tampering errors loudly instead of being filtered to "UPDATE 0".
    pgPolicy('audit_log_owner_all', { for: 'all', to: ownerRole, using: sql`true`, withCheck: sql`true` }),
  ],
);
