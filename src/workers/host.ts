// The BullMQ side of the workers role: the queues, their job schedulers and one worker per queue.
//
// Delivery: BullMQ is at-least-once. A worker that dies (or blocks its event loop past the lock) has its job moved back
// to wait by another worker's stalled check and run again, up to maxStalledCount times. Every processor here is
// idempotent (deterministic command ids, a resumable cursor, DELETEs of what is still there), so a re-run is safe.
import { Queue, Worker, type Job, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkersMetrics } from './metrics.js';
import type { WorkersOpsDeps } from './ops-routes.js';
import {
  LIVE_OPS_QUEUE,
  LIVE_REFRESH_CHECK_JOB,
  LIVE_REFRESH_QUEUE,
  LIVE_REFRESH_SCHEDULER_ID,
  LIVE_REVOKE_ALL_JOB,
  LIVE_ROTATE_KEYS_JOB,
  RETENTION_PURGE_JOB,
  RETENTION_QUEUE,
  RETENTION_SCHEDULER_ID,
  SETTLE_CHECK_JOB,
  SETTLE_QUEUE,
  SETTLE_RUN_JOB,
  SETTLE_SCHEDULER_ID,
  type LiveRevokeAllData,
  type LiveRotateKeysData,
  type ProgressJob,
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
  /** Tick of the live token-refresh schedule. */
  liveRefreshEveryMs: number;
  processors: {
    settleCheck(): Promise<unknown>;
    settleRun(data: unknown): Promise<unknown>;
    retentionPurge(): Promise<unknown>;
    /** Resumable: they save progress on the job and read it back on a retry. */
    liveRevokeAll(job: ProgressJob): Promise<unknown>;
    liveRotateKeys(job: ProgressJob): Promise<unknown>;
    liveRefreshCheck(): Promise<unknown>;
  };
  metrics: WorkersMetrics;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

const keep = { removeOnComplete: { count: 200 }, removeOnFail: { count: 1000 } };
/** Operator batch runs: retried from their saved progress (KMS or Redis away for a while). */
const operatorRun = { attempts: 5, backoff: { type: 'exponential', delay: 2000 }, ...keep };

/** What `GET /ops/live/jobs/{id}` shows of a live operator job (its data holds no secret: a reason, a key ARN). */
export interface LiveJobView {
  jobId: string;
  name: string;
  state: JobState | 'unknown';
  data: unknown;
  progress: unknown;
  result: unknown;
  failedReason: string | null;
  attemptsMade: number;
  createdAt: string;
  processedAt: string | null;
  finishedAt: string | null;
}

export class WorkersHost {
  readonly settleQueue: Queue;
  readonly retentionQueue: Queue;
  readonly liveOpsQueue: Queue;
  readonly liveRefreshQueue: Queue;
  private workers: Worker[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: WorkersHostOptions) {
    const base = { connection: opts.connection, prefix: opts.prefix };
    this.settleQueue = new Queue(SETTLE_QUEUE, base);
    this.retentionQueue = new Queue(RETENTION_QUEUE, base);
    this.liveOpsQueue = new Queue(LIVE_OPS_QUEUE, base);
    this.liveRefreshQueue = new Queue(LIVE_REFRESH_QUEUE, base);
    for (const q of this.queues) q.on('error', (err) => opts.logger.warn({ err, queue: q.name }, 'queue error'));
  }

  /** Upserts the schedulers (every replica does; one schedule results) and starts the workers. */
  async start(): Promise<void> {
    await this.settleQueue.upsertJobScheduler(SETTLE_SCHEDULER_ID, { every: this.opts.settleCheckEveryMs }, { name: SETTLE_CHECK_JOB, opts: keep });
    await this.retentionQueue.upsertJobScheduler(RETENTION_SCHEDULER_ID, { pattern: this.opts.retentionPattern, tz: 'UTC' }, { name: RETENTION_PURGE_JOB, opts: keep });
    await this.liveRefreshQueue.upsertJobScheduler(LIVE_REFRESH_SCHEDULER_ID, { every: this.opts.liveRefreshEveryMs }, { name: LIVE_REFRESH_CHECK_JOB, opts: keep });
    const p = this.opts.processors;
    this.workers = [
      this.worker(SETTLE_QUEUE, (job) => (job.name === SETTLE_RUN_JOB ? p.settleRun(job.data) : p.settleCheck())),
      this.worker(RETENTION_QUEUE, () => p.retentionPurge()),
      this.worker(LIVE_OPS_QUEUE, (job) => {
        if (job.name === LIVE_REVOKE_ALL_JOB) return p.liveRevokeAll(job);
        if (job.name === LIVE_ROTATE_KEYS_JOB) return p.liveRotateKeys(job);
        throw new Error(`unknown live job ${job.name}`);
      }),
      this.worker(LIVE_REFRESH_QUEUE, () => p.liveRefreshCheck()),
    ];
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  async enqueueSettleRun(data: SettleRunData, jobId: string): Promise<void> {
    await this.settleQueue.add(SETTLE_RUN_JOB, data, { jobId, attempts: 5, backoff: { type: 'exponential', delay: 2000 }, ...keep });
  }

  async enqueueRetentionRun(jobId: string, requestedBy: string): Promise<void> {
    await this.retentionQueue.add(RETENTION_PURGE_JOB, { requestedBy }, { jobId, attempts: 3, backoff: { type: 'exponential', delay: 5000 }, ...keep });
  }

  async enqueueLiveRevokeAll(data: LiveRevokeAllData, jobId: string): Promise<void> {
    await this.liveOpsQueue.add(LIVE_REVOKE_ALL_JOB, data, { jobId, ...operatorRun });
  }

  /**
   * One key re-wrap at a time (two runs to different keys would move rows back and forth): BullMQ's deduplication
   * ignores the add while another re-wrap is unfinished (retries included). Returns the id of the job that runs.
   */
  async enqueueLiveRotateKeys(data: LiveRotateKeysData, jobId: string): Promise<string> {
    const job = await this.liveOpsQueue.add(LIVE_ROTATE_KEYS_JOB, data, { jobId, deduplication: { id: LIVE_ROTATE_KEYS_JOB }, ...operatorRun });
    return job.id ?? jobId;
  }

  /**
   * One live operator job, or undefined when unknown (never enqueued, or trimmed from the kept history). The state is
   * read before the job: read after, a job finishing in between showed "completed" with its running attempt's fields
   * (no result, one attempt fewer — seen in a test under load). A state read first can only be older than the fields.
   */
  async liveJob(jobId: string): Promise<LiveJobView | undefined> {
    const state = await this.liveOpsQueue.getJobState(jobId);
    const job = await this.liveOpsQueue.getJob(jobId);
    return job ? view(job, state) : undefined;
  }

  /** The most recent live operator jobs, newest first. */
  async recentLiveJobs(limit: number): Promise<LiveJobView[]> {
    const jobs = await this.liveOpsQueue.getJobs(['active', 'waiting', 'delayed', 'prioritized', 'completed', 'failed'], 0, limit - 1, false);
    const views = (await Promise.all(jobs.map((j) => (j.id ? this.liveJob(j.id) : undefined)))).filter((v): v is LiveJobView => v !== undefined);
    return views.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0)).slice(0, limit);
  }

  /** The live operator jobs as the ops routes use them; `resolveKeyArn` is KMS DescribeKey. */
  liveOps(resolveKeyArn: (keyId: string) => Promise<string>): WorkersOpsDeps['live'] {
    return {
      enqueueRevokeAll: (data, jobId) => this.enqueueLiveRevokeAll(data, jobId),
      enqueueRotateKeys: (data, jobId) => this.enqueueLiveRotateKeys(data, jobId),
      resolveKeyArn,
      job: (jobId) => this.liveJob(jobId),
      recentJobs: (limit) => this.recentLiveJobs(limit),
    };
  }

  get running(): boolean {
    return this.workers.length > 0 && this.workers.every((w) => w.isRunning());
  }

  /** Stops taking jobs and waits for the ones in hand (a SIGTERM mid-fan-out ends after the current day). */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await Promise.allSettled(this.workers.map((w) => w.close()));
      await Promise.allSettled(this.queues.map((q) => q.close()));
    })());
  }

  private get queues(): Queue[] {
    return [this.settleQueue, this.retentionQueue, this.liveOpsQueue, this.liveRefreshQueue];
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

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

function view(job: Job, state: JobState | 'unknown'): LiveJobView {
  return {
    jobId: job.id ?? '',
    name: job.name,
    state,
    data: job.data,
    progress: job.progress,
    result: job.returnvalue ?? null,
    failedReason: job.failedReason || null,
    attemptsMade: job.attemptsMade,
    createdAt: new Date(job.timestamp).toISOString(),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
  };
}
