// Composition of the `feed` role: the feed actor wired to Redis (fenced scripts), BullMQ, PostgreSQL and the upstream SDK stream.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Counter, Gauge } from 'prom-client';
import { marketDataKeys, type HubStatus } from '../../contracts/index.js';
import { offsetClock } from '../../domain/index.js';
import { FeedActor, type FeedTick, type UpstreamFault } from '../../actors/feed/index.js';
import { createUpstream, type UpstreamEvent } from '../../actors/feed/upstream/index.js';
import { pollMarketClock } from '../../infra/alpaca/index.js';
import { createDb } from '../../infra/db/index.js';
import { startOpsServer } from '../../infra/http/index.js';
import {
  BAR_CLOSE_QUEUE,
  BarCloseJobs,
  DelayConsumer,
  DemandTracker,
  LeaderLease,
  TickPublisher,
  listEnabledRules,
  readDemandUnion,
  setHubStatus,
  subscribeDemandChanges,
} from '../../infra/market-data/index.js';
import { closeRedis, createRedis } from '../../infra/redis/index.js';
import type { RoleContext, RunningRole } from '../role-context.js';
import { storageChecks } from './readiness.js';

export async function startFeed(ctx: RoleContext): Promise<RunningRole> {
  const { config, logger } = ctx;
  const keyId = config.secrets.ALPACA_KEY_ID;
  const secret = config.secrets.ALPACA_SECRET_KEY;
  if (!keyId || !secret) throw new Error('the feed needs the market-data key: set ALPACA_KEY_ID_FILE and ALPACA_SECRET_KEY_FILE (or ALPACA_KEY_ID / ALPACA_SECRET_KEY)');
  const credentials = () => ({ keyId: keyId.current(), secret: secret.current() });
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const clock = offsetClock(config.clock.offsetMs);

  const redis = createRedis(config.redis.url, 'raxx-feed');
  const subscriber = createRedis(config.redis.url, 'raxx-feed-sub');
  const queueConnection = createRedis(config.redis.url, 'raxx-feed-jobs');
  for (const r of [redis, subscriber, queueConnection]) r.on('error', () => {}); // readiness and the lease loop report outages
  const db = createDb(config.database.appUrl, { max: 2, appName: 'raxx-feed' });
  const queue = new Queue(BAR_CLOSE_QUEUE, { connection: queueConnection });
  queue.on('error', (err) => logger.debug({ err }, 'bar-close queue error'));
  ctx.onShutdown(async () => {
    await queue.close().catch(() => undefined);
    await Promise.all([closeRedis(redis), closeRedis(subscriber), closeRedis(queueConnection), db.close()]);
  });

  const metrics = feedMetrics(ctx);
  const publisher = new TickPublisher(redis, { replayWindowMs: config.feed.replayWindowMs, now: () => clock.now() });
  const delayConsumer = new DelayConsumer(redis, { delayMs: config.tiers.freeDelayMs, now: () => clock.now() });
  const barJobs = new BarCloseJobs(queue, () => clock.now());
  const lease = new LeaderLease(redis);
  const tracker = new DemandTracker({ graceMs: config.feed.demandGraceMs, now: () => clock.now() });
  const marketClock = pollMarketClock({ tradingUrl: config.alpaca.tradingUrl, credentials, onError: (err) => logger.debug({ err }, 'market clock unavailable') });
  ctx.onShutdown(() => marketClock.close());

  let rules: Array<{ id: string; symbols: readonly string[] }> = [];
  let currentUpstream: ReturnType<typeof createUpstream> | undefined;

  const actor: FeedActor = new FeedActor({
    clock,
    disabledByConfig: config.alpaca.marketDataDisabled,
    timing: { leaseRenewMs: config.feed.leaseRenewMs },
    lease: {
      acquireOrRenew: async () => {
        const state = await lease.acquireOrRenew(owner, config.feed.leaseTtlMs);
        return { leader: state.leader, epoch: state.epoch };
      },
      release: async (epoch) => {
        await lease.release(owner, epoch);
      },
    },
    sink: {
      publish: async (epoch, ticks) => {
        const result = await publisher.publishTicks(epoch, ticks.map(toTickInput));
        if (!result.ok) return 'fenced';
        for (const t of ticks) metrics.published.inc({ kind: t.kind });
        return 'ok';
      },
    },
    delayLine: {
      releaseDue: async (epoch) => {
        const flushed = await publisher.flushDelay(epoch);
        if (!flushed.ok) return 'fenced';
        const result = await delayConsumer.releaseDue(epoch);
        if (!result.ok) return 'fenced';
        const lagMs = result.oldestAgeMs === null ? 0 : Math.max(0, result.oldestAgeMs - config.tiers.freeDelayMs);
        return { released: result.released, lagMs };
      },
    },
    demand: {
      union: async () => {
        const desired = tracker.update(await readDemandUnion(redis));
        for (const s of config.feed.alwaysSymbols) desired.add(s);
        return desired;
      },
      onChange: (listener) => subscribeDemandChanges(subscriber, () => listener()),
    },
    rules: {
      load: async () => {
        rules = await listEnabledRules(db.db);
        return new Map(rules.map((r) => [r.id, r.symbols]));
      },
    },
    barJobs: {
      enqueue: async (tick, ruleIds) => {
        const f = tick.fields as Record<string, number>;
        const bar = { symbol: tick.symbol, t: tick.t, o: f.o!, h: f.h!, l: f.l!, c: f.c!, v: f.v!, ...(f.n !== undefined ? { n: f.n } : {}), ...(f.vw !== undefined ? { vw: f.vw } : {}) };
        await barJobs.enqueue(bar, rules.filter((r) => ruleIds.includes(r.id)));
        metrics.barJobs.inc(ruleIds.length);
      },
    },
    status: {
      set: (epoch: number, status: HubStatus) => setHubStatus(redis, epoch, status),
      killSwitchOn: async () => (await redis.get(marketDataKeys.killSwitch)) === '1',
    },
    createUpstream: (onTicks) => {
      publisher.setMode(config.alpaca.dataFeed === 'delayed_sip' ? 'fallback' : 'rt');
      currentUpstream = createUpstream({
        url: config.alpaca.dataStreamUrl,
        feed: config.alpaca.dataFeed,
        credentials,
        stallTimeoutMs: config.feed.stallTimeoutMs,
        slotBackoffMs: config.feed.slotBackoffMs,
        isMarketOpen: () => marketClock.isOpen(),
        log: logger,
        onTicks: (ticks) => {
          metrics.upstream.inc(ticks.length);
          onTicks(ticks);
        },
        onEvent: (event) => onUpstreamEvent(event),
      });
      return currentUpstream;
    },
    events: {
      leadership: (leader, epoch) => {
        metrics.leader.set(leader ? 1 : 0);
        logger.info({ leader, epoch, owner }, leader ? 'became feed leader' : 'stepped down');
      },
      fenced: (epoch) => {
        metrics.fenced.inc();
        logger.warn({ epoch }, 'publish fenced: another replica holds the lease');
      },
      delayReleased: (_released, lagMs) => metrics.delayLag.set(lagMs),
      statusChanged: (status) => logger.info({ status }, 'hub status'),
      symbols: (count) => metrics.symbols.set(count),
      error: (where, err) => logger.warn({ err, where }, 'feed error'),
    },
  });

  const faulted = (reason: UpstreamFault): void => void actor.upstreamFaulted(reason).catch((err) => logger.warn({ err }, 'hub status update failed'));

  function onUpstreamEvent(event: UpstreamEvent): void {
    switch (event.type) {
      case 'disconnected':
        faulted('upstream_unavailable');
        break;
      case 'live': {
        // The feed actually served decides the labels: after a key rotation the fallback may be over.
        const delayed = event.feed === 'delayed_sip';
        publisher.setMode(delayed ? 'fallback' : 'rt');
        void actor.upstreamDelayed(delayed).catch(() => undefined);
        logger.info({ feed: event.feed }, 'upstream live');
        break;
      }
      case 'backoff':
        faulted('upstream_unavailable');
        metrics.reconnects.inc();
        logger.info({ delayMs: event.delayMs, reason: event.reason }, 'upstream backoff');
        break;
      case 'slot_busy':
        faulted('upstream_unavailable');
        metrics.reconnects.inc();
        logger.warn({ attempts: event.attempts, delayMs: event.delayMs }, 'upstream slot held elsewhere (406): backing off');
        break;
      case 'auth_failed':
        faulted('upstream_auth_failed');
        metrics.alerts.inc({ kind: 'auth_failed' });
        logger.error({ code: event.code }, 'ALERT upstream rejected the market-data key (402): fix or rotate the key');
        break;
      case 'feed_fallback':
        publisher.setMode('fallback');
        logger.warn({ from: event.from, to: event.to }, 'upstream entitlement fallback: serving delayed data');
        void actor.upstreamDelayed(true).catch(() => undefined);
        break;
      case 'insufficient_subscription':
        faulted('upstream_not_entitled');
        metrics.alerts.inc({ kind: 'insufficient_subscription' });
        logger.error({ feed: event.feed }, 'ALERT the key has no entitlement for this feed (409)');
        break;
      case 'symbol_limit':
        metrics.alerts.inc({ kind: 'symbol_limit' });
        logger.warn({ requested: event.requested, subscribed: event.subscribed }, 'upstream symbol limit (405)');
        break;
      case 'stall':
        faulted('upstream_stalled');
        logger.warn({ action: event.action, silentMs: event.silentMs }, 'upstream stalled');
        break;
      case 'upstream_error':
        logger.warn({ code: event.code, message: event.message }, 'upstream error');
        break;
      default:
        break;
    }
  }

  // A rotated key file reconnects with the new key, without a redeploy.
  for (const s of [keyId, secret]) s.onChange(() => currentUpstream?.reconnect('key rotated'));

  actor.start();
  ctx.onShutdown(() => actor.stop());

  const ops = await startOpsServer({
    host: config.http.host,
    port: config.http.port,
    role: ctx.role,
    registry: ctx.metrics,
    checks: {
      ...storageChecks(redis, db),
    },
    describe: () => ({ leader: actor.isLeader, epoch: actor.currentEpoch, owner, upstream: currentUpstream?.state ?? 'none' }),
  });
  ctx.onShutdown(() => ops.close());
  return { url: ops.url };
}

