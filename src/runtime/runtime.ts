/**
 * The partitioned actor runtime: commands of one user are serialised through one Redis stream partition
 * (`cmd:{pN}`, group `actors`); each partition is owned by one replica at a time under a lease with a fencing
 * epoch; the owner runs one turn at a time per partition, each turn one PostgreSQL transaction over a batch (the
 * commands waiting in up to `maxTurnPartitions` partitions share one transaction: fenced per partition, handled per
 * partition, committed together).
 *
 * DELIVERY GUARANTEE. Every command appended with `appendCommand` (and not trimmed by MAXLEN before it was read)
 * has its effects committed exactly once: delivery is at-least-once (XREADGROUP, XACK only after COMMIT, a new
 * owner XAUTOCLAIMs the previous owner's pending entries before reading new ones), and application is
 * effectively-once (the command id is inserted into `processed_commands` in the same transaction as the effects;
 * a redelivered id is skipped and its stored decision replayed to `onDecision`). Commands of one user are applied
 * in append order (one turn at a time per partition, batches in stream order, claimed entries before new ones).
 * `onDecision` is called after COMMIT and awaited before XACK, at least once per command (again on redelivery,
 * with `replayed: true`).
 *
 * FENCING. A replica may commit a turn only while `partition_epochs.epoch` equals its lease epoch for every partition
 * of the turn; the turn's transaction checks them under `SELECT … FOR UPDATE` and holds the locks until COMMIT, and a new owner raises the
 * epoch (row lock) before it claims entries. A paused former owner that wakes up aborts (FencedOutError) and
 * nothing of its turn lands. A blind turn (`blindTurns`: first deliveries, state in memory, one round trip) makes
 * the same checks in PostgreSQL without waiting for them — a moved epoch or a repeated command refuses it — and is
 * then run again with its fence and lookups, which name the case. Reads are fenced too (a Lua XREADGROUP that checks
 * the lease atomically), so an expired owner cannot pull new entries into its pending list.
 *
 * FAILURE CASES. Replica crash: its leases expire after `leaseTtlMs`, the assigned replica takes over and
 * re-delivers the pending entries (absorbed by idempotency). Graceful stop: membership left and leases released
 * immediately after in-flight turns finish. Malformed entry (not JSON / fails the envelope schema): moved to
 * `cmd:dead` with a reason and XACKed. Handler throws: the batch is retried one command per transaction; a
 * command that still throws is recorded as rejected (`HANDLER_ERROR`), and if even that cannot be recorded
 * (e.g. unknown user, FK violation) it is dead-lettered. An entry delivered `maxDeliveries` times is dead-lettered
 * at takeover. A poison entry never blocks its partition. Transient database errors (connection, serialisation,
 * deadlock) retry the same batch with backoff; the partition waits (head-of-line), which preserves order.
 * NOT covered: entries trimmed by MAXLEN before being read are lost (size the cap); Redis data loss (no AOF
 * fsync) loses appended-but-unread commands; an id repeated after the workers' retention deleted its
 * processed_commands row (RETENTION_COMMANDS_DAYS) is a new command; member/lease expiry uses the replicas' wall clocks for membership.
 *
 * SIGNALS (`deliver`: quotes, clock ticks — messages for one user's actor that are not stream commands) are NOT
 * durable, by design: they live only in the owning replica's memory. A signal for a partition this replica does not
 * own is dropped; each partition's signal mailbox is bounded (`maxSignals`) and drops its OLDEST signals when full
 * (a newer quote supersedes an older one); signals in memory are lost when the partition moves or the process dies
 * (the source keeps producing: the next quote or tick takes their place). Signal turns run one at a time per
 * partition, never concurrently with a command turn of that partition (they alternate when both are waiting),
 * under the same fenced transaction (shared, like command turns, by the partitions whose signal turns are due);
 * `onSignalEffects` is awaited after COMMIT. Transient DB errors retry the batch; a host error drops it (logged,
 * counted). The host records what it acted on, so what landed stays replayable.
 */
import type { Redis } from 'ioredis';
import type { Db, Tx } from '../infra/db/client.js';
import { DbError } from '../infra/db/errors.js';
import { LuaScript } from '../infra/market-data/lua.js';
import { assignPartitions } from './assignment.js';
import { CONSUMER_GROUP, ENVELOPE_FIELD, envelopeSchema, partitionOf, runtimeKeys, type Envelope } from './envelope.js';
import {
  claimPartitionEpoch,
  commitFencedBatch,
  commitFencedGroup,
  DeferredWrites,
  FencedOutError,
  withFencedGroup,
  type CommandDecision,
  type Prefetch,
  type PrefetchTurn,
  type StoredDecision,
  type TurnPhases,
} from './fencing.js';
import { fencedReadLua, partitionLeaseAcquireLua, partitionLeaseReleaseLua } from './scripts/partition-lease.lua.js';

const acquireScript = new LuaScript('partition-lease-acquire', partitionLeaseAcquireLua);
const releaseScript = new LuaScript('partition-lease-release', partitionLeaseReleaseLua);
const readScript = new LuaScript('partition-fenced-read', fencedReadLua);

export interface TurnContext {
  partition: number;
  epoch: number;
  /** The turn's fenced, RLS-scoped transaction (scope = the batch's users). */
  tx: Tx;
  /**
   * Registers a callback run if this turn's transaction does not commit — also when it fails after the host returned
   * (e.g. recording the processed command ids) — so a host can drop in-memory state it derived from the turn.
   */
  onRollback(fn: () => void): void;
  /**
   * A write the host has already sent in `tx` but not awaited (its last statements: audit rows, saved state). The
   * runtime sends COMMIT right behind it (in a command turn after its processed_commands insert) — one round trip
   * for all of them instead of one each, and a failure fails the turn exactly as if the host had awaited it. So its
   * failure must be PostgreSQL's (an SQL error, which turns that COMMIT into a rollback) or come before its statement
   * was sent: a check in JavaScript on what it returned would come after COMMIT — check in SQL instead
   * (`raxx_expect_rows`). Absent when the host must await its writes itself.
   */
  defer?(write: PromiseLike<unknown>): void;
  /** Command turns: what `ActorHost.prefetch` returned for this partition's batch (undefined without one). */
  prefetched?: unknown;
}

