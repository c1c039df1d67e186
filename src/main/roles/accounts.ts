// Composition of the `accounts` role: the partitioned actor runtime hosting the account actors, their decisions
// and domain events appended to each user's private event log, and the ops endpoints.
import { Counter, Gauge, Histogram } from 'prom-client';
import {
  accountEvents,
  createAccountHost,
  createMarketQuotes,
  createSessionCache,
  isLiveCommandType,
  openOrderSymbolsByUser,
  openSymbolsFromEngines,
  QuoteRouter,
  LIVE_FOLLOW_SIGNAL,
  reconcileOpenOrders,
  SessionClock,
  TradeFollowers,
  type RecordedEffect,
  type SignalEffect,
  type UserEventDraft,
} from '../../actors/account/index.js';
import { createAlpacaBroker, followTradeUpdates } from '../../infra/broker/index.js';
import { usersWithLiveOrdersToReconcile } from '../../infra/live/live-orders.js';
import { offsetClock } from '../../domain/index.js';
import { createAssetDirectory, createMarketCalendar } from '../../infra/alpaca/index.js';
import { createDb } from '../../infra/db/index.js';
import { startOpsServer } from '../../infra/http/index.js';
import { closeRedis, createRedis } from '../../infra/redis/index.js';
import { deleteEffects, recoverEffects } from '../../infra/signal-outbox/index.js';
import { UserEventLog } from '../../infra/user-events/index.js';
import { PartitionRuntime, partitionOf } from '../../runtime/index.js';
import type { RoleContext, RunningRole } from '../role-context.js';
import { envelopeFromConfig, oauthFromConfig, standingFromConfig } from './live-deps.js';
import { storageChecks } from './readiness.js';

