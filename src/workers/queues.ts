// The workers' BullMQ queues, job names, job data and job ids (ids never contain ":" and are never integer-like).
import { z } from 'zod';
import { tradingDaySchema } from '../contracts/index.js';

export const SETTLE_QUEUE = 'settle';
export const RETENTION_QUEUE = 'retention';

export const SETTLE_CHECK_JOB = 'settle-check';
export const SETTLE_RUN_JOB = 'settle-run';
export const RETENTION_PURGE_JOB = 'retention-purge';

/** Job scheduler ids: every replica upserts the same ones, so there is one schedule per queue, not one per replica. */
export const SETTLE_SCHEDULER_ID = 'settle-check-every';
export const RETENTION_SCHEDULER_ID = 'retention-purge-daily';

/** Data of an operator's `settle-run` job: one session, already checked against the calendar when it was enqueued. */
export const settleRunDataSchema = z
  .object({
    tradingDay: tradingDaySchema,
    closeAt: z.iso.datetime(),
    requestedBy: z.string().min(1).max(220),
  })
  .strict();
export type SettleRunData = z.infer<typeof settleRunDataSchema>;

/** Operator runs are never de-duplicated by id (a re-run is the point); the suffix keeps ids unique. */
export function settleRunJobId(tradingDay: string, unique: string): string {
  return `settle-run|${tradingDay}|${unique}`;
}

/** The live handoff's operator jobs (mass revoke, key re-wrap): long batch runs, apart from the refresh ticks. */
export const LIVE_OPS_QUEUE = 'live-ops';
/** The token-refresh schedule: its own queue, so a long key re-wrap never delays a tick. */
export const LIVE_REFRESH_QUEUE = 'live-refresh';

export const LIVE_REVOKE_ALL_JOB = 'live-revoke-all';
export const LIVE_ROTATE_KEYS_JOB = 'live-rotate-keys';
export const LIVE_REFRESH_CHECK_JOB = 'live-refresh-check';
export const LIVE_REFRESH_SCHEDULER_ID = 'live-refresh-every';

/** Data of an operator's mass revoke: no token, no connection list (the job reads the table). */
export const liveRevokeAllDataSchema = z
  .object({
    reason: z.string().trim().min(1).max(200),
    requestedBy: z.string().min(1).max(220),
  })
  .strict();
export type LiveRevokeAllData = z.infer<typeof liveRevokeAllDataSchema>;

/** Data of an operator's key re-wrap: the destination key's ARN, resolved when enqueued (an alias may move later). */
export const liveRotateKeysDataSchema = z
  .object({
    keyArn: z.string().min(1).max(2048),
    requestedBy: z.string().min(1).max(220),
  })
  .strict();
export type LiveRotateKeysData = z.infer<typeof liveRotateKeysDataSchema>;

/** Operator runs get a fresh id each (a re-run is a new run); a BullMQ retry keeps its id, and with it its command ids. */
export function liveJobId(job: typeof LIVE_REVOKE_ALL_JOB | typeof LIVE_ROTATE_KEYS_JOB, unique: string): string {
  return `${job}|${unique}`;
}

/**
 * The slice of a BullMQ Job a resumable job needs: its id, data, last saved progress and a way to save more. BullMQ
 * keeps `progress` across retries and stalls, so a job that died resumes from what it last saved.
 */
export interface ProgressJob {
  readonly id?: string | undefined;
  readonly data: unknown;
  readonly progress: unknown;
  updateProgress(progress: object): Promise<void>;
}