/** What the runtime hosts: the domain (account actors) lives behind this interface. */
export interface ActorHost {
  /** Applies new (never seen) commands in order inside the turn's transaction; one decision per command. */
  handleBatch(ctx: TurnContext, commands: Envelope[]): Promise<CommandDecision[]>;
  /**
   * Optional: starts the reads a command batch will need, in the turn's first round trip (with the fence and the
   * processed-id lookup) instead of one of their own. It must send its statements in `tx` before it returns (no
   * await before them); it sees every envelope of the batch, also ones already processed. Its result reaches
   * `handleBatch` as `ctx.prefetched`, only when the fence held. `turn.blind`: see PrefetchTurn.
   */
  prefetch?(tx: Tx, commands: readonly Envelope[], turn: PrefetchTurn): PromiseLike<unknown>;
  /**
   * Optional: true when `handleBatch` (and `prefetch`) may take the commands of every partition of a group turn in one
   * call — partitions share no user, so a host that keys its work by user decides the same — instead of one call per
   * partition at the same time. A host's per-call statements (its reads, its multi-row writes) are then sent once per
   * turn, not once per partition. `ctx.partition` is then the first partition's and means nothing for the commands.
   */
  wholeTurns?: boolean;
  /**
   * Optional: true when `handleBatch` may decide these commands before the turn's fence has answered (a blind turn,
   * commitFencedGroup): it undoes what it keeps in memory through `onRollback`, and calls nothing outside the
   * database (a broker) that a turn run again would call twice. Without it no turn is blind.
   */
  blindSafe?(commands: readonly Envelope[]): boolean;
  /** Called inside the turn's transaction before a user's first command since (re)activation, e.g. to load state. */
  activate?(ctx: TurnContext, userId: string): Promise<void>;
  /** Called when a user was idle for `userIdleMs`, evicted by `maxActiveUsers`, or its partition left this replica. */
  passivate?(userId: string): void | Promise<void>;
  /**
   * Applies in-memory signals (quotes, timer ticks: messages that are not stream commands) of one partition inside a
   * fenced turn transaction, serialised with that partition's command turns. Signals are not persisted by the runtime
   * and are lost if the owner dies before the turn commits (the host records the inputs it acted on). Returns
   * effects that `onSignalEffects` receives after COMMIT.
   */
  handleSignals?(ctx: TurnContext, signals: Signal[]): Promise<unknown[]>;
}

/** A message for one user's actor that does not come from the command stream (see `ActorHost.handleSignals`). */
export interface Signal {
  userId: string;
  kind: string;
  payload: unknown;
  /**
   * Signals of one user with the same key supersede each other while queued: the newest is kept and moves to the end
   * of the queue (so it still follows every signal delivered before it), the older one is never applied. Quotes use
   * the symbol: a replica that falls behind applies the latest quote, not a backlog of stale ones.
   */
  key?: string;
}

export interface RuntimeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RuntimeOptions {
  redis: Redis;
  db: Db;
  partitions: number;
  host: ActorHost;
  /** Unique per process (default `<pid>-<random>`): a restarted process must not reuse an id. */
  owner?: string;
  leaseTtlMs?: number; // default 5000
  tickMs?: number; // default leaseTtlMs / 5
  maxBatch?: number; // default 64 (commands of one partition per turn)
  /**
   * Partitions whose commands one turn may carry (default 16): the ready partitions at a scheduling point share one
   * transaction, fence and set of round trips (commitFencedGroup). 1 = one partition per turn.
   */
  maxTurnPartitions?: number;
  readCount?: number; // default 256
  maxMailbox?: number; // default 1024 (per partition; reading pauses above it)
  maxConcurrentTurns?: number; // default 16
  /**
   * Default 0 (off). While one or two other turns are in flight, commands that would start a turn of fewer than
   * `maxTurnPartitions` partitions wait up to this long (from their read) for more to join them; a turn ending starts
   * them at once. Fewer, larger turns: each turn's fixed cost (BEGIN, fence, round trips, COMMIT, Redis calls) is paid
   * by more commands, at a bounded cost in latency. With nothing in flight, or more than two turns, no wait.
   */
  turnLingerMs?: number;
  /**
   * Command types whose handler waits on a service outside the database (a broker, KMS). Such a command runs in a
   * turn of its own — its partition alone, its batch cut before and after it — in one of `maxSoloTurns` slots kept
   * for them. A slow broker then holds back only its own partition (whose commands wait for it anyway: they are
   * serialised), never the other partitions a shared turn would carry, nor a slot of the database-only turns.
   * Default: none.
   */
  solo?: (type: string) => boolean;
  maxSoloTurns?: number; // default 2
  maxDeliveries?: number; // default 10
  /**
   * Every owned partition is read at least this often (default 10 ms; 1 s with `wakeups`, where it only catches a
   * wake-up lost while Redis was away — the subscriber's reconnect also triggers a full read).
   */
  idlePollMs?: number;
  /**
   * Default false. When true, between full reads a partition is read only when a wake-up (`appendCommand`
   * PUBLISHes its number on `cmd:wake`) says it has new entries, or right after a read that filled its request — so
   * a replica does not re-read every partition continuously (one Lua call each) while any of them is busy.
   */
  wakeups?: boolean;
  userIdleMs?: number; // default 60000
  maxActiveUsers?: number; // default 10000
  /**
   * Default true. A command turn whose partitions' last turns went through, carrying first deliveries only, that the
   * host calls blind-safe, runs blind (commitFencedGroup): no lookups and no wait for its fence, so a host whose state
   * is in memory commits it in one round trip. If it fails for any reason it runs again at once, not blind.
   */
  blindTurns?: boolean;
  /** Awaited before XACK when it returns a promise (so what it does is at-least-once, like the command). */
  onDecision?: (envelope: Envelope, decision: StoredDecision) => void | Promise<unknown>;
  /**
   * Per decided command, once its decision was handed on (`onDecision` settled, before XACK): milliseconds from its
   * stream append (the entry id's time: the Redis server's clock, so across hosts it includes their skew; 0 if below)
   * until its turn began (`queuedMs`: mailbox, linger, busy partition) and until now (`decidedMs`). Turn timings
   * cannot show this wait; it is where a command's tail goes when the turns themselves are short.
   */
  onCommandLatency?: (queuedMs: number, decidedMs: number) => void;
  onDeadLetter?: (entryId: string, reason: string, partition: number) => void;
  /** Signals buffered per partition at most (default 10,000); beyond it the oldest are dropped (counted). */
  maxSignals?: number;
  /** Signals per signal turn at most (default 256). */
  maxSignalBatch?: number;
  /** The effects `ActorHost.handleSignals` returned, after COMMIT; awaited before the partition's next turn. */
  onSignalEffects?: (effects: unknown[], partition: number) => void | Promise<unknown>;
  /** The owned partitions after each takeover or drop (e.g. to load what a new partition's users need). */
  onPartitionsChanged?: (owned: number[]) => void;
  /** After every turn's transaction (committed or not): how long it took and what it carried, e.g. for a histogram. */
  onTurn?: (turn: TurnTiming) => void;
  logger?: RuntimeLogger;
}

/** One turn's transaction, from its BEGIN to COMMIT's answer (or the failure). */
export interface TurnTiming {
  kind: 'command' | 'signal';
  /** Partitions that shared the transaction. */
  partitions: number;
  /** Commands (valid envelopes, redeliveries included) or signals it carried. */
  messages: number;
  ms: number;
  outcome: 'committed' | 'fenced_out' | 'failed';
  /** Where the (last) transaction of the turn spent that time; phases it did not reach are absent. */
  phases: TurnPhases;
}

export interface RuntimeStats {
  owned: number[];
  turns: number;
  applied: number;
  /** Redeliveries absorbed by processed_commands (decision replayed, handler not run). */
  replayed: number;
  rejectedByRuntime: number;
  deadLettered: number;
  fencedOut: number;
  turnErrors: number;
  /** Command turns that ran blind, and those of them that then ran again, not blind (fenced out, a repeat, a stale copy). */
  blindTurns: number;
  blindRetries: number;
  claimed: number;
  takeovers: number;
  signals: SignalStats;
}

