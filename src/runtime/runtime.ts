/**
 * The partitioned actor runtime: commands of one user are serialised through one Redis stream partition
 * (`cmd:{pN}`, group `actors`); each partition is owned by one replica at a time under a lease with a fencing
 * epoch; the owner runs one turn at a time per partition, each turn one PostgreSQL transaction over a batch.
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
 * FENCING. A replica may commit a turn only while `partition_epochs.epoch` equals its lease epoch; the turn's
 * transaction checks it under `SELECT … FOR UPDATE` and holds the lock until COMMIT, and a new owner raises the
 * epoch (row lock) before it claims entries. A paused former owner that wakes up aborts (FencedOutError) and
 * nothing of its turn lands. Reads are fenced too (a Lua XREADGROUP that checks the lease atomically), so an
 * expired owner cannot pull new entries into its pending list.
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
 * fsync) loses appended-but-unread commands; member/lease expiry uses the replicas' wall clocks for membership.
 */
import type { Redis } from 'ioredis';
import type { Db, Tx } from '../infra/db/client.js';
import { DbError } from '../infra/db/errors.js';
import { LuaScript } from '../infra/market-data/lua.js';
import { assignPartitions } from './assignment.js';
import { CONSUMER_GROUP, ENVELOPE_FIELD, envelopeSchema, runtimeKeys, type Envelope } from './envelope.js';
import { claimPartitionEpoch, commitFencedBatch, FencedOutError, type CommandDecision, type StoredDecision } from './fencing.js';
import { fencedReadLua, partitionLeaseAcquireLua, partitionLeaseReleaseLua } from './scripts/partition-lease.lua.js';

const acquireScript = new LuaScript('partition-lease-acquire', partitionLeaseAcquireLua);
const releaseScript = new LuaScript('partition-lease-release', partitionLeaseReleaseLua);
const readScript = new LuaScript('partition-fenced-read', fencedReadLua);

export interface TurnContext {
  partition: number;
  epoch: number;
  /** The turn's fenced, RLS-scoped transaction (scope = the batch's users). */
  tx: Tx;
}

/** What the runtime hosts: the domain (account actors) lives behind this interface. */
export interface ActorHost {
  /** Applies new (never seen) commands in order inside the turn's transaction; one decision per command. */
  handleBatch(ctx: TurnContext, commands: Envelope[]): Promise<CommandDecision[]>;
  /** Called inside the turn's transaction before a user's first command since (re)activation, e.g. to load state. */
  activate?(ctx: TurnContext, userId: string): Promise<void>;
  /** Called when a user was idle for `userIdleMs`, evicted by `maxActiveUsers`, or its partition left this replica. */
  passivate?(userId: string): void | Promise<void>;
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
  maxBatch?: number; // default 64
  readCount?: number; // default 256
  maxMailbox?: number; // default 1024 (per partition; reading pauses above it)
  maxConcurrentTurns?: number; // default 16
  maxDeliveries?: number; // default 10
  idlePollMs?: number; // default 10
  userIdleMs?: number; // default 60000
  maxActiveUsers?: number; // default 10000
  /** Awaited before XACK when it returns a promise (so what it does is at-least-once, like the command). */
  onDecision?: (envelope: Envelope, decision: StoredDecision) => void | Promise<unknown>;
  onDeadLetter?: (entryId: string, reason: string, partition: number) => void;
  logger?: RuntimeLogger;
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
  claimed: number;
  takeovers: number;
}

type RawEntry = [id: string, fields: string[]];

interface PartitionState {
  partition: number;
  epoch: number;
  leaseValue: string;
  mailbox: RawEntry[];
  active: boolean;
  running: Promise<void> | null;
  retryAt: number;
  failures: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Transient: retry the same batch later rather than blaming a command. */
function isTransient(err: unknown): boolean {
  if (!(err instanceof DbError)) return false;
  const s = err.sqlstate;
  return s === undefined || /^(08|40|53|57|58)/.test(s);
}

export class PartitionRuntime {
  readonly owner: string;
  private readonly o: Required<Omit<RuntimeOptions, 'owner' | 'onDecision' | 'onDeadLetter' | 'logger'>> & RuntimeOptions;
  private readonly owned = new Map<number, PartitionState>();
  private readonly draining = new Map<number, Promise<void>>();
  private readonly floors = new Map<number, number>();
  private readonly users = new Map<string, { partition: number; at: number }>();
  private inflight = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly s = { turns: 0, applied: 0, replayed: 0, rejectedByRuntime: 0, deadLettered: 0, fencedOut: 0, turnErrors: 0, claimed: 0, takeovers: 0 };

