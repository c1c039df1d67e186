// The BullMQ side of the workers role: the two queues, their job schedulers and one worker per queue.
//
// Delivery: BullMQ is at-least-once. A worker that dies (or blocks its event loop past the lock) has its job moved back
// to wait by another worker's stalled check and run again, up to maxStalledCount times. Every processor here is
// idempotent (deterministic command ids, a resumable cursor, DELETEs of what is still there), so a re-run is safe.
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkersMetrics } from './metrics.js';
import {
  RETENTION_PURGE_JOB,
  RETENTION_QUEUE,
  RETENTION_SCHEDULER_ID,
  SETTLE_CHECK_JOB,
  SETTLE_QUEUE,
  SETTLE_RUN_JOB,
  SETTLE_SCHEDULER_ID,
  type SettleRunData,
} from './queues.js';

export interface WorkersHostOptions {
  connection: Redis;
  prefix: string;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  settleCheckEveryMs: number;
  /** Cron pattern (UTC) of the daily retention purge. */
  retentionPattern: string;
  processors: {
    settleCheck(): Promise<unknown>;
    settleRun(data: unknown): Promise<unknown>;
    retentionPurge(): Promise<unknown>;
  };
  metrics: WorkersMetrics;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

const keep = { removeOnComplete: { count: 200 }, removeOnFail: { count: 1000 } };

export class WorkersHost {
  readonly settleQueue: Queue;
  readonly retentionQueue: Queue;
  private workers: Worker[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: WorkersHostOptions) {
    const base = { connection: opts.connection, prefix: opts.prefix };
    this.settleQueue = new Queue(SETTLE_QUEUE, base);
    this.retentionQueue = new Queue(RETENTION_QUEUE, base);
    for (const q of [this.settleQueue, this.retentionQueue]) q.on('error', (err) => opts.logger.warn({ err, queue: q.name }, 'queue error'));
  }

  /** Upserts the schedulers (every replica does; one schedule results) and starts the workers. */
  async start(): Promise<void> {
    await this.settleQueue.upsertJobScheduler(SETTLE_SCHEDULER_ID, { every: this.opts.settleCheckEveryMs }, { name: SETTLE_CHECK_JOB, opts: keep });
    await this.retentionQueue.upsertJobScheduler(RETENTION_SCHEDULER_ID, { pattern: this.opts.retentionPattern, tz: 'UTC' }, { name: RETENTION_PURGE_JOB, opts: keep });
    this.workers = [
      this.worker(SETTLE_QUEUE, (job) => (job.name === SETTLE_RUN_JOB ? this.opts.processors.settleRun(job.data) : this.opts.processors.settleCheck())),
      this.worker(RETENTION_QUEUE, () => this.opts.processors.retentionPurge()),
    ];
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  async enqueueSettleRun(data: SettleRunData, jobId: string): Promise<void> {
    await this.settleQueue.add(SETTLE_RUN_JOB, data, { jobId, attempts: 5, backoff: { type: 'exponential', delay: 2000 }, ...keep });
  }

  async enqueueRetentionRun(jobId: string, requestedBy: string): Promise<void> {
    await this.retentionQueue.add(RETENTION_PURGE_JOB, { requestedBy }, { jobId, attempts: 3, backoff: { type: 'exponential', delay: 5000 }, ...keep });
  }

  get running(): boolean {
    return this.workers.length > 0 && this.workers.every((w) => w.isRunning());
  }

  /** Stops taking jobs and waits for the ones in hand (a SIGTERM mid-fan-out ends after the current day). */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await Promise.allSettled(this.workers.map((w) => w.close()));
      await Promise.allSettled([this.settleQueue.close(), this.retentionQueue.close()]);
    })());
  }

  private worker(queue: string, run: (job: Job) => Promise<unknown>): Worker {
    const { metrics, logger } = this.opts;
    const w = new Worker(queue, run, {
      connection: this.opts.connection,
      prefix: this.opts.prefix,
      concurrency: 1,
      lockDuration: this.opts.lockDurationMs,
      stalledInterval: this.opts.stalledIntervalMs,
      maxStalledCount: this.opts.maxStalledCount,
    });
    w.on('completed', (job, result) => {
      metrics.jobs.inc({ queue, job: job.name, outcome: 'completed' });
      logger.info({ queue, job: job.name, jobId: job.id, result }, 'job completed');
    });
    w.on('failed', (job, err) => {
      metrics.jobs.inc({ queue, job: job?.name ?? 'unknown', outcome: 'failed' });
      logger.warn({ queue, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err }, 'job failed');
    });
    w.on('stalled', (jobId) => {
      metrics.stalled.inc({ queue });
      logger.warn({ queue, jobId }, 'job stalled: its worker stopped renewing the lock; it runs again');
    });
    w.on('error', (err) => logger.warn({ err, queue }, 'worker error'));
    return w;
  }
}