/** Signal counters since start: delivered = applied + dropped* + still buffered or in flight. */
export interface SignalStats {
  delivered: number;
  /** In committed signal turns. */
  applied: number;
  turns: number;
  droppedNotOwned: number;
  droppedOverflow: number;
  /** Dropped with their batch when the host threw, or by a fenced-out turn. */
  droppedFailed: number;
  /** Signal turns retried after a transient database error. */
  retried: number;
  /** Queued signals superseded by a newer one with the same user and key (never applied). */
  conflated: number;
}

/** A queued signal; `dead` once a newer one with the same user and key superseded it. */
interface Queued {
  signal: Signal;
  dead: boolean;
}

interface SignalBox {
  queue: Queued[];
  /** The live queued entry of each user+key. */
  latest: Map<string, Queued>;
  retryAt: number;
  failures: number;
  /** The partition's last turn was a signal turn: commands go next if any wait (fair alternation). */
  lastWasSignal: boolean;
}

type RawEntry = [id: string, fields: string[]];

interface PartitionState {
  partition: number;
  /** The last read filled its request (or the mailbox cap): read again without waiting for a wake-up. */
  more: boolean;
  epoch: number;
  leaseValue: string;
  mailbox: RawEntry[];
  active: boolean;
  running: Promise<void> | null;
  retryAt: number;
  failures: number;
  /** When the mailbox last went from empty to holding entries (the wait `turnLingerMs` counts from). */
  since: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `turnLingerMs` holds a partial turn back only while at most this many turns are in flight. Beyond it the replica is
 * behind: its turns are already large, and waiting would only take away the parallelism that keeps PostgreSQL busy
 * while a turn waits for its COMMIT. Measured at 1,000 commands/s on 2 cores: with 1 here, turns carried 2.5–2.9
 * commands, as without the linger (a second turn in flight lets the next start at once, and so on); with 2, 4.0–4.7.
 */
const LINGER_MAX_INFLIGHT = 2;

/** Transient: retry the same batch later rather than blaming a command. */
function isTransient(err: unknown): boolean {
  if (!(err instanceof DbError)) return false;
  const s = err.sqlstate;
  return s === undefined || /^(08|40|53|57|58)/.test(s);
}

export class PartitionRuntime {
  readonly owner: string;
  private readonly o: Required<Omit<RuntimeOptions, 'owner' | 'onDecision' | 'onDeadLetter' | 'onSignalEffects' | 'onPartitionsChanged' | 'logger'>> & RuntimeOptions;
  private readonly owned = new Map<number, PartitionState>();
  private readonly draining = new Map<number, Promise<void>>();
  private readonly floors = new Map<number, number>();
  private readonly users = new Map<string, { partition: number; at: number }>();
  private inflight = 0;
  /** Solo turns in flight (RuntimeOptions.solo): counted apart from `inflight`. */
  private soloInflight = 0;
  /** The command type of mailbox heads the scheduler looked at (null: not an envelope with a type). */
  private readonly types = new WeakMap<RawEntry, string | null>();
  private running = false;
  /** Partitions with a wake-up since their last read. */
  private readonly dirty = new Set<number>();
  private wakeReader: (() => void) | null = null;
  private wakeSub: Redis | null = null;
  private loops: Promise<void>[] = [];
  private interruptTick: (() => void) | null = null;
  /** Per PartitionState, so a partition taken again starts with an empty signal mailbox. */
  private readonly signalBoxes = new WeakMap<PartitionState, SignalBox>();
  private readonly sig: SignalStats = { delivered: 0, applied: 0, turns: 0, droppedNotOwned: 0, droppedOverflow: 0, droppedFailed: 0, retried: 0, conflated: 0 };
  private signalKick: NodeJS.Immediate | null = null;
  /**
   * Runs `schedule` when the earliest backed-off partition or signal mailbox may retry (not left to the next read), or
   * when commands held back by `turnLingerMs` are due.
   */
  private retryTimer: { at: number; timer: NodeJS.Timeout } | null = null;
  private readonly s = { turns: 0, applied: 0, replayed: 0, rejectedByRuntime: 0, deadLettered: 0, fencedOut: 0, turnErrors: 0, blindTurns: 0, blindRetries: 0, claimed: 0, takeovers: 0 };
  /** Entries claimed from a former owner (XAUTOCLAIM): perhaps applied already, so their turn is never blind. */
  private readonly redelivered = new WeakSet<RawEntry>();
  /** The host's prefetch (ActorHost.prefetch), bound, for commitFencedGroup. */
  private readonly prefetch: Prefetch | undefined;

  constructor(opts: RuntimeOptions) {
    const leaseTtlMs = opts.leaseTtlMs ?? 5000;
    this.owner = opts.owner ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    if (this.owner.includes(':')) throw new Error('owner id must not contain ":"');
    this.o = {
      leaseTtlMs,
      tickMs: Math.max(50, Math.floor(leaseTtlMs / 5)),
      maxBatch: 64,
      maxTurnPartitions: 16,
      readCount: 256,
      maxMailbox: 1024,
      maxConcurrentTurns: 16,
      turnLingerMs: 0,
      solo: (_type: string): boolean => false,
      maxSoloTurns: 2,
      maxDeliveries: 10,
      idlePollMs: opts.wakeups ? 1000 : 10,
      wakeups: false,
      userIdleMs: 60_000,
      maxActiveUsers: 10_000,
      maxSignals: 10_000,
      maxSignalBatch: 256,
      blindTurns: true,
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as PartitionRuntime['o'];
    this.prefetch = this.o.host.prefetch?.bind(this.o.host);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.o.wakeups) await this.subscribeWakeups();
    await this.tick();
    this.loops = [this.tickLoop(), this.readLoop()];
  }

  /**
   * Wake-ups are a latency optimisation only: a lost one (or no subscription, e.g. Redis reconnecting) leaves the
   * entry for the next full read, at most `idlePollMs` later. Pub/sub loses messages only while the subscriber is
   * disconnected, so its reconnect reads every owned partition at once.
   */
  private async subscribeWakeups(): Promise<void> {
    const sub = this.o.redis.duplicate();
    this.wakeSub = sub;
    sub.on('error', () => {});
    let connected = false;
    sub.on('ready', () => {
      if (connected) {
        for (const p of this.owned.keys()) this.dirty.add(p);
        this.wake();
      }
      connected = true;
    });
    sub.on('message', (_channel: string, message: string) => {
      const p = Number(message);
      if (!this.owned.has(p)) return;
      this.dirty.add(p);
      this.wake();
    });
    try {
      await sub.subscribe(runtimeKeys.wake);
    } catch (err) {
      this.o.logger?.warn({ err: String(err) }, 'runtime wake-up subscription failed; reading by polling only');
    }
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = null;
    w?.();
  }

