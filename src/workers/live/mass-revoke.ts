// An operator's mass revoke: one `live.revoke` command per active live connection, into its user's partition. The
// account actor does the revoke itself (crypto-shred, cached token dropped), serialised with that user's other commands.
//
// Guarantee: at-least-once per (connection, run). The envelope id is derived from (run id, connection id) and the run
// id is the BullMQ job id, which a retry keeps: a resumed or repeated run appends ids the actor has already processed.
// A connection revoked meanwhile is no longer selected; one made after the run passed its id is not touched.
import { isNull } from 'drizzle-orm';
import { z } from 'zod';
import { LIVE_COMMAND_TYPES, nameUuid, type LiveRevokePayload } from '../../contracts/index.js';
import { appendAudit } from '../../infra/audit/index.js';
import { alpacaLiveConnections as t } from '../../infra/db/index.js';
import { liveRevokeAllDataSchema, type ProgressJob } from '../queues.js';
import { appendPerConnection, type LiveFanOutDeps } from './connection-fan-out.js';
import { savedProgress } from './progress.js';

export const LIVE_REVOKE_ALL_ACTION = 'live.revoke_all';

/** The envelope id of one connection's revoke in one run. */
export const massRevokeCommandId = (runId: string, connectionId: string): string => nameUuid('raxx-live-revoke-all', '\0', runId, '\0', connectionId);

const progressSchema = z.object({
  cursor: z.string().nullable(),
  appended: z.number().int().nonnegative(),
  batches: z.number().int().nonnegative(),
  done: z.boolean(),
});
export type MassRevokeProgress = z.infer<typeof progressSchema>;

export interface MassRevokeResult {
  runId: string;
  /** Commands appended over the whole run (a batch repeated after a crash counts twice). */
  appended: number;
  batches: number;
}

export interface MassRevokeDeps extends LiveFanOutDeps {
  onBatch?(appended: number): void;
}

export async function runMassRevoke(deps: MassRevokeDeps, job: ProgressJob): Promise<MassRevokeResult> {
  const data = liveRevokeAllDataSchema.parse(job.data);
  if (!job.id) throw new TypeError('runMassRevoke: the job has no id');
  const runId = job.id;
  let p = savedProgress(progressSchema, job.progress, { cursor: null, appended: 0, batches: 0, done: false });
  if (p.done) return { runId, appended: p.appended, batches: p.batches };
  if (p.cursor !== null) deps.logger.info({ runId, cursor: p.cursor, appendedBefore: p.appended }, 'live mass revoke: resuming');

  const payload = (connectionId: string): LiveRevokePayload => ({ connectionId, requestedBy: data.requestedBy, reason: data.reason });
  await appendPerConnection(deps, {
    where: isNull(t.revokedAt),
    afterId: p.cursor,
    command: (c) => ({ id: massRevokeCommandId(runId, c.id), type: LIVE_COMMAND_TYPES.revoke, payload: payload(c.id) }),
    onBatch: async ({ cursor, appended }) => {
      p = { cursor, appended: p.appended + appended, batches: p.batches + 1, done: false };
      await job.updateProgress(p);
      deps.onBatch?.(appended);
      deps.logger.info({ runId, batch: p.batches, appended: p.appended, cursor }, 'live mass revoke progress');
    },
  });
  await appendAudit(deps.db, {
    actor: data.requestedBy,
    action: LIVE_REVOKE_ALL_ACTION,
    outcome: 'success',
    correlationId: runId,
    details: { reason: data.reason, appended: p.appended, by: data.requestedBy, batches: p.batches },
  });
  p = { ...p, done: true };
  await job.updateProgress(p);
  deps.logger.info({ runId, appended: p.appended, batches: p.batches }, 'live mass revoke complete');
  return { runId, appended: p.appended, batches: p.batches };
}