  constructor(opts: RuntimeOptions) {
    const leaseTtlMs = opts.leaseTtlMs ?? 5000;
    this.owner = opts.owner ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    if (this.owner.includes(':')) throw new Error('owner id must not contain ":"');
    this.o = {
      leaseTtlMs,
      tickMs: Math.max(50, Math.floor(leaseTtlMs / 5)),
      maxBatch: 64,
      readCount: 256,
      maxMailbox: 1024,
      maxConcurrentTurns: 16,
      maxDeliveries: 10,
      idlePollMs: 10,
      userIdleMs: 60_000,
      maxActiveUsers: 10_000,
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as PartitionRuntime['o'];
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.tick();
    this.loops = [this.tickLoop(), this.readLoop()];
  }

  /** Graceful: leaves membership, finishes in-flight turns, releases every lease at once (no waiting for expiry). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all(this.loops);
    await this.o.redis.zrem(runtimeKeys.members, this.owner);
    await Promise.all([...this.owned.values()].map((st) => this.drop(st, 'stop', true)));
    await Promise.all(this.draining.values());
  }

  ownedPartitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  stats(): RuntimeStats {
    return { owned: this.ownedPartitions(), ...this.s };
  }

  // ---- membership, assignment, leases ----

  private async tickLoop(): Promise<void> {
    while (this.running) {
      await sleep(this.o.tickMs);
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
    const stored = await claimPartitionEpoch(db, p, epoch, this.owner);
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
    const st: PartitionState = { partition: p, epoch, leaseValue, mailbox: [], active: true, running: null, retryAt: 0, failures: 0 };
    await this.deadLetterOverDelivered(st);
    // Claim everything the previous owner(s) left pending, in id order, before reading new entries.
    let cursor = '0-0';
    do {
      const r = (await redis.call('XAUTOCLAIM', stream, CONSUMER_GROUP, this.owner, '0', cursor, 'COUNT', '1000')) as [string, (RawEntry | null)[], string[]?];
      cursor = r[0];
      for (const e of r[1]) if (e) st.mailbox.push(e);
    } while (cursor !== '0-0');
    this.s.claimed += st.mailbox.length;
    this.s.takeovers++;
    this.owned.set(p, st);
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
    if (this.owned.get(st.partition) === st) this.owned.delete(st.partition);
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
    while (this.running) {
      const targets = [...this.owned.values()].filter((st) => st.active && st.mailbox.length < maxMailbox);
      let got = 0;
      if (targets.length > 0) {
        try {
          const replies = await Promise.all(
            targets.map((st) =>
              readScript.run(redis, [runtimeKeys.lease(st.partition), runtimeKeys.stream(st.partition)], [
                st.leaseValue,
                CONSUMER_GROUP,
                this.owner,
                Math.min(readCount, maxMailbox - st.mailbox.length),
              ]),
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
              st.mailbox.push(...entries);
              got += entries.length;
            } // else: left pending; the next owner claims them after our release
          });
        } catch (err) {
          this.o.logger?.warn({ err: String(err) }, 'runtime read failed');
          await sleep(200);
        }
      }
      this.schedule();
      if (got === 0) await sleep(idlePollMs);
    }
  }

  // ---- turns ----

  private schedule(): void {
    const now = Date.now();
    for (const st of this.owned.values()) {
      if (this.inflight >= this.o.maxConcurrentTurns) return;
      if (!st.active || st.running || st.mailbox.length === 0 || st.retryAt > now) continue;
      this.inflight++;
      st.running = this.turn(st).finally(() => {
        this.inflight--;
        st.running = null;
        this.schedule();
      });
    }
  }

  private async turn(st: PartitionState): Promise<void> {
    const batch = st.mailbox.slice(0, this.o.maxBatch);
    const valid: { entry: RawEntry; env: Envelope }[] = [];
    const poison: { entry: RawEntry; reason: string }[] = [];
    for (const entry of batch) {
      const fields = entry[1];
      const raw = fields[fields.indexOf(ENVELOPE_FIELD) + 1];
      let parsed: unknown;
      try {
        parsed = raw === undefined || fields.indexOf(ENVELOPE_FIELD) % 2 !== 0 ? undefined : JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      const r = envelopeSchema.safeParse(parsed);
      if (r.success) valid.push({ entry, env: r.data });
      else poison.push({ entry, reason: parsed === undefined ? 'not a JSON envelope' : `invalid envelope: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
    }
    this.s.turns++;
    try {
      const { decisions, dead } = await this.commitIsolated(st, valid.map((v) => v.env));
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
      for (const v of valid) {
        const d = byId.get(v.env.id);
        if (!d || deadIds.has(v.env.id)) continue;
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
      if (batch.length) await this.o.redis.xack(runtimeKeys.stream(st.partition), CONSUMER_GROUP, ...batch.map((e) => e[0]));
      if (st.active) st.mailbox.splice(0, batch.length);
      st.failures = 0;
      st.retryAt = 0;
    } catch (err) {
      if (err instanceof FencedOutError) {
        this.s.fencedOut++;
        if (err.currentEpoch !== null) this.floors.set(st.partition, Math.max(this.floors.get(st.partition) ?? 0, err.currentEpoch));
        this.o.logger?.warn({ partition: st.partition, epoch: st.epoch, current: err.currentEpoch }, 'turn fenced out');
        void this.drop(st, 'fenced out', true, true);
        return;
      }
      this.s.turnErrors++;
      st.failures++;
      st.retryAt = Date.now() + Math.min(50 * 2 ** st.failures, 2000);
      this.o.logger?.warn({ partition: st.partition, err: String(err) }, 'turn failed, retrying');
    }
  }

  /** Commits the batch; on a non-transient failure isolates commands one per transaction so a poison command never blocks. */
  private async commitIsolated(
    st: PartitionState,
    envs: Envelope[],
  ): Promise<{ decisions: StoredDecision[]; dead: { env: Envelope; reason: string }[] }> {
    if (envs.length === 0) return { decisions: [], dead: [] };
    const { db } = this.o;
    try {
      return { decisions: await commitFencedBatch(db, st.partition, st.epoch, envs, (tx, fresh) => this.handle(st, tx, fresh)), dead: [] };
    } catch (err) {
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

  private async handle(st: PartitionState, tx: Tx, fresh: Envelope[]): Promise<CommandDecision[]> {
    const ctx: TurnContext = { partition: st.partition, epoch: st.epoch, tx };
    const now = Date.now();
    for (const uid of new Set(fresh.map((e) => e.userId))) {
      const known = this.users.get(uid);
      if (!known && this.o.host.activate) await this.o.host.activate(ctx, uid);
      this.users.delete(uid);
      this.users.set(uid, { partition: st.partition, at: now }); // Map order = LRU order
    }
    return this.o.host.handleBatch(ctx, fresh);
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