  /** Graceful: leaves membership, finishes in-flight turns, releases every lease at once (no waiting for expiry). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    this.interruptTick?.();
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    this.retryTimer = null;
    await Promise.all(this.loops);
    this.wakeSub?.disconnect();
    this.wakeSub = null;
    await this.o.redis.zrem(runtimeKeys.members, this.owner);
    await Promise.all([...this.owned.values()].map((st) => this.drop(st, 'stop', true)));
    await Promise.all(this.draining.values());
  }

  ownedPartitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  stats(): RuntimeStats {
    return { owned: this.ownedPartitions(), ...this.s, signals: { ...this.sig } };
  }

  // ---- membership, assignment, leases ----

  private async tickLoop(): Promise<void> {
    while (this.running) {
      // Interruptible, so a graceful stop leaves membership and releases its leases at once, not up to a tick later.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.tickMs);
        this.interruptTick = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.interruptTick = null;
      if (!this.running) break;
      try {
        await this.tick();
      } catch (err) {
        this.o.logger?.warn({ err: String(err) }, 'runtime tick failed');
      }
    }
  }

  private async tick(): Promise<void> {
    const { redis, partitions, leaseTtlMs } = this.o;
    const now = Date.now();
    const reply = await redis
      .multi()
      .zadd(runtimeKeys.members, String(now + leaseTtlMs), this.owner)
      .zremrangebyscore(runtimeKeys.members, '-inf', String(now))
      .zrange(runtimeKeys.members, '0', '-1')
      .exec();
    const members = (reply?.[2]?.[1] as string[] | undefined) ?? [this.owner];
    const assignment = assignPartitions(partitions, members);
    const mine: number[] = [];
    for (const [p, m] of assignment) if (m === this.owner) mine.push(p);
    const mineSet = new Set(mine);
    await Promise.all([
      ...[...this.owned.values()].filter((st) => !mineSet.has(st.partition)).map((st) => this.drop(st, 'rebalance', true)),
      ...mine.map((p) => this.acquire(p)),
    ]);
    this.passivateIdle(now);
  }

  private async acquire(p: number): Promise<void> {
    if (!this.running) return;
    const pending = this.draining.get(p);
    if (pending) await pending;
    const reply = (await acquireScript.run(
      this.o.redis,
      [runtimeKeys.lease(p), runtimeKeys.epoch(p)],
      [this.owner, this.o.leaseTtlMs, this.floors.get(p) ?? 0],
    )) as [number, number, string];
    const held = reply[0] === 1;
    const epoch = Number(reply[1]);
    const st = this.owned.get(p);
    if (st && (!held || st.epoch !== epoch)) await this.drop(st, 'lease lost', false);
    if (held && (!st || st.epoch !== epoch)) await this.takeover(p, epoch);
  }

  private async takeover(p: number, epoch: number): Promise<void> {
    const { redis, db } = this.o;
    const leaseValue = `${epoch}:${this.owner}`;
    // An older owner's in-flight turn may finish within half a lease (its owner's lease has already expired); one
    // still holding the epoch row after that (a paused process) is ended rather than awaited. Half a lease keeps
    // this tick, and so our own lease renewals, well inside the TTL.
    const stored = await claimPartitionEpoch(db, p, epoch, this.owner, { lockWaitMs: Math.floor(this.o.leaseTtlMs / 2) });
    if (stored !== epoch) {
      // PostgreSQL knows a newer epoch than Redis handed us (e.g. Redis lost data): give the lease back; the next
      // acquire starts above this floor.
      this.floors.set(p, stored);
      await releaseScript.run(redis, [runtimeKeys.lease(p)], [leaseValue]);
      this.o.logger?.warn({ partition: p, epoch, stored }, 'stale lease epoch, retrying above the database epoch');
      return;
    }
    const stream = runtimeKeys.stream(p);
    try {
      await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
    const st: PartitionState = { partition: p, epoch, leaseValue, more: true, mailbox: [], active: true, running: null, retryAt: 0, failures: 0, since: 0 };
    await this.deadLetterOverDelivered(st);
    // Claim everything the previous owner(s) left pending, in id order, before reading new entries.
    let cursor = '0-0';
    do {
      const r = (await redis.call('XAUTOCLAIM', stream, CONSUMER_GROUP, this.owner, '0', cursor, 'COUNT', '1000')) as [string, (RawEntry | null)[], string[]?];
      cursor = r[0];
      for (const e of r[1]) {
        if (!e) continue;
        st.mailbox.push(e);
        this.redelivered.add(e);
      }
    } while (cursor !== '0-0');
    this.s.claimed += st.mailbox.length;
    this.s.takeovers++;
    this.owned.set(p, st);
    this.partitionsChanged();
    this.wake();
    this.o.logger?.info({ partition: p, epoch, claimed: st.mailbox.length }, 'partition taken');
    this.schedule();
  }

  private async deadLetterOverDelivered(st: PartitionState): Promise<void> {
    const { redis, maxDeliveries } = this.o;
    const stream = runtimeKeys.stream(st.partition);
    const pending = (await redis.call('XPENDING', stream, CONSUMER_GROUP, '-', '+', '10000')) as [string, string, number, number][];
    const ids = pending.filter((x) => Number(x[3]) >= maxDeliveries).map((x) => x[0]);
    if (ids.length === 0) return;
    const claimed = (await redis.call('XCLAIM', stream, CONSUMER_GROUP, this.owner, '0', ...ids)) as (RawEntry | null)[];
    const entries = claimed.filter((e): e is RawEntry => e !== null);
    await this.deadLetter(st, entries.map((e) => ({ entry: e, reason: `delivered ${maxDeliveries} times or more` })));
    const missing = ids.filter((id) => !entries.some((e) => e[0] === id));
    if (missing.length) await redis.xack(stream, CONSUMER_GROUP, ...missing); // trimmed entries: nothing to keep
  }

  /** Stops working on a partition: no more reads or turns; waits for the in-flight turn; optionally releases the lease. */
  private drop(st: PartitionState, reason: string, release: boolean, fromTurn = false): Promise<void> {
    if (this.owned.get(st.partition) === st) {
      this.owned.delete(st.partition);
      this.partitionsChanged();
    }
    if (!st.active) return this.draining.get(st.partition) ?? Promise.resolve();
    st.active = false;
    st.mailbox = [];
    this.o.logger?.info({ partition: st.partition, epoch: st.epoch, reason }, 'partition dropped');
    const done = (async () => {
      if (!fromTurn && st.running) await st.running.catch(() => {});
      for (const [u, v] of this.users) if (v.partition === st.partition) await this.passivate(u);
      if (release) await releaseScript.run(this.o.redis, [runtimeKeys.lease(st.partition)], [st.leaseValue]).catch(() => {});
    })().finally(() => {
      if (this.draining.get(st.partition) === done) this.draining.delete(st.partition);
    });
    this.draining.set(st.partition, done);
    return fromTurn ? Promise.resolve() : done;
  }

  // ---- reading ----

