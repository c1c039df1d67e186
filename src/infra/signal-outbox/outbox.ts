// The signal-turn outbox (table signal_outbox): the private-log events a signal turn produced are stored in that turn's
// transaction, appended after COMMIT, then deleted; rows a dead replica left are appended by the partition's next owner.
// Appends are deduplicated by each effect's key (the user-event log keeps a marker for days), so appending a row twice
// — the live path and a recovery racing — shows each event once.
import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Db, Executor } from '../db/client.js';
import { signalOutbox } from '../db/schema/index.js';
import { withTenant } from '../db/tenant.js';
import { arrayLiteral } from '../db/arrays.js';
import { sendStatement } from '../db/statements.js';

/** One effect as hosts return them: events for one user's private log, deduplicated by `key`. */
export interface OutboxEffect {
  userId: string;
  key: string;
  events: unknown[];
}

export interface OutboxRow {
  id: number;
  partition: number;
  userIds: string[];
  effects: OutboxEffect[];
}

/**
 * Stores a turn's effects in its transaction (scope must cover their users); resolves with the row id. The statement
 * is sent at once, behind the turn's earlier statements, so a signal turn may defer it (TurnContext.defer) and read
 * the id after COMMIT: it then shares the round trip of the turn's other last writes.
 */
export function recordEffects(tx: Executor, partition: number, effects: readonly OutboxEffect[]): Promise<number> {
  const userIds = [...new Set(effects.map((e) => e.userId))];
  return sendStatement<{ id: string | number }>(tx, INSERT_EFFECTS, [partition, arrayLiteral(userIds), JSON.stringify(effects)]).then(([row]) => Number(row!.id));
}

const INSERT_EFFECTS = 'insert into signal_outbox (partition, user_ids, effects) values ($1::int, $2::text[], $3::jsonb) returning id';

/** Deletes a row once its effects are appended (app role, scoped to the row's users). */
export async function clearEffects(db: Db, id: number, userIds: readonly string[]): Promise<void> {
  await withTenant(db, userIds, (tx) => tx.delete(signalOutbox).where(eq(signalOutbox.id, id)));
}

/**
 * Rows of `partitions` older than `olderThanMs` (younger ones may still be on their way through the live path), oldest
 * first. Batch role: a recovering replica does not know whose rows they are.
 */
export async function pendingEffects(batchDb: Db, partitions: readonly number[], olderThanMs: number, limit = 500): Promise<OutboxRow[]> {
  if (partitions.length === 0) return [];
  const rows = await batchDb
    .select({ id: signalOutbox.id, partition: signalOutbox.partition, userIds: signalOutbox.userIds, effects: signalOutbox.effects })
    .from(signalOutbox)
    .where(and(inArray(signalOutbox.partition, [...partitions]), lt(signalOutbox.createdAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`)))
    .orderBy(signalOutbox.id)
    .limit(limit);
  return rows as OutboxRow[];
}

export async function deleteEffects(batchDb: Db, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await batchDb.delete(signalOutbox).where(inArray(signalOutbox.id, [...ids]));
}

/**
 * Appends what dead replicas left in `partitions`, oldest first, each row's effects in their order, then deletes the
 * rows. Returns how many rows were recovered.
 */
export async function recoverEffects(
  batchDb: Db,
  partitions: readonly number[],
  append: (effect: OutboxEffect) => Promise<unknown>,
  olderThanMs = 5000,
): Promise<number> {
  let recovered = 0;
  for (;;) {
    const rows = await pendingEffects(batchDb, partitions, olderThanMs);
    for (const row of rows) {
      for (const effect of row.effects) await append(effect);
      await deleteEffects(batchDb, [row.id]);
      recovered += 1;
    }
    if (rows.length < 500) return recovered;
  }
}
