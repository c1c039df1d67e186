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