  private async readLoop(): Promise<void> {
    const { redis, readCount, maxMailbox, idlePollMs } = this.o;
    let nextFull = 0;
    while (this.running) {
      const now = Date.now();
      const full = now >= nextFull;
      if (full) nextFull = now + idlePollMs;
      // Without wake-ups every read round is a full one (the poll), as before.
      const targets = [...this.owned.values()].filter(
        (st) => st.active && st.mailbox.length < maxMailbox && (full || !this.o.wakeups || st.more || this.dirty.has(st.partition)),
      );
      for (const st of targets) {
        this.dirty.delete(st.partition);
        st.more = false;
      }
      let got = 0;
      if (targets.length > 0) {
        try {
          const counts = targets.map((st) => Math.min(readCount, maxMailbox - st.mailbox.length));
          const replies = await Promise.all(
            targets.map((st, i) =>
              readScript.run(redis, [runtimeKeys.lease(st.partition), runtimeKeys.stream(st.partition)], [st.leaseValue, CONSUMER_GROUP, this.owner, counts[i]!]),
            ),
          );
          replies.forEach((r, i) => {
            const st = targets[i]!;
            if (r === -1) {
              void this.drop(st, 'lease lost (read)', false);
              return;
            }
            if (!Array.isArray(r)) return;
            const entries = (r as [string, RawEntry[]][])[0]?.[1] ?? [];
            if (st.active) {
              if (st.mailbox.length === 0 && entries.length > 0) st.since = Date.now();
              st.mailbox.push(...entries);
              st.more = entries.length >= counts[i]!;
              got += entries.length;
            } // else: left pending; the next owner claims them after our release
          });
        } catch (err) {
          for (const st of targets) st.more = true;
          this.o.logger?.warn({ err: String(err) }, 'runtime read failed');
          await sleep(200);
        }
      }
      this.schedule();
      if (!this.running) break;
      // Polling only (no wake-ups): read again at once after any entries, else after idlePollMs.
      const ready =
        (!this.o.wakeups && got > 0) || [...this.owned.values()].some((st) => st.active && st.mailbox.length < maxMailbox && (st.more || this.dirty.has(st.partition)));
      if (!ready) await this.idle(nextFull - Date.now());
    }
  }

  /** Sleeps until a wake-up (new entries, mailbox space freed, stop) or `ms`. */
  private idle(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeReader = null;
        resolve();
      }, ms);
      this.wakeReader = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  // ---- turns ----

  private schedule(): void {
    const now = Date.now();
    // Partitions with commands waiting, and partitions with a signal turn due, each gathered into turns of up to
    // maxTurnPartitions partitions (one transaction each); a partition whose next command is solo gets a turn alone.
    let commands: PartitionState[] = [];
    let signals: Array<{ st: PartitionState; box: SignalBox }> = [];
    const slot = () => this.inflight < this.o.maxConcurrentTurns;
    const soloSlot = () => this.soloInflight < this.o.maxSoloTurns;
    for (const st of this.owned.values()) {
      if (!slot() && !soloSlot()) break;
      if (!st.active || st.running) continue;
      const head = st.mailbox[0];
      const soloHead = head !== undefined && st.retryAt <= now && this.isSolo(head);
      if (soloHead && soloSlot()) {
        this.launch([st], this.turn([st], true), true);
        continue;
      }
      if (!slot()) continue;
      // A partition waiting for a solo slot may still run its due signals in an ordinary one.
      const box = this.signalTurnDue(st, now);
      if (box) {
        signals.push({ st, box });
        if (signals.length >= this.o.maxTurnPartitions) {
          this.launch(signals.map((x) => x.st), this.signalTurn(signals));
          signals = [];
        }
        continue;
      }
      if (soloHead || st.mailbox.length === 0 || st.retryAt > now) continue;
      commands.push(st);
      if (commands.length >= this.o.maxTurnPartitions) {
        this.launch(commands, this.turn(commands));
        commands = [];
      }
    }
    // Without a free turn slot they wait for the next scheduling point (a turn ending); a due signal turn stays due.
    if (signals.length > 0 && slot()) this.launch(signals.map((x) => x.st), this.signalTurn(signals));
    if (commands.length > 0 && slot() && !this.lingering(commands, now)) this.launch(commands, this.turn(commands));
    this.armRetry(now);
  }

  /**
   * Whether a partial command turn should wait (`turnLingerMs`): one or two other turns are in flight and none of its
   * partitions has waited the linger yet. Arms the timer that schedules again when the first of them has.
   */
  private lingering(commands: PartitionState[], now: number): boolean {
    const linger = this.o.turnLingerMs;
    if (linger <= 0 || this.inflight === 0 || this.inflight > LINGER_MAX_INFLIGHT) return false;
    const due = Math.min(...commands.map((st) => st.since)) + linger;
    if (due <= now) return false;
    this.scheduleAt(due, now);
    return true;
  }

  /** Schedules again when the earliest backed-off mailbox (commands or signals) may run. */
  private armRetry(now: number): void {
    let at = Infinity;
    for (const st of this.owned.values()) {
      if (st.mailbox.length > 0 && st.retryAt > now) at = Math.min(at, st.retryAt);
      const box = this.signalBoxes.get(st);
      if (box && box.queue.length > 0 && box.retryAt > now) at = Math.min(at, box.retryAt);
    }
    if (at !== Infinity) this.scheduleAt(at, now);
  }

  /** Runs `schedule` at `at` (one timer: the earliest asked for wins; the run re-arms for any later one). */
  private scheduleAt(at: number, now: number): void {
    if (this.retryTimer && this.retryTimer.at <= at) return;
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    const timer = setTimeout(() => {
      this.retryTimer = null;
      if (this.running) this.schedule();
    }, at - now);
    timer.unref();
    this.retryTimer = { at, timer };
  }

  /** Marks `sts` running for `work` (one turn slot, or a solo one), and schedules again when it ends. */
  private launch(sts: PartitionState[], work: Promise<void>, solo = false): void {
    if (solo) this.soloInflight++;
    else this.inflight++;
    const running = work.finally(() => {
      if (solo) this.soloInflight--;
      else this.inflight--;
      for (const st of sts) {
        if (st.running === running) st.running = null;
        if (st.more) this.wake(); // reading paused at the mailbox cap
      }
      this.schedule();
    });
    for (const st of sts) st.running = running;
  }

  /**
   * The entry's envelope JSON (undefined when the field is missing or not JSON), parsed anew each time: a retried turn
   * must not hand its handler objects an earlier attempt may have changed.
   */
  private parse(entry: RawEntry): unknown {
    const fields = entry[1];
    const at = fields.indexOf(ENVELOPE_FIELD);
    const raw = at % 2 === 0 ? fields[at + 1] : undefined;
    try {
      return raw === undefined ? undefined : JSON.parse(raw);
    } catch {
      return undefined;
    }
  }

  private static typeOf(parsed: unknown): string | null {
    const type = (parsed as { type?: unknown } | undefined)?.type;
    return typeof type === 'string' ? type : null;
  }

  /** Whether the entry is a command of a solo type (RuntimeOptions.solo); a malformed one is not. Its type is kept. */
  private isSolo(entry: RawEntry): boolean {
    let type = this.types.get(entry);
    if (type === undefined) this.types.set(entry, (type = PartitionRuntime.typeOf(this.parse(entry))));
    return type !== null && this.o.solo(type);
  }

