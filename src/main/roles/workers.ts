// Composition of the `workers` role: BullMQ workers for the settle fan-out, the retention purge and the live handoff's
// jobs (mass revoke, key re-wrap, token refresh schedule), on Redis and PostgreSQL as the batch role, with the operator
// endpoints on the role's ops server.
import { LIVE_COMMAND_TYPES } from '../../contracts/index.js';
import { offsetClock } from '../../domain/index.js';
import { createMarketCalendar } from '../../infra/alpaca/index.js';
import { createDb } from '../../infra/db/index.js';
import { startOpsServer } from '../../infra/http/index.js';
import { closeRedis, createRedis } from '../../infra/redis/index.js';
import {
  createOperatorAuth,
  LIVE_REFRESH_EVERY_MS,
  purgeCeremonies,
  purgeCommandBookkeeping,
  purgeEngineLogs,
  purgeHistory,
  runKeyRotation,
  runMassRevoke,
  runRefreshSchedule,
  runSettleCheck,
  runSettleForDay,
  WorkersHost,
  workersMetrics,
  workersOpsRoutes,
  type FanOutDeps,
  type LiveFanOutDeps,
} from '../../workers/index.js';
import type { RoleContext, RunningRole } from '../role-context.js';
import { envelopeFromConfig } from './live-deps.js';
import { storageChecks } from './readiness.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startWorkers(ctx: RoleContext): Promise<RunningRole> {
  const { config, logger } = ctx;
  const w = config.workers;
  const clock = offsetClock(config.clock.offsetMs);
  const metrics = workersMetrics(ctx.metrics);

  const redis = createRedis(config.redis.url, 'raxx-workers');
  const queueConnection = createRedis(config.redis.url, 'raxx-workers-jobs');
  for (const r of [redis, queueConnection]) r.on('error', () => {}); // readiness and BullMQ's own retries report outages
  const db = createDb(config.database.batchUrl, { max: 4, appName: 'raxx-workers' });
  ctx.onShutdown(async () => {
    await Promise.all([closeRedis(redis), closeRedis(queueConnection), db.close()]);
  });

  const calendar = createMarketCalendar({
    tradingUrl: config.alpaca.tradingUrl,
    credentials: () => ({ keyId: config.secrets.ALPACA_KEY_ID?.current() ?? '', secret: config.secrets.ALPACA_SECRET_KEY?.current() ?? '' }),
  });
  const fanOut: FanOutDeps = {
    sql: db.sql,
    redis,
    partitions: config.accounts.partitions,
    batchSize: w.settle.batchSize,
    batchPauseMs: w.settle.batchPauseMs,
    now: () => clock.now(),
    logger,
    onBatch: (n) => metrics.usersFannedOut.inc(n),
  };
  // KMS for the key re-wrap only: the workers never open a token.
  const envelope = envelopeFromConfig(config);
  const live: LiveFanOutDeps = { db: db.db, redis, partitions: config.accounts.partitions, batchSize: w.settle.batchSize, now: () => clock.now(), logger };

  const countDays = <T extends { days?: Array<{ alreadyComplete: boolean }>; alreadyComplete?: boolean }>(result: T): T => {
    const finished = result.days ?? [result as { alreadyComplete: boolean }];
    metrics.daysFannedOut.inc(finished.filter((d) => !d.alreadyComplete).length);
    return result;
  };

  const host = new WorkersHost({
    connection: queueConnection,
    prefix: w.queuePrefix,
    lockDurationMs: w.lockDurationMs,
    stalledIntervalMs: w.stalledIntervalMs,
    maxStalledCount: w.maxStalledCount,
    settleCheckEveryMs: w.settle.checkEveryMs,
    retentionPattern: w.retention.pattern,
    liveRefreshEveryMs: LIVE_REFRESH_EVERY_MS,
    processors: {
      settleCheck: async () => countDays(await runSettleCheck({ ...fanOut, calendar })),
      settleRun: async (data) => countDays(await runSettleForDay(fanOut, data)),
      retentionPurge: async () => {
        const base = { batchSize: w.retention.batchSize, now: () => clock.now(), logger };
        const tiers = { ...base, freeDays: w.retention.freeDays, proDays: w.retention.proDays };
        const anyTier = (table: string, rows: number) => metrics.rowsPurged.inc({ table, tier: 'any' }, rows);
        return {
          history: await purgeHistory(db.sql, {
            ...tiers,
            onDeleted: (tier, orders, fills) => {
              metrics.rowsPurged.inc({ table: 'orders', tier }, orders);
              metrics.rowsPurged.inc({ table: 'fills', tier }, fills);
            },
          }),
          engineLogs: await purgeEngineLogs(db.sql, { ...tiers, onDeleted: (table, tier, rows) => metrics.rowsPurged.inc({ table, tier }, rows) }),
          ceremonies: await purgeCeremonies(db.sql, { ...base, onDeleted: anyTier }),
          commands: await purgeCommandBookkeeping(db.sql, redis, { ...base, days: w.retention.commandsDays, onDeleted: anyTier }),
        };
      },
      liveRevokeAll: (job) => runMassRevoke({ ...live, onBatch: (n) => metrics.liveCommands.inc({ type: LIVE_COMMAND_TYPES.revoke }, n) }, job),
      liveRotateKeys: (job) =>
        runKeyRotation({ db: db.db, envelope, batchSize: w.settle.batchSize, logger, onBatch: (r) => metrics.liveRewrapped.inc(r.rewrapped) }, job),
      liveRefreshCheck: () => runRefreshSchedule({ ...live, onAppended: (n) => metrics.liveCommands.inc({ type: LIVE_COMMAND_TYPES.refresh }, n) }),
    },
    metrics,
    logger,
  });

  // Schedulers and workers start in the background and retry, so the role serves /healthz and reports not-ready
  // (instead of dying) while Redis is away.
  let stopping = false;
  const starting = (async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await host.start();
        logger.info({ prefix: w.queuePrefix, settleCheckEveryMs: w.settle.checkEveryMs, retentionPattern: w.retention.pattern }, 'workers started');
        return;
      } catch (err) {
        logger.warn({ err, attempt }, 'workers failed to start, retrying');
        await sleep(Math.min(250 * 2 ** attempt, 5000));
      }
    }
  })();
  // Shutdown steps run in reverse: the ops server closes first, then the workers finish the jobs in hand.
  ctx.onShutdown(async () => {
    stopping = true;
    await starting;
    await host.close();
  });

  const auth = createOperatorAuth({
    issuer: config.session.issuer,
    audience: config.session.audience,
    secret: config.secrets.SESSION_JWT_SECRET,
    jwksUrl: config.session.jwksUrl,
    sql: db.sql,
  });
  const ops = await startOpsServer({
    host: config.http.host,
    port: config.http.port,
    role: ctx.role,
    registry: ctx.metrics,
    checks: storageChecks(redis, db),
    describe: () => ({ running: host.running, prefix: w.queuePrefix }),
    extra: workersOpsRoutes({
      auth,
      db: db.db,
      sql: db.sql,
      calendar,
      now: () => clock.now(),
      enqueueSettleRun: (data, jobId) => host.enqueueSettleRun(data, jobId),
      enqueueRetentionRun: (jobId, requestedBy) => host.enqueueRetentionRun(jobId, requestedBy),
      live: host.liveOps((keyId) => envelope.keyArn(keyId)),
      logger,
    }),
  });
  ctx.onShutdown(() => ops.close());
  return {
    url: ops.url,
    note: `BullMQ workers: settle fan-out every ${w.settle.checkEveryMs} ms, retention purge "${w.retention.pattern}" UTC, live token refresh every ${LIVE_REFRESH_EVERY_MS} ms`,
  };
}
