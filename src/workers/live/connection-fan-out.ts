// Appends one command per live connection matching a filter, in keyset batches on the connection id (primary key):
// the common walk of the mass revoke and the refresh schedule. Reads ids only: no sealed column leaves the database.
//
// A batch's XADDs go out before `onBatch` saves its cursor, so a crash in between appends that batch again on resume,
// with the same envelope ids (the caller derives them deterministically): no-ops at the actor.
import { and, asc, gt, type SQL } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { alpacaLiveConnections as t, toDbError, type Db } from '../../infra/db/index.js';
import { appendCommand, type Envelope } from '../../runtime/index.js';

export interface LiveFanOutDeps {
  /** Drizzle as the batch role (crosses tenants). */
  db: Db;
  redis: Redis;
  partitions: number;
  batchSize: number;
  now(): number;
  logger: { info(obj: object, msg: string): void };
}

export interface ConnectionRef {
  id: string;
  userId: string;
  version: number;
}

export interface ConnectionWalk {
  /** Which connections (besides the keyset bound). */
  where: SQL | undefined;
  /** Resume after this connection id. */
  afterId: string | null;
  command(c: ConnectionRef, issuedAt: string): Pick<Envelope, 'id' | 'type' | 'payload'>;
  /** After each appended batch: persist progress here (awaited before the next batch). */
  onBatch?(b: { cursor: string; appended: number }): Promise<void>;
}

export async function appendPerConnection(deps: LiveFanOutDeps, walk: ConnectionWalk): Promise<{ appended: number; batches: number; cursor: string | null }> {
  let cursor = walk.afterId;
  let appended = 0;
  let batches = 0;
  for (;;) {
    let rows: ConnectionRef[];
    try {
      rows = await deps.db
        .select({ id: t.id, userId: t.userId, version: t.version })
        .from(t)
        .where(and(walk.where, cursor === null ? undefined : gt(t.id, cursor)))
        .orderBy(asc(t.id))
        .limit(deps.batchSize);
    } catch (err) {
      throw toDbError(err);
    }
    if (rows.length > 0) {
      const issuedAt = new Date(deps.now()).toISOString();
      // Sent together: ioredis writes them back to back on one connection.
      await Promise.all(rows.map((c) => appendCommand(deps.redis, { ...walk.command(c, issuedAt), userId: c.userId, issuedAt }, deps.partitions)));
      cursor = rows[rows.length - 1]!.id;
      appended += rows.length;
      batches += 1;
      await walk.onBatch?.({ cursor, appended: rows.length });
    }
    if (rows.length < deps.batchSize) return { appended, batches, cursor };
  }
}