  /**
   * Splits a partition's mailbox head into valid envelopes and poison entries (not JSON, or not an envelope). A solo
   * turn takes the head alone; any other stops before the first solo command (it gets its own turn next).
   */
  private parseBatch(st: PartitionState, solo = false): { batch: RawEntry[]; valid: { entry: RawEntry; env: Envelope }[]; poison: { entry: RawEntry; reason: string }[] } {
    const batch: RawEntry[] = [];
    const valid: { entry: RawEntry; env: Envelope }[] = [];
    const poison: { entry: RawEntry; reason: string }[] = [];
    for (const entry of st.mailbox.slice(0, solo ? 1 : this.o.maxBatch)) {
      const parsed = this.parse(entry);
      if (batch.length > 0) {
        const type = PartitionRuntime.typeOf(parsed);
        if (type !== null && this.o.solo(type)) break;
      }
      batch.push(entry);
      const r = envelopeSchema.safeParse(parsed);
      if (r.success) valid.push({ entry, env: r.data });
      else poison.push({ entry, reason: parsed === undefined ? 'not a JSON envelope' : `invalid envelope: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
    }
    return { batch, valid, poison };
  }

  /** One command turn over one or more partitions: one transaction, then each partition's decisions and XACK. */
  private async turn(sts: PartitionState[], solo = false): Promise<void> {
    const startedAt = Date.now();
    const parts = sts.map((st) => ({ st, ...this.parseBatch(st, solo) }));
    this.s.turns++;
    const timing = this.timeTurn('command', parts.length, parts.reduce((n, p) => n + p.valid.length, 0));
    let results: Array<{ decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] }>;
    const blind =
      this.o.blindTurns &&
      this.o.host.blindSafe !== undefined &&
      parts.every((p) => p.st.failures === 0 && p.batch.every((e) => !this.redelivered.has(e))) &&
      this.o.host.blindSafe(parts.flatMap((p) => p.valid.map((v) => v.env)));
    try {
      results = await this.commitGroup(
        parts.map((p) => ({ st: p.st, envs: p.valid.map((v) => v.env) })),
        timing.phases,
        blind,
      );
      timing.done('committed');
    } catch (err) {
      timing.done(err instanceof FencedOutError ? 'fenced_out' : 'failed');
      if (err instanceof FencedOutError) {
        // Nothing of the turn landed: the fenced-out partition is dropped, the others run again at the next scheduling point.
        const st = sts.find((x) => x.partition === err.partition);
        if (st) this.fencedOut(st, err);
        return;
      }
      this.s.turnErrors++;
      for (const st of sts) backOff(st);
      this.o.logger?.warn({ partitions: sts.map((st) => st.partition), err: String(err) }, 'turn failed, retrying');
      return;
    }
    await Promise.all(parts.map((p, i) => this.afterCommit(p.st, p.batch, p.valid, p.poison, results[i]!, startedAt)));
  }

  /** A committed partition batch: dead letters, decisions handed on (awaited), then XACK and the mailbox advanced. */
  private async afterCommit(
    st: PartitionState,
    batch: RawEntry[],
    valid: { entry: RawEntry; env: Envelope }[],
    poison: { entry: RawEntry; reason: string }[],
    { decisions, dead }: { decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] },
    startedAt: number,
  ): Promise<void> {
    try {
      const deadIds = new Set(dead.map((d) => d.env.id));
      for (const v of valid) {
        const d = dead.find((x) => x.env.id === v.env.id);
        if (d) poison.push({ entry: v.entry, reason: d.reason });
      }
      if (poison.length) await this.deadLetter(st, poison, false);
      // Decisions are handed on (and awaited) before XACK: a crash in between redelivers the entries, the stored
      // decisions are replayed, and onDecision runs again — so its effects (the private event log) are at-least-once too.
      const byId = new Map(decisions.map((d) => [d.id, d]));
      const handed: Array<Promise<unknown>> = [];
      const decided: RawEntry[] = [];
      for (const v of valid) {
        const d = byId.get(v.env.id);
        if (!d || deadIds.has(v.env.id)) continue;
        decided.push(v.entry);
        if (d.replayed) this.s.replayed++;
        else this.s.applied++;
        try {
          const r = this.o.onDecision?.(v.env, d);
          if (r instanceof Promise) handed.push(r.catch((err: unknown) => this.o.logger?.warn({ err: String(err), commandId: v.env.id }, 'onDecision failed')));
        } catch (err) {
          this.o.logger?.warn({ err: String(err), commandId: v.env.id }, 'onDecision threw');
        }
      }
      await Promise.all(handed);
      this.reportLatency(decided, startedAt);
      if (batch.length) await this.o.redis.xack(runtimeKeys.stream(st.partition), CONSUMER_GROUP, ...batch.map((e) => e[0]));
      if (st.active) st.mailbox.splice(0, batch.length);
      st.failures = 0;
      st.retryAt = 0;
    } catch (err) {
      // Committed, not yet acknowledged: the entries stay at the head and are delivered again (replayed decisions).
      this.s.turnErrors++;
      backOff(st);
      this.o.logger?.warn({ partition: st.partition, err: String(err) }, 'turn failed after commit, retrying');
    }
  }

  /**
   * Commits several partitions' batches in one transaction; when that fails for a reason other than fencing or a
   * transient error, each partition is committed on its own (commitIsolated), so one partition's poison never holds
   * back another's commands.
   */
  private async commitGroup(
    parts: { st: PartitionState; envs: Envelope[] }[],
    phases: TurnPhases,
    blind = false,
  ): Promise<Array<{ decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] }>> {
    if (blind) {
      const decided = await this.commitBlind(parts, phases);
      if (decided) return decided;
    }
    if (parts.length === 1) return [await this.commitIsolated(parts[0]!.st, parts[0]!.envs, phases)];
    const live = parts.filter((p) => p.envs.length > 0);
    if (live.length <= 1) return Promise.all(parts.map((p) => this.commitIsolated(p.st, p.envs, phases)));
    const rollbacks: Array<() => void> = [];
    try {
      return await this.commitTogether(parts, live, rollbacks, phases, false);
    } catch (err) {
      runRollbacks(rollbacks, this.o.logger);
      if (err instanceof FencedOutError || isTransient(err)) throw err;
      const out: Array<{ decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] }> = [];
      for (const p of parts) out.push(await this.commitIsolated(p.st, p.envs, phases));
      return out;
    }
  }

  /**
   * The turn's batches committed blind (see `RuntimeOptions.blindTurns`), or null when that failed — whatever the
   * reason, rolled back — and the caller must run it again with its fence and lookups.
   */
  private async commitBlind(
    parts: { st: PartitionState; envs: Envelope[] }[],
    phases: TurnPhases,
  ): Promise<Array<{ decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] }> | null> {
    const live = parts.filter((p) => p.envs.length > 0);
    if (live.length === 0) return null;
    this.s.blindTurns++;
    const rollbacks: Array<() => void> = [];
    try {
      return await this.commitTogether(parts, live, rollbacks, phases, true);
    } catch {
      runRollbacks(rollbacks, this.o.logger);
      this.s.blindRetries++;
      return null;
    }
  }

  /** The batches of `live` (those of `parts` with commands) in one commitFencedGroup; a result per part, in order. */
  private async commitTogether(
    parts: { st: PartitionState; envs: Envelope[] }[],
    live: { st: PartitionState; envs: Envelope[] }[],
    rollbacks: Array<() => void>,
    phases: TurnPhases,
    blind: boolean,
  ): Promise<Array<{ decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] }>> {
    const decided = await commitFencedGroup(
      this.o.db,
      live.map((p) => ({ partition: p.st.partition, epoch: p.st.epoch, envelopes: p.envs })),
      (i, tx, fresh, defer, prefetched) => this.handle(live[i]!.st, tx, fresh, rollbacks, defer, prefetched),
      { prefetch: this.prefetch, phases, whole: this.o.host.wholeTurns === true, blind },
    );
    return parts.map((p) => {
      const i = live.indexOf(p);
      return { decisions: i >= 0 ? decided[i]! : [], dead: [] };
    });
  }

  private reportLatency(decided: readonly RawEntry[], startedAt: number): void {
    const report = this.o.onCommandLatency;
    if (!report) return;
    const now = Date.now();
    for (const [id] of decided) {
      const dash = id.indexOf('-'); // `<ms>-<n>`: every id XADD gives (the runtime appends with `*`)
      const appendedAt = dash > 0 ? Number(id.slice(0, dash)) : NaN;
      if (Number.isFinite(appendedAt)) report(Math.max(0, startedAt - appendedAt), Math.max(0, now - appendedAt));
    }
  }

  /** Starts timing a turn for `onTurn`: the transaction fills `phases`; call `done` once with the outcome. */
  private timeTurn(kind: TurnTiming['kind'], partitions: number, messages: number): { phases: TurnPhases; done(outcome: TurnTiming['outcome']): void } {
    const onTurn = this.o.onTurn;
    const phases: TurnPhases = {};
    const t0 = performance.now();
    const done = (outcome: TurnTiming['outcome']) => {
      if (!onTurn) return;
      try {
        onTurn({ kind, partitions, messages, ms: performance.now() - t0, outcome, phases });
      } catch (err) {
        this.o.logger?.warn({ err: String(err) }, 'onTurn failed');
      }
    };
    return { phases, done };
  }

  private fencedOut(st: PartitionState, err: FencedOutError): void {
    this.s.fencedOut++;
    if (err.currentEpoch !== null) this.floors.set(st.partition, Math.max(this.floors.get(st.partition) ?? 0, err.currentEpoch));
    this.o.logger?.warn({ partition: st.partition, epoch: st.epoch, current: err.currentEpoch }, 'turn fenced out');
    void this.drop(st, 'fenced out', true, true);
  }

  /** Commits the batch; on a non-transient failure isolates commands one per transaction so a poison command never blocks. */
  private async commitIsolated(
    st: PartitionState,
    envs: Envelope[],
    phases: TurnPhases = {},
  ): Promise<{ decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] }> {
    if (envs.length === 0) return { decisions: [], dead: [] };
    const { db } = this.o;
    const rollbacks: Array<() => void> = [];
    try {
      const handle = (tx: Tx, fresh: Envelope[], defer: (write: PromiseLike<unknown>) => void, prefetched: unknown) =>
        this.handle(st, tx, fresh, rollbacks, defer, prefetched);
      return { decisions: await commitFencedBatch(db, st.partition, st.epoch, envs, handle, { prefetch: this.prefetch, phases }), dead: [] };
    } catch (err) {
      runRollbacks(rollbacks, this.o.logger);
      if (err instanceof FencedOutError || isTransient(err)) throw err;
      if (envs.length > 1) {
        const out = { decisions: [] as StoredDecision[], dead: [] as { env: Envelope; reason: string }[] };
        for (const e of envs) {
          const r = await this.commitIsolated(st, [e]);
          out.decisions.push(...r.decisions);
          out.dead.push(...r.dead);
        }
        return out;
      }
      const env = envs[0]!;
      const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      try {
        const decisions = await commitFencedBatch(db, st.partition, st.epoch, [env], async () => [
          { id: env.id, outcome: 'rejected', code: 'HANDLER_ERROR', result: { reason } },
        ]);
        this.s.rejectedByRuntime++;
        return { decisions, dead: [] };
      } catch (err2) {
        if (err2 instanceof FencedOutError || isTransient(err2)) throw err2;
        return { decisions: [], dead: [{ env, reason: `${reason}; recording the rejection failed: ${String(err2)}` }] };
      }
    }
  }

  private async handle(
    st: PartitionState,
    tx: Tx,
    fresh: Envelope[],
    rollbacks: Array<() => void>,
    defer: (write: PromiseLike<unknown>) => void,
    prefetched: unknown,
  ): Promise<CommandDecision[]> {
    const ctx: TurnContext = { partition: st.partition, epoch: st.epoch, tx, onRollback: (fn) => rollbacks.push(fn), defer, prefetched };
    await this.activateUsers(ctx, fresh.map((e) => e.userId));
    return this.o.host.handleBatch(ctx, fresh);
  }

  /** Activates users new to this replica and marks them used (LRU), inside the turn's transaction. */
  private async activateUsers(ctx: TurnContext, userIds: readonly string[]): Promise<void> {
    const now = Date.now();
    for (const uid of new Set(userIds)) {
      const known = this.users.get(uid);
      if (!known && this.o.host.activate) await this.o.host.activate(ctx, uid);
      this.users.delete(uid);
      this.users.set(uid, { partition: partitionOf(uid, this.o.partitions), at: now }); // Map order = LRU order (a whole turn's users span partitions)
    }
  }

  // ---- signals (not durable: see the header) ----

  /**
   * Queues `signal` for its user's partition when this replica owns it (else dropped and counted); the oldest
   * signals of a full mailbox are dropped. Returns whether it was queued. Turns start on the next macrotask, so a
   * burst of deliveries lands in one batch.
   */
  deliver(signal: Signal): boolean {
    this.sig.delivered++;
    const st = this.owned.get(partitionOf(signal.userId, this.o.partitions));
    if (!this.running || !st || !st.active || !this.o.host.handleSignals) {
      this.sig.droppedNotOwned++;
      return false;
    }
    let box = this.signalBoxes.get(st);
    if (!box) this.signalBoxes.set(st, (box = { queue: [], latest: new Map(), retryAt: 0, failures: 0, lastWasSignal: false }));
    this.enqueue(box, { signal, dead: false });
    this.trimSignals(box);
    this.signalKick ??= setImmediate(() => {
      this.signalKick = null;
      this.schedule();
    });
    return true;
  }

  /** Appends `entry`, superseding the queued signal of the same user and key. */
  private enqueue(box: SignalBox, entry: Queued): void {
    const k = signalKey(entry.signal);
    if (k !== undefined) {
      const older = box.latest.get(k);
      if (older) {
        older.dead = true;
        this.sig.conflated++;
      }
      box.latest.set(k, entry);
    }
    box.queue.push(entry);
  }

  /** Takes up to `n` entries off the front; returns the live signals among them. */
  private takeSignals(box: SignalBox, n: number): Queued[] {
    const taken = box.queue.splice(0, n);
    for (const e of taken) {
      const k = signalKey(e.signal);
      if (k !== undefined && box.latest.get(k) === e) box.latest.delete(k);
    }
    return taken.filter((e) => !e.dead);
  }

  private trimSignals(box: SignalBox): void {
    const over = box.queue.length - this.o.maxSignals;
    if (over <= 0) return;
    this.sig.droppedOverflow += this.takeSignals(box, over).length;
  }

  /** The partition's signal mailbox when a signal turn should run now (commands and signals alternate when both wait). */
  private signalTurnDue(st: PartitionState, now: number): SignalBox | null {
    const box = this.signalBoxes.get(st);
    if (!box || box.queue.length === 0 || box.retryAt > now) return null;
    if (box.lastWasSignal && st.mailbox.length > 0 && st.retryAt <= now) {
      box.lastWasSignal = false;
      return null;
    }
    box.lastWasSignal = true;
    return box;
  }

  /**
   * One signal turn over one or more partitions: one fenced transaction, `handleSignals` per partition (at the same
   * time: partitions share no user), COMMIT, then `onSignalEffects` per partition (awaited). A quote for a symbol
   * reaches users in many partitions at once; they share the transaction.
   */
  private async signalTurn(items: Array<{ st: PartitionState; box: SignalBox }>): Promise<void> {
    const taken = items.map((x) => ({ ...x, entries: this.takeSignals(x.box, this.o.maxSignalBatch) })).filter((x) => x.entries.length > 0);
    if (taken.length === 0) return;
    await this.runSignalTurn(taken);
  }

  private async runSignalTurn(items: Array<{ st: PartitionState; box: SignalBox; entries: Queued[] }>): Promise<void> {
    const handleSignals = this.o.host.handleSignals!.bind(this.o.host);
    const batches = items.map((x) => x.entries.map((e) => e.signal));
    this.sig.turns++;
    const timing = this.timeTurn('signal', items.length, batches.reduce((n, b) => n + b.length, 0));
    const rollbacks: Array<() => void> = [];
    let effects: unknown[][];
    let written: Promise<void> | undefined;
    try {
      effects = await withFencedGroup(
        this.o.db,
        items.map((x) => ({ partition: x.st.partition, epoch: x.st.epoch })),
        batches.flat().map((s) => s.userId),
        async (tx) => {
          const deferred = new DeferredWrites();
          // allSettled: no partition may still be issuing statements when a failure rolls the transaction back.
          const settled = await Promise.allSettled(
            items.map(async (x, i) => {
              const ctx: TurnContext = { partition: x.st.partition, epoch: x.st.epoch, tx, onRollback: (fn) => rollbacks.push(fn), defer: deferred.defer };
              await this.activateUsers(ctx, batches[i]!.map((s) => s.userId));
              return handleSignals(ctx, batches[i]!);
            }),
          );
          const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed) throw await deferred.causeOf(failed.reason);
          // Not awaited: COMMIT goes out with the deferred writes.
          ({ written } = await deferred.beforeCommit());
          return settled.map((r) => (r as PromiseFulfilledResult<unknown[]>).value);
        },
        timing.phases,
      );
      await written;
      timing.done('committed');
    } catch (err) {
      timing.done(err instanceof FencedOutError ? 'fenced_out' : 'failed');
      runRollbacks(rollbacks, this.o.logger);
      if (err instanceof FencedOutError) {
        // Nothing landed: the fenced-out partition's signals go with it; the others' go back in front of their queues.
        for (const x of items) {
          if (x.st.partition === err.partition) {
            this.sig.droppedFailed += x.entries.length;
            this.fencedOut(x.st, err);
          } else this.requeue(x.st, x.box, x.entries, false);
        }
      } else if (isTransient(err)) {
        for (const x of items) this.requeue(x.st, x.box, x.entries, true);
        this.sig.retried++;
        this.o.logger?.warn({ partitions: items.map((x) => x.st.partition), err: String(err) }, 'signal turn failed, retrying');
      } else if (items.length > 1) {
        // A host error in one partition: each partition on its own, so only the failing one's batch is dropped.
        for (const x of items) await this.runSignalTurn([x]);
      } else {
        this.sig.droppedFailed += items[0]!.entries.length;
        this.o.logger?.warn({ partition: items[0]!.st.partition, signals: items[0]!.entries.length, err: String(err) }, 'signal turn failed: its signals are dropped');
      }
      return;
    }
    for (const x of items) {
      this.sig.applied += x.entries.length;
      x.box.failures = 0;
      x.box.retryAt = 0;
    }
    if (!this.o.onSignalEffects) return;
    await Promise.all(
      items.map(async (x, i) => {
        if (effects[i]!.length === 0) return;
        try {
          await this.o.onSignalEffects!(effects[i]!, x.st.partition);
        } catch (err) {
          this.o.logger?.warn({ partition: x.st.partition, err: String(err) }, 'onSignalEffects failed');
        }
      }),
    );
  }

  /** Signals of a turn that did not commit, back in front of what arrived meanwhile (unless superseded meanwhile). */
  private requeue(st: PartitionState, box: SignalBox, entries: Queued[], backoff: boolean): void {
    if (!st.active) {
      this.sig.droppedFailed += entries.length;
      return;
    }
    const back = entries.filter((e) => {
      const k = signalKey(e.signal);
      if (k === undefined) return true;
      if (box.latest.has(k)) return false;
      box.latest.set(k, e);
      return true;
    });
    box.queue.unshift(...back);
    this.trimSignals(box);
    if (backoff) backOff(box);
  }

  private partitionsChanged(): void {
    try {
      this.o.onPartitionsChanged?.(this.ownedPartitions());
    } catch (err) {
      this.o.logger?.warn({ err: String(err) }, 'onPartitionsChanged threw');
    }
  }

  private passivateIdle(now: number): void {
    for (const [u, v] of this.users) {
      if (now - v.at < this.o.userIdleMs && this.users.size <= this.o.maxActiveUsers) break;
      void this.passivate(u);
    }
  }

  private async passivate(userId: string): Promise<void> {
    if (!this.users.delete(userId)) return;
    try {
      await this.o.host.passivate?.(userId);
    } catch (err) {
      this.o.logger?.warn({ err: String(err), userId }, 'passivate threw');
    }
  }

  private async deadLetter(st: PartitionState, items: { entry: RawEntry; reason: string }[], ack = true): Promise<void> {
    if (items.length === 0) return;
    const { redis } = this.o;
    const stream = runtimeKeys.stream(st.partition);
    const pipe = redis.pipeline();
    for (const { entry, reason } of items) {
      const fields = entry[1];
      const raw = fields.indexOf(ENVELOPE_FIELD) % 2 === 0 ? fields[fields.indexOf(ENVELOPE_FIELD) + 1] : JSON.stringify(fields);
      pipe.xadd(runtimeKeys.deadLetter, 'MAXLEN', '~', '100000', '*', 'stream', stream, 'id', entry[0], 'reason', reason, 'raw', raw ?? '');
    }
    await pipe.exec();
    if (ack) await redis.xack(stream, CONSUMER_GROUP, ...items.map((i) => i.entry[0]));
    this.s.deadLettered += items.length;
    for (const { entry, reason } of items) this.o.onDeadLetter?.(entry[0], reason, st.partition);
  }
}

/** One more failure: the next attempt waits 100 ms, doubling up to 2 s. */
function backOff(x: { failures: number; retryAt: number }): void {
  x.failures++;
  x.retryAt = Date.now() + Math.min(50 * 2 ** x.failures, 2000);
}

function signalKey(s: Signal): string | undefined {
  return s.key === undefined ? undefined : `${s.userId}\u0000${s.key}`;
}

/** Runs a failed turn's rollback callbacks (each isolated: one throwing must not skip the others). */
function runRollbacks(fns: Array<() => void>, logger: RuntimeLogger | undefined): void {
  for (const fn of fns.splice(0)) {
    try {
      fn();
    } catch (err) {
      logger?.warn({ err: String(err) }, 'onRollback callback threw');
    }
  }
}
