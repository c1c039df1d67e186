// Moving sealed live tokens to another KMS key: ReEncrypt of the wrapped data keys only, in resumable batches.
//
// Runs as raxx_batch (crosses tenants). The token ciphertext and the row's version never change, so a rewrap cannot
// lose a concurrent refresh: KMS calls happen with no lock held, and the write is a compare-and-set on
// (version, kms_key_id, not revoked) under FOR UPDATE SKIP LOCKED — a row busy or changed meanwhile is skipped and
// picked up by the next pass.
import { and, asc, eq, gt, inArray, isNull, ne, sql } from 'drizzle-orm';
import { liveTokenEncryptionContext } from '../../contracts/live.js';
import { appendAudit } from '../audit/append.js';
import type { Db } from '../db/client.js';
import { toDbError } from '../db/errors.js';
import { alpacaLiveConnections as t } from '../db/schema/live.js';
import type { Envelope } from '../kms/envelope.js';
import { SealedTokenInvalidError } from '../kms/errors.js';

export const KEY_REWRAP_ACTION = 'live.key_rewrap';

export interface RewrapBatchOptions {
  /** Key id, ARN or alias to move to (resolved to its ARN once per batch). */
  destinationKeyId: string;
  batchSize: number;
  /** Resume after this connection id (the previous batch's nextAfterId). */
  afterId?: string;
  /** Audit actor (default `workers`). */
  actor?: string;
  correlationId?: string;
}

export interface RewrapBatchResult {
  rewrapped: number;
  /** Looked at but not moved: locked or changed meanwhile, or not opening (see the audit row's `invalid`). */
  skipped: number;
  /** Pass as afterId to continue; undefined only when the batch saw nothing and no afterId was given. */
  nextAfterId: string | undefined;
  /** No candidate rows after this batch. */
  done: boolean;
}

interface Rewrapped {
  id: string;
  version: number;
  fromKeyId: string;
  kmsKeyId: string;
  accessTokenWrappedDek: Buffer;
  refreshTokenWrappedDek: Buffer | null;
}

/**
 * One batch: active connections whose kms_key_id is not the destination key's ARN, ordered by id after `afterId`.
 * A KmsUnavailableError aborts the batch with nothing written (run it again with the same afterId); a row whose data
 * key KMS refuses (SealedTokenInvalidError) is skipped and named in the audit row. Idempotent: rewrapped rows carry
 * the destination ARN and are no longer candidates.
 */
export async function rewrapBatch(db: Db, envelope: Envelope, a: RewrapBatchOptions): Promise<RewrapBatchResult> {
  try {
    return await runBatch(db, envelope, a);
  } catch (err) {
    // Database errors leave as DbError: drizzle's messages list every bound parameter (wrapped data keys included).
    throw toDbError(err);
  }
}

async function runBatch(db: Db, envelope: Envelope, a: RewrapBatchOptions): Promise<RewrapBatchResult> {
  if (!Number.isInteger(a.batchSize) || a.batchSize < 1) throw new TypeError('rewrapBatch: batchSize must be a positive integer');
  const destinationArn = await envelope.keyArn(a.destinationKeyId);

  const candidates = await db
    .select({
      id: t.id,
      userId: t.userId,
      version: t.version,
      kmsKeyId: t.kmsKeyId,
      accessTokenWrappedDek: t.accessTokenWrappedDek,
      refreshTokenWrappedDek: t.refreshTokenWrappedDek,
    })
    .from(t)
    .where(and(isNull(t.revokedAt), ne(t.kmsKeyId, destinationArn), a.afterId === undefined ? undefined : gt(t.id, a.afterId)))
    .orderBy(asc(t.id))
    .limit(a.batchSize);
  if (candidates.length === 0) return { rewrapped: 0, skipped: 0, nextAfterId: a.afterId, done: true };

  // KMS first, outside any transaction.
  const ready: Rewrapped[] = [];
  const invalid: string[] = [];
  for (const row of candidates) {
    const context = liveTokenEncryptionContext(row.userId, row.id);
    try {
      const access = await envelope.rewrap({ wrappedDek: row.accessTokenWrappedDek, kmsKeyId: row.kmsKeyId }, context, destinationArn);
      const refresh = row.refreshTokenWrappedDek
        ? await envelope.rewrap({ wrappedDek: row.refreshTokenWrappedDek, kmsKeyId: row.kmsKeyId }, context, destinationArn)
        : undefined;
      ready.push({
        id: row.id,
        version: row.version,
        fromKeyId: row.kmsKeyId,
        kmsKeyId: access.kmsKeyId,
        accessTokenWrappedDek: access.wrappedDek,
        refreshTokenWrappedDek: refresh?.wrappedDek ?? null,
      });
    } catch (err) {
      if (!(err instanceof SealedTokenInvalidError)) throw err;
      invalid.push(row.id);
    }
  }

  const rewrapped = await db.transaction(async (tx) => {
    const ids = ready.map((r) => r.id);
    const locked = ids.length === 0 ? [] : await tx.select({ id: t.id }).from(t).where(inArray(t.id, ids)).for('update', { skipLocked: true });
    const lockedIds = new Set(locked.map((r) => r.id));
    let count = 0;
    for (const r of ready) {
      if (!lockedIds.has(r.id)) continue;
      const done = await tx
        .update(t)
        .set({ kmsKeyId: r.kmsKeyId, accessTokenWrappedDek: r.accessTokenWrappedDek, refreshTokenWrappedDek: r.refreshTokenWrappedDek })
        .where(and(eq(t.id, r.id), eq(t.version, r.version), eq(t.kmsKeyId, r.fromKeyId), isNull(t.revokedAt)))
        .returning({ id: t.id });
      count += done.length;
    }
    await appendAudit(tx, {
      actor: a.actor ?? 'workers',
      action: KEY_REWRAP_ACTION,
      outcome: invalid.length > 0 ? 'failure' : 'success',
      correlationId: a.correlationId ?? null,
      details: {
        count,
        skipped: candidates.length - count,
        destinationKeyArn: destinationArn,
        afterId: a.afterId ?? null,
        ...(invalid.length > 0 ? { invalid } : {}),
      },
    });
    return count;
  });
  return {
    rewrapped,
    skipped: candidates.length - rewrapped,
    nextAfterId: candidates[candidates.length - 1]!.id,
    done: candidates.length < a.batchSize,
  };
}

/** How many active connections are not under `destinationArn` yet (progress reports). */
export async function pendingRewraps(db: Db, destinationArn: string): Promise<number> {
  try {
    const [row] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(t)
      .where(and(isNull(t.revokedAt), ne(t.kmsKeyId, destinationArn)));
    return row?.n ?? 0;
  } catch (err) {
    throw toDbError(err);
  }
}
