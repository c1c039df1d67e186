// The paper engine (MBT) of each account: its state, and every input it was stepped with (so fills can be replayed).
import { sql } from 'drizzle-orm';
import { bigint, check, date, index, jsonb, pgTable, primaryKey } from 'drizzle-orm/pg-core';
import { accountIdRef } from './accounts.js';
import { tstz, updatedAt } from './columns.js';
import { tenantPolicies } from './roles.js';
import { userIdRef } from './users.js';

/**
 * One row per paper account: the engine state (plain JSON, `mbt.MbtState`) after `input_count` recorded inputs, and
 * the account the log starts from (`init`: `{id, type, cash}`, the replay header). Written inside the account
 * actor's turn, conditionally on the input_count it was loaded with (a turn working on a stale copy aborts).
 */
export const mbtStates = pgTable(
  'mbt_states',
  {
    accountId: accountIdRef().primaryKey(),
    userId: userIdRef(),
    init: jsonb('init').notNull(),
    state: jsonb('state').notNull(),
    inputCount: bigint('input_count', { mode: 'number' }).notNull().default(0),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('mbt_states_user_idx').on(t.userId),
    check('mbt_states_input_count_check', sql`${t.inputCount} >= 0`),
    ...tenantPolicies('mbt_states', t.userId),
  ],
);

/**
 * Every input an account's engine was stepped with, in order (`n` = 1, 2, …): quotes with their hub seq, clock
 * events, commands with their ids. Append-only: `npm run mbt:explain` reads the quote behind a fill from it, and an
 * exported log replays to the same fills (`npm run mbt:replay`).
 */
export const mbtInputs = pgTable(
  'mbt_inputs',
  {
    accountId: accountIdRef(),
    n: bigint('n', { mode: 'number' }).notNull(),
    userId: userIdRef(),
    input: jsonb('input').notNull(),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'mbt_inputs_pkey', columns: [t.accountId, t.n] }),
    check('mbt_inputs_n_check', sql`${t.n} > 0`),
    ...tenantPolicies('mbt_inputs', t.userId),
  ],
);

/**
 * The engine after input `n`, written by the account actor in the turn of each end-of-day settle (one row per account
 * and trading day): the engine state and the client order ids of its open orders (`[{client_order_id, order_id,
 * fingerprint}]`, what a resubmit is decided by). Retention removes an account's inputs up to the newest checkpoint
 * older than its tier's horizon, and an export then starts from that checkpoint (docs/workers.md, docs/mbt-explain.md).
 */
export const mbtCheckpoints = pgTable(
  'mbt_checkpoints',
  {
    accountId: accountIdRef(),
    n: bigint('n', { mode: 'number' }).notNull(),
    userId: userIdRef(),
    tradingDay: date('trading_day', { mode: 'string' }).notNull(),
    state: jsonb('state').notNull(),
    clientIds: jsonb('client_ids').notNull(),
    at: tstz('at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'mbt_checkpoints_pkey', columns: [t.accountId, t.n] }),
    check('mbt_checkpoints_n_check', sql`${t.n} > 0`),
    ...tenantPolicies('mbt_checkpoints', t.userId),
  ],
);
