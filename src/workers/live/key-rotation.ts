// An operator's key re-wrap: moves every active sealed connection to another KMS key by ReEncrypt of the wrapped data
// keys only (the token ciphertext never changes), in batches, saving the keyset cursor after each so a retried or
// stalled job resumes where the last one stopped.
//
// KMS unavailable: the batch writes nothing and throws; BullMQ retries the job (backoff) from the saved cursor. A row
// busy or changed meanwhile is skipped (rewrapBatch's compare-and-set); `remaining` at the end says whether a second
// run is needed.
import { z } from 'zod';
import { appendAudit } from '../../infra/audit/index.js';
import type { Db } from '../../infra/db/index.js';
import type { Envelope } from '../../infra/kms/index.js';
import { pendingRewraps, rewrapBatch, type RewrapBatchResult } from '../../infra/live/index.js';
import { liveRotateKeysDataSchema, type ProgressJob } from '../queues.js';
import { savedProgress } from './progress.js';

export const LIVE_ROTATE_KEYS_ACTION = 'live.rotate_keys';

const progressSchema = z.object({
  afterId: z.string().nullable(),
  rewrapped: z.number().int().nonnegative(),
  skipped: z.number().int().nonnegative(),
  batches: z.number().int().nonnegative(),
  done: z.boolean(),
  remaining: z.number().int().nonnegative().optional(),
});
export type KeyRotationProgress = z.infer<typeof progressSchema>;

export interface KeyRotationResult {
  keyArn: string;
  rewrapped: number;
  skipped: number;
  batches: number;
  /** Active connections still under another key when the run ended (0: done; otherwise run it again). */
  remaining: number;
}

export interface KeyRotationDeps {
  /** Drizzle as the batch role. */
  db: Db;
  envelope: Envelope;
  batchSize: number;
  logger: { info(obj: object, msg: string): void };
  /** After each batch, once its cursor is saved (awaited). */
  onBatch?(r: RewrapBatchResult): void | Promise<void>;
}

export async function runKeyRotation(deps: KeyRotationDeps, job: ProgressJob): Promise<KeyRotationResult> {
  const data = liveRotateKeysDataSchema.parse(job.data);
  if (!job.id) throw new TypeError('runKeyRotation: the job has no id');
  let p = savedProgress(progressSchema, job.progress, { afterId: null, rewrapped: 0, skipped: 0, batches: 0, done: false });
  const result = (): KeyRotationResult => ({ keyArn: data.keyArn, rewrapped: p.rewrapped, skipped: p.skipped, batches: p.batches, remaining: p.remaining ?? 0 });
  if (p.done) return result();
  if (p.afterId !== null) deps.logger.info({ jobId: job.id, afterId: p.afterId, rewrappedBefore: p.rewrapped }, 'live key re-wrap: resuming');

  for (;;) {
    const r = await rewrapBatch(deps.db, deps.envelope, {
      destinationKeyId: data.keyArn,
      batchSize: deps.batchSize,
      ...(p.afterId === null ? {} : { afterId: p.afterId }),
      actor: data.requestedBy,
      correlationId: job.id,
    });
    const seen = r.rewrapped + r.skipped;
    p = {
      afterId: r.nextAfterId ?? p.afterId,
      rewrapped: p.rewrapped + r.rewrapped,
      skipped: p.skipped + r.skipped,
      batches: p.batches + (seen > 0 ? 1 : 0),
      done: false,
    };
    await job.updateProgress(p);
    await deps.onBatch?.(r);
    if (seen > 0) deps.logger.info({ jobId: job.id, batch: p.batches, rewrapped: p.rewrapped, skipped: p.skipped }, 'live key re-wrap progress');
    if (r.done) break;
  }
  const remaining = await pendingRewraps(deps.db, data.keyArn);
  await appendAudit(deps.db, {
    actor: data.requestedBy,
    action: LIVE_ROTATE_KEYS_ACTION,
    outcome: remaining === 0 ? 'success' : 'failure',
    correlationId: job.id,
    details: { destinationKeyArn: data.keyArn, rewrapped: p.rewrapped, skipped: p.skipped, batches: p.batches, remaining },
  });
  p = { ...p, done: true, remaining };
  await job.updateProgress(p);
  deps.logger.info({ jobId: job.id, ...result() }, 'live key re-wrap complete');
  return result();
}