/** Live commands (broker and KMS calls) in flight at once per replica, each in a solo turn of its own. */
const SOLO_TURNS = 4;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startAccounts(ctx: RoleContext): Promise<RunningRole> {
  const { config, logger } = ctx;
  const registers = [ctx.metrics];
  const metrics = {
    decisions: new Counter({ name: 'raxx_accounts_decisions_total', help: 'Command decisions after commit, by outcome and code', labelNames: ['outcome', 'code', 'replayed'], registers }),
    eventFailures: new Counter({ name: 'raxx_accounts_event_append_failures_total', help: 'Private-log appends given up after retries', registers }),
    deadLetters: new Counter({ name: 'raxx_accounts_dead_letters_total', help: 'Command entries moved to cmd:dead', registers }),
    // A turn's transaction is where a command's (and a fill's) latency goes: its tail is what to alert on.
    turnSeconds: new Histogram({
      name: 'raxx_accounts_turn_seconds',
      help: "Turn transactions (BEGIN to COMMIT's answer), by kind (command, signal) and outcome (committed, fenced_out, failed)",
      labelNames: ['kind', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    turnPhaseSeconds: new Histogram({
      name: 'raxx_accounts_turn_phase_seconds',
      help: "Committed turns' phases: begin (a connection, BEGIN sent), fence (first round trip: scope, fence, lookups), work (the handler and its writes), decide (command turns: the part of work until the handlers decided), commit (COMMIT's round trip: the WAL flush)",
      labelNames: ['kind', 'phase'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    // The wait before a turn (mailbox, linger, a busy partition) that turn timings cannot show.
    commandSeconds: new Histogram({
      name: 'raxx_accounts_command_seconds',
      help: "Commands from their stream append (the entry id's time, Redis's clock) until their turn began (stage queued) and until their decision was handed on to the private event log (stage decided)",
      labelNames: ['stage'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    turnMessages: new Histogram({
      name: 'raxx_accounts_turn_messages',
      help: 'Commands or signals one turn carried, by kind (batching grows with load)',
      labelNames: ['kind'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
  };

  // Observed per command: the labelled children are looked up once, not hashed from their labels on every call.
  const commandQueued = metrics.commandSeconds.labels({ stage: 'queued' });
  const commandDecided = metrics.commandSeconds.labels({ stage: 'decided' });

  // Auto-pipelined: a turn's private-log appends, and the reads of several partitions, share one write.
  const redis = createRedis(config.redis.url, 'raxx-accounts', { autoPipelining: true });
  redis.on('error', () => {}); // readiness and the runtime's own retries report outages
  // One connection per concurrent turn (solo ones included), and two for partition claims and the live handoff's
  // reads: a turn never waits.
  const db = createDb(config.database.appUrl, { max: config.accounts.maxConcurrentTurns + SOLO_TURNS + 2, appName: 'raxx-accounts', genericPlans: true });
  ctx.onShutdown(async () => {
    await Promise.all([closeRedis(redis), db.close()]);
  });

  // The paper engine's inputs: the shared clock, session events from the calendar, asset facts, the hub's quotes.
  const credentials = () => ({ keyId: config.secrets.ALPACA_KEY_ID?.current() ?? '', secret: config.secrets.ALPACA_SECRET_KEY?.current() ?? '' });
  const assets = createAssetDirectory({ tradingUrl: config.alpaca.tradingUrl, credentials, onError: (err) => logger.debug({ err }, 'asset list unavailable') });
  ctx.onShutdown(() => assets.close());
  const mbt = {
    clock: offsetClock(config.clock.offsetMs),
    sessions: createSessionCache(createMarketCalendar({ tradingUrl: config.alpaca.tradingUrl, credentials }), {
      onError: (err) => logger.warn({ err }, 'market calendar unavailable: paper orders see no new session events'),
    }),
    assets,
    quotes: createMarketQuotes(redis),
    feed: config.alpaca.dataFeed,
  };

  const events = new UserEventLog(redis, {
    onError: (err, userId, commandId) => {
      metrics.eventFailures.inc();
      logger.error({ err, userId, commandId }, 'private event log append failed after retries: events of this command are missing');
    },
  });
  ctx.onShutdown(() => events.drain());

  // Open orders of newly owned partitions are read across users: the batch role (RLS would hide them from raxx_app).
  const batchDb = createDb(config.database.batchUrl, { max: 2, appName: 'raxx-accounts-quotes' });
  ctx.onShutdown(() => batchDb.close());
  // The live handoff: tokens opened with KMS once per actor activation, orders through the broker adapter, fills
  // followed on the user's own trade_updates stream and delivered as signals (docs/live-handoff.md).
  const oauth = oauthFromConfig(config, db.db);
  const streamUrl = `${config.alpaca.tradingUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/stream`;
  const broker = createAlpacaBroker({ baseUrl: config.alpaca.tradingUrl, timeoutMs: config.alpaca.brokerTimeoutMs });
  const followers = new TradeFollowers({
    follow: (token, onUpdate, onState) => followTradeUpdates({ url: streamUrl, token, onUpdate, onState }),
    deliver: (signal) => runtime.deliver(signal),
    onState: (userId, state) => logger.info({ user: userId, state }, 'live trade updates'),
    onAuthorized: (userId, token) =>
      void reconcileOpenOrders({ db: db.db, broker, deliver: (signal) => runtime.deliver(signal) }, userId, token).catch((err: unknown) =>
        logger.warn({ err, user: userId }, 'live order reconcile failed; the next trade update or command catches up'),
      ),
  });
  ctx.onShutdown(() => followers.stopAll());
  const live = {
    db: db.db,
    envelope: envelopeFromConfig(config),
    broker,
    refresh: (refreshToken: string) => oauth.refresh(refreshToken),
    standing: standingFromConfig(config),
    reconsentDays: config.alpaca.reconsentDays,
    onLiveOrders: (userId: string, token: () => string | undefined) => followers.ensure(userId, token),
    onDisconnected: (userId: string) => void followers.stop(userId),
  };
  const host = createAccountHost({ startingCash: config.accounts.startingCash, mbt, live });
  const runtime = new PartitionRuntime({
    redis,
    db: db.db,
    partitions: config.accounts.partitions,
    leaseTtlMs: config.accounts.leaseTtlMs,
    // Few turns at once, each carrying every partition ready when it starts: on a small machine 16 concurrent
    // transactions only interleave (turns of 30–150 ms at 200 orders/s), where 4–8 finish in 13–22 ms with more commands
    // each (docs/bench-orders.md, "Fewer turns at once").
    maxConcurrentTurns: config.accounts.maxConcurrentTurns,
    // While one or two turns are in flight, a small turn waits a few ms for more commands: fewer turns, each paying
    // its fixed cost for more commands (docs/accounts.md, ACCOUNTS_TURN_LINGER_MS).
    turnLingerMs: config.accounts.turnLingerMs,
    // A turn of first deliveries whose state is in memory goes out whole, fence to COMMIT, in one round trip
    // (docs/runtime.md, "Blind turns").
    blindTurns: config.accounts.blindTurns,
    maxTurnPartitions: config.accounts.maxTurnPartitions,
    // A live command waits on the broker and KMS inside its turn (up to ALPACA_BROKER_TIMEOUT_MS): it runs alone, in
    // slots of its own, so a slow broker holds neither the other partitions a shared turn would carry nor the paper
    // turns' slots (docs/accounts.md, "Solo turns").
    solo: isLiveCommandType,
    maxSoloTurns: SOLO_TURNS,
    // Read a partition when appendCommand's wake-up says it has entries (full reads every 1 s as the fallback).
    wakeups: true,
    host,
    logger,
    onTurn: (t) => {
      metrics.turnSeconds.observe({ kind: t.kind, outcome: t.outcome }, t.ms / 1000);
      metrics.turnMessages.observe({ kind: t.kind }, t.messages);
      if (t.outcome !== 'committed') return;
      for (const [phase, ms] of Object.entries(t.phases)) metrics.turnPhaseSeconds.observe({ kind: t.kind, phase }, ms / 1000);
    },
    onCommandLatency: (queuedMs, decidedMs) => {
      commandQueued.observe(queuedMs / 1000);
      commandDecided.observe(decidedMs / 1000);
    },
    onDecision: (envelope, decision) => {
      metrics.decisions.inc({ outcome: decision.outcome, code: decision.code ?? decision.outcome, replayed: String(decision.replayed) });
      router.touched([envelope.userId]);
      // Idempotent per command (dedupe marker in Redis): a replayed decision re-appends only if the first append never landed.
      return events.submit(envelope.userId, accountEvents(envelope, decision), envelope.id);
    },
    // Fills and expiries from quotes and clock ticks: the same private log, deduplicated by the engine's input range.
    // The turn stored them in signal_outbox: the row goes once every append of it landed (else the sweep retries it).
    onSignalEffects: async (effects) => {
      const list = effects as Array<SignalEffect & Partial<Pick<RecordedEffect, 'outboxId'>>>;
      router.touched(list.map((e) => e.userId));
      const [appended, ids] = await Promise.all([Promise.all(list.map((e) => events.submit(e.userId, e.events, e.key))), Promise.all(list.map((e) => e.outboxId))]);
      const rows = new Map<number, { users: Set<string>; ok: boolean }>();
      list.forEach((e, i) => {
        const id = ids[i];
        if (id === undefined) return;
        const row = rows.get(id) ?? { users: new Set<string>(), ok: true };
        row.users.add(e.userId);
        row.ok &&= appended[i] !== undefined;
        rows.set(id, row);
      });
      for (const [id, row] of rows) if (row.ok) outboxDone.push(id);
    },
    onPartitionsChanged: (owned) => {
      router.partitionsChanged(owned);
      void outboxSweep(owned);
      // Live orders still open (or drafts with a submit attempt) in partitions taken over: follow their users' trade
      // updates now (a signal turn opens the token; the stream's authorisation reconciles them by client_order_id).
      const mine = new Set(owned);
      void usersWithLiveOrdersToReconcile(batchDb.db)
        .then((users) => users.forEach((userId) => mine.has(partitionOf(userId, config.accounts.partitions)) && runtime.deliver({ userId, kind: LIVE_FOLLOW_SIGNAL, payload: null })))
        .catch((err: unknown) => logger.warn({ err }, 'open live orders unavailable: their users are followed from their next command'));
    },
    onDeadLetter: (entryId, reason, partition) => {
      metrics.deadLetters.inc();
      logger.warn({ entryId, reason, partition }, 'command dead-lettered');
    },
  });
  // Events of signal turns a dead replica committed but never appended (signal_outbox), appended by the new owner;
  // also swept every 10 s, for appends this replica gave up on while Redis was away.
  const outboxRecovered = new Counter({ name: 'raxx_accounts_signal_outbox_recovered_total', help: 'signal_outbox rows appended by the sweep (left by a crash or a failed append)', registers });
  // Appended rows are deleted in one statement every 200 ms, not one transaction per signal turn.
  const outboxDone: number[] = [];
  const flushOutbox = () =>
    outboxDone.length === 0
      ? Promise.resolve()
      : deleteEffects(batchDb.db, outboxDone.splice(0)).catch((err: unknown) => logger.warn({ err }, 'signal outbox rows not deleted; the sweep appends them again (deduplicated)'));
  const flushTimer = setInterval(() => void flushOutbox(), 200);
  flushTimer.unref();
  ctx.onShutdown(async () => {
    clearInterval(flushTimer);
    await flushOutbox();
  });
  const outboxSweep = (owned: readonly number[]) =>
    recoverEffects(batchDb.db, owned, async (e) => {
      if (!(await events.submit(e.userId, e.events as UserEventDraft[], e.key))) throw new Error('private event append failed');
    })
      .then((n) => {
        outboxRecovered.inc(n);
        if (n > 0) logger.info({ rows: n }, 'signal outbox: recovered events appended');
      })
      .catch((err: unknown) => logger.warn({ err }, 'signal outbox sweep failed; retried on the next sweep'));
  const sweepTimer = setInterval(() => void outboxSweep(runtime.ownedPartitions()), 10_000);
  sweepTimer.unref();
  ctx.onShutdown(() => clearInterval(sweepTimer));

  // Quotes and session ticks into the actors (docs/accounts.md, "Quotes"); both are signals, not durable.
  const router = new QuoteRouter({
    redis,
    partitions: config.accounts.partitions,
    deliver: (signal) => runtime.deliver(signal),
    loadOpenOrders: (partitions) => openOrderSymbolsByUser(batchDb.db, partitions, config.accounts.partitions),
    openSymbolsOf: openSymbolsFromEngines(host.mbt),
    demandOwner: `accounts-${runtime.owner}`,
    lingerMs: config.accounts.quoteLingerMs,
    // A dead replica's demand goes about when its partitions move (not after the gateways' 30 s).
    demandLeaseMs: 2 * config.accounts.leaseTtlMs,
    onLoaded: (users) => void sessionClock.catchUp(users).catch((err: unknown) => logger.warn({ err }, 'session catch-up failed')),
    logger,
  });
  const sessionClock = new SessionClock({
    sessions: mbt.sessions,
    now: () => mbt.clock.now(),
    users: () => router.users(),
    deliver: (signal) => runtime.deliver(signal),
    onError: (err) => logger.warn({ err }, 'session clock failed'),
  });
  sessionClock.start();
  ctx.onShutdown(async () => {
    await sessionClock.stop();
    await router.stop();
  });
  new Gauge({
    name: 'raxx_accounts_signals',
    help: 'Signals (quotes, clock ticks) since start, by state: delivered, applied, dropped_not_owned, dropped_overflow, dropped_failed, conflated (a quote superseded by a newer one of its symbol while queued)',
    labelNames: ['state'],
    registers,
    collect() {
      const s = runtime.stats().signals;
      this.set({ state: 'delivered' }, s.delivered);
      this.set({ state: 'applied' }, s.applied);
      this.set({ state: 'dropped_not_owned' }, s.droppedNotOwned);
      this.set({ state: 'dropped_overflow' }, s.droppedOverflow);
      this.set({ state: 'dropped_failed' }, s.droppedFailed);
      this.set({ state: 'conflated' }, s.conflated);
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
      return {
        owner: runtime.owner,
        started,
        partitions: config.accounts.partitions,
        owned: s.owned,
        turns: s.turns,
        applied: s.applied,
        replayed: s.replayed,
        deadLettered: s.deadLettered,
        claimed: s.claimed,
        takeovers: s.takeovers,
        fencedOut: s.fencedOut,
        signals: s.signals,
        quotes: { ...router.stats(), symbols: router.symbols(), clockTicks: sessionClock.ticks },
      };
    },
  });
  ctx.onShutdown(() => ops.close());
  return { url: ops.url, note: `account actors over ${config.accounts.partitions} partitions` };
}