/** `{"T":…,"S":…,…fields,"t":…` without the closing brace: the fenced script appends src and seq. */
function toTickInput(tick: FeedTick): { kind: FeedTick['kind']; symbol: string; body: string } {
  const json = JSON.stringify({ T: tick.kind, S: tick.symbol, ...tick.fields, t: tick.t });
  return { kind: tick.kind, symbol: tick.symbol, body: json.slice(0, -1) };
}

function feedMetrics(ctx: RoleContext) {
  const registers = [ctx.metrics];
  return {
    upstream: new Counter({ name: 'raxx_feed_upstream_messages_total', help: 'Upstream data messages accepted', registers }),
    published: new Counter({ name: 'raxx_feed_published_total', help: 'Ticks published on the real-time line, by kind', labelNames: ['kind'], registers }),
    reconnects: new Counter({ name: 'raxx_feed_upstream_reconnects_total', help: 'Upstream reconnects scheduled', registers }),
    fenced: new Counter({ name: 'raxx_feed_fenced_total', help: 'Publishes refused because the lease moved on', registers }),
    alerts: new Counter({ name: 'raxx_feed_alerts_total', help: 'Upstream conditions that need a human', labelNames: ['kind'], registers }),
    barJobs: new Counter({ name: 'raxx_feed_bar_close_jobs_total', help: 'Bar-close jobs enqueued (before dedupe)', registers }),
    symbols: new Gauge({ name: 'raxx_feed_symbols', help: 'Symbols the leader wants subscribed', registers }),
    leader: new Gauge({ name: 'raxx_feed_leader', help: '1 while this replica is the feed leader', registers }),
    delayLag: new Gauge({ name: 'raxx_feed_delay_lag_ms', help: 'How far the delay line runs behind its due time', registers }),
  };
}
