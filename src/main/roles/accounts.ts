// Composition of the `accounts` role: the partitioned actor runtime hosting the account actors, their decisions
// and domain events appended to each user's private event log, and the ops endpoints.
import { Counter, Gauge } from 'prom-client';
import { accountEvents, createAccountHost } from '../../actors/account/index.js';
import { createDb } from '../../infra/db/index.js';
import { startOpsServer } from '../../infra/http/index.js';
import { closeRedis, createRedis } from '../../infra/redis/index.js';
import { UserEventLog } from '../../infra/user-events/index.js';
import { PartitionRuntime } from '../../runtime/index.js';
import type { RoleContext, RunningRole } from '../role-context.js';
import { storageChecks } from './readiness.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startAccounts(ctx: RoleContext): Promise<RunningRole> {
  const { config, logger } = ctx;
  const registers = [ctx.metrics];
  const metrics = {
    decisions: new Counter({ name: 'raxx_accounts_decisions_total', help: 'Command decisions after commit, by outcome and code', labelNames: ['outcome', 'code', 'replayed'], registers }),
    eventFailures: new Counter({ name: 'raxx_accounts_event_append_failures_total', help: 'Private-log appends given up after retries', registers }),
    deadLetters: new Counter({ name: 'raxx_accounts_dead_letters_total', help: 'Command entries moved to cmd:dead', registers }),
  };

  const redis = createRedis(config.redis.url, 'raxx-accounts');
  redis.on('error', () => {}); // readiness and the runtime's own retries report outages
  const db = createDb(config.database.appUrl, { max: 10, appName: 'raxx-accounts' });
  ctx.onShutdown(async () => {
    await Promise.all([closeRedis(redis), db.close()]);
  });

  const events = new UserEventLog(redis, {
    onError: (err, userId, commandId) => {
      metrics.eventFailures.inc();
      logger.error({ err, userId, commandId }, 'private event log append failed after retries: events of this command are missing');
    },
  });
  ctx.onShutdown(() => events.drain());

  const runtime = new PartitionRuntime({
    redis,
    db: db.db,
    partitions: config.accounts.partitions,
    host: createAccountHost({ startingCash: config.accounts.startingCash }),
    logger,
    onDecision: (envelope, decision) => {
      metrics.decisions.inc({ outcome: decision.outcome, code: decision.code ?? decision.outcome, replayed: String(decision.replayed) });
      // Idempotent per command (dedupe marker in Redis): a replayed decision re-appends only if the first append never landed.
      return events.submit(envelope.userId, accountEvents(envelope, decision), envelope.id);
    },
    onDeadLetter: (entryId, reason, partition) => {
      metrics.deadLetters.inc();
      logger.warn({ entryId, reason, partition }, 'command dead-lettered');
    },
  });
  new Gauge({
    name: 'raxx_accounts_owned_partitions',
    help: 'Command partitions this replica owns',
    registers,
    collect() {
      this.set(runtime.ownedPartitions().length);
    },
  });

  // The runtime starts in the background and keeps retrying, so the role serves /healthz and reports
  // not-ready (instead of dying) while Redis or PostgreSQL is away.
  let started = false;
  let stopping = false;
  const starting = (async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await runtime.start();
        started = true;
        logger.info({ owner: runtime.owner, partitions: runtime.ownedPartitions() }, 'account runtime started');
        return;
      } catch (err) {
        await runtime.stop().catch(() => undefined);
        logger.warn({ err, attempt }, 'account runtime failed to start, retrying');
        await sleep(Math.min(250 * 2 ** attempt, 5000));
      }
    }
  })();
  ctx.onShutdown(async () => {
    stopping = true;
    await starting;
    await runtime.stop();
  });

  const ops = await startOpsServer({
    host: config.http.host,
    port: config.http.port,
    role: ctx.role,
    registry: ctx.metrics,
    checks: {
      ...storageChecks(redis, db),
      runtime: async () => {
        if (!started) throw new Error('the account runtime has not started yet');
      },
    },
    describe: () => {
      const s = runtime.stats();
      return { owner: runtime.owner, started, partitions: config.accounts.partitions, owned: s.owned, applied: s.applied, replayed: s.replayed, deadLettered: s.deadLettered };
    },
  });
  ctx.onShutdown(() => ops.close());
  return { url: ops.url, note: `account actors over ${config.accounts.partitions} partitions` };
}
