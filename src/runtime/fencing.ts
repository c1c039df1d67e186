// PostgreSQL side of the runtime: the fencing epoch per partition and the effectively-once turn transaction.
import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../infra/db/client.js';
import { DbError, toDbError } from '../infra/db/errors.js';
import { arrayLiteral, jsonCells } from '../infra/db/arrays.js';
import { perRowCount, sendStatement } from '../infra/db/statements.js';
import type { Envelope } from './envelope.js';

/** The partition's epoch in PostgreSQL is not the one this turn runs under: a newer owner took it. Nothing was written. */
export class FencedOutError extends Error {
  readonly code = 'FENCED_OUT' as const;
  override readonly name = 'FencedOutError';
  constructor(
    readonly partition: number,
    readonly epoch: number,
    readonly currentEpoch: number | null,
  ) {
    super(`partition ${partition}: fenced out (turn epoch ${epoch}, database epoch ${currentEpoch ?? 'none'})`);
  }
}

/**
 * Records `epoch` as the partition's fencing epoch when it is newer than the stored one (the row lock waits for
 * an old owner's in-flight turn to commit or abort). Returns the epoch stored afterwards: equal to `epoch` when
 * ours is current, higher when PostgreSQL already knows a newer owner (then our lease is stale).
 *
 * With `lockWaitMs`, a turn that still holds the row lock after that long is ended: its owner's lease has expired
 * (ours is newer), so it is paused or stuck (SIGSTOP, VM freeze: its session may sit mid-statement, where no
 * PostgreSQL timeout applies) and would otherwise block the takeover, and the caller's lease renewals, until it
 * wakes. Its transaction aborts, so nothing of it lands — the same outcome as being fenced out.
 */
export async function claimPartitionEpoch(db: Db, partition: number, epoch: number, owner: string, opts: { lockWaitMs?: number } = {}): Promise<number> {
  const claim = () =>
    db.transaction(async (tx) => {
      if (opts.lockWaitMs !== undefined) await tx.execute(sql`select set_config('lock_timeout', ${`${Math.max(1, Math.floor(opts.lockWaitMs))}ms`}, true)`);
      const rows = await tx.execute<{ epoch: string }>(sql`
        insert into partition_epochs (partition, epoch, owner, updated_at) values (${partition}, ${epoch}, ${owner}, now())
        on conflict (partition) do update set epoch = excluded.epoch, owner = excluded.owner, updated_at = now()
          where partition_epochs.epoch < excluded.epoch
        returning epoch`);
      if (rows.length > 0) return Number(rows[0]!.epoch);
      const cur = await tx.execute<{ epoch: string }>(sql`select epoch from partition_epochs where partition = ${partition}`);
      return Number(cur[0]!.epoch);
    });
  try {
    return await claim();
  } catch (err) {
    const e = toDbError(err);
    if (opts.lockWaitMs === undefined || !(e instanceof DbError) || e.sqlstate !== '55P03') throw e;
  }
  try {
    // The session holding the row lock is found through the row itself: its xmax is the locking transaction, whose
    // own lock pg_locks lists with its pid. Only a turn session (tagged) of an epoch older than ours is ended.
    await db.execute(sql`
      select pg_terminate_backend(l.pid, 1000)
        from partition_epochs e
        join pg_locks l on l.locktype = 'transactionid' and l.transactionid = e.xmax and l.mode = 'ExclusiveLock' and l.granted
        join pg_stat_activity a on a.pid = l.pid
       where e.partition = ${partition} and e.epoch < ${epoch} and a.datname = current_database()
         and l.pid <> pg_backend_pid() and a.application_name like 'raxx-turn:%'`);
    return await claim();
  } catch (err) {
    throw toDbError(err);
  }
}

/** The stored epoch of a partition (0 when never claimed). */
export async function currentPartitionEpoch(db: Db, partition: number): Promise<number> {
  const rows = await db.execute<{ epoch: string }>(sql`select epoch from partition_epochs where partition = ${partition}`);
  return rows.length > 0 ? Number(rows[0]!.epoch) : 0;
}

/**
 * `application_name` of a session while it runs a turn of `partition` under `epoch` (transaction-local; a turn over
 * several partitions is tagged with its first and `+N`): what a new owner may end when such a session holds the
 * partition's epoch row lock past half a lease (see claimPartitionEpoch), and what an operator sees.
 */
export const turnTag = (partition: number, epoch: number, more = 0) => `raxx-turn:p${partition}:e${epoch}${more > 0 ? `+${more}` : ''}`;

/** One partition a turn commits for, under the epoch its owner holds. */
export interface Fence {
  partition: number;
  epoch: number;
}

/**
 * One transaction, RLS-scoped to `userIds` (transaction-local `raxx.user_ids`, as withTenant), that first locks the
 * partition's epoch row (`SELECT … FOR UPDATE`) and aborts with FencedOutError unless it equals `epoch`; the lock is
 * held until commit, so no new owner can take over between the check and the commit. Database errors → DbError.
 */
export async function withFencedTransaction<T>(
  db: Db,
  partition: number,
  epoch: number,
  userIds: readonly string[],
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  return fencedTransaction(db, [{ partition, epoch }], userIds, () => Promise.resolve(undefined), (tx) => fn(tx));
}

/** withFencedTransaction over several partitions of one owner: every epoch checked (in partition order) before `fn`. */
export async function withFencedGroup<T>(
  db: Db,
  fences: readonly Fence[],
  userIds: readonly string[],
  fn: (tx: Tx) => Promise<T>,
  phases?: TurnPhases,
): Promise<T> {
  return fencedTransaction(db, fences, userIds, () => Promise.resolve(undefined), (tx) => fn(tx), phases);
}

/**
 * Where a turn's transaction spent its time (ms), filled in as it goes: `begin` until the transaction's callback ran
 * (a pool connection, BEGIN sent), `fence` the first round trip (scope, fence, lookups, prefetch), `work` the
 * handler with its writes (`decide` its part until the handlers returned), `commit` COMMIT's round trip (the WAL
 * flush) — for command and signal turns also their deferred last writes', sent with it. A phase not reached stays
 * undefined. In a blind turn nothing waits for the fence: `fence` is its prefetch alone (no time when nothing is
 * read), and `commit` also holds the fence's execution in PostgreSQL.
 */
export interface TurnPhases {
  begin?: number;
  fence?: number;
  work?: number;
  /** Command turns: the part of `work` until every handler had decided (the rest is sending their last writes). */
  decide?: number;
  commit?: number;
}

/**
 * withFencedTransaction plus `alongside(tx)`, a read sent in the same round trip as the scope-and-fence statement
 * (one round trip instead of two): postgres.js pipelines queries issued together on the transaction's connection
 * and PostgreSQL runs them in the order sent. A statement is queued when its `.then` is called (drizzle's and
 * sendStatement's alike, in call order), so the scope goes first and `alongside` — which must have sent its
 * statements when it returns — sees it.
 * Its result reaches `fn` only when the fence held.
 */
async function fencedTransaction<A, T>(
  db: Db,
  fences: readonly Fence[],
  userIds: readonly string[],
  alongside: (tx: Tx) => PromiseLike<A>,
  fn: (tx: Tx, pre: A) => Promise<T>,
  phases: TurnPhases = {},
  blind = false,
): Promise<T> {
  const literal = arrayLiteral([...new Set(userIds)]);
  const sorted = [...fences].sort((a, b) => a.partition - b.partition);
  const first = sorted[0]!;
  const tag = turnTag(first.partition, first.epoch, sorted.length - 1);
  const partitions = `{${sorted.map((f) => f.partition).join(',')}}`;
  let at = performance.now();
  const lap = (phase: keyof TurnPhases) => {
    const now = performance.now();
    phases[phase] = now - at;
    at = now;
  };
  try {
    const out = await db.transaction(async (tx) => {
      lap('begin');
      let pre: A;
      if (blind) {
        // The fence's answer is not awaited: a moved epoch raises in PostgreSQL (40001), which aborts everything sent
        // after it and turns COMMIT into a rollback; the transaction then rejects with that error.
        const epochs = `{${sorted.map((f) => f.epoch).join(',')}}`;
        sendStatement(tx, BLIND_SCOPE_AND_FENCE, [literal, tag, partitions, epochs]).then(undefined, () => {});
        pre = await alongside(tx);
        lap('fence');
      } else {
        // The scope and the fence as one statement; its epochs locked in partition order (one owner runs turns over
        // several partitions at once), before the statements after it read anything under the scope.
        const fence = sendStatement<{ epochs: Record<string, number | string> }>(tx, SCOPE_AND_FENCE, [literal, tag, partitions]);
        const [[row], read] = await Promise.all([fence, alongside(tx).then((r) => r)]);
        lap('fence'); // also for a turn fenced out below
        const stored = new Map(Object.entries(row?.epochs ?? {}).map(([p, e]) => [Number(p), Number(e)]));
        for (const f of sorted) {
          const current = stored.get(f.partition) ?? null;
          if (current !== f.epoch) throw new FencedOutError(f.partition, f.epoch, current);
        }
        pre = read;
      }
      const result = await fn(tx, pre);
      lap('work');
      return result;
    });
    lap('commit');
    return out;
  } catch (err) {
    if (err instanceof FencedOutError) throw err;
    throw toDbError(err);
  }
}

/**
 * Resolves once every microtask queued before it (and those they queue) has run, still before the next macrotask.
 * From inside a microtask, a `process.nextTick` callback runs only after Node has drained the whole microtask queue;
 * the first await makes sure this runs inside one. Not a macrotask (setImmediate): the turn's last writes sit in
 * postgres.js's buffer until its write at the next check phase (patches/README.md), and a COMMIT queued before then
 * leaves in the same socket write — one write and one wake-up of the backend less per turn.
 */
async function drainMicrotasks(): Promise<void> {
  await Promise.resolve();
  await new Promise<void>((resolve) => process.nextTick(resolve));
}

/** PostgreSQL's "current transaction is aborted" (a statement sent after one that failed). */
const isAbortedTx = (err: unknown): boolean => {
  const e = toDbError(err);
  return e instanceof DbError && e.sqlstate === '25P02';
};

/**
 * Writes a handler sent in the turn's transaction without awaiting them (TurnContext.defer): each is settled at once
 * (a rejection is kept, never left unhandled) and sent ahead of the turn's last statement and its COMMIT, so they
 * all share one round trip.
 */
export class DeferredWrites {
  private readonly pending: Array<Promise<{ error: unknown } | null>> = [];
  private failed = false;

  readonly defer = (write: PromiseLike<unknown>): void => {
    this.pending.push(
      Promise.resolve(write).then(
        () => null,
        (error: unknown) => {
          this.failed = true;
          return { error };
        },
      ),
    );
  };

  /** Awaits them all (plus `last`, sent after them); throws the first failure in send order. */
  async settle(last?: Promise<{ error: unknown } | null>): Promise<void> {
    const failed = (await Promise.all(last ? [...this.pending, last] : this.pending)).find((r) => r !== null);
    if (failed) throw failed.error;
  }

  /**
   * What a turn's callback awaits instead of `settle` so that COMMIT goes out right behind these writes (and `last`),
   * in the same round trip. PostgreSQL answers that COMMIT with ROLLBACK when one of them failed, and the transaction
   * then rejects with the first failure (patches/postgres+3.4.9.patch). A write that failed before its statement
   * reached PostgreSQL is nothing a COMMIT could see: such failures surface while the microtasks queued now run
   * (a statement's way from its call to the connection's buffer is a chain of microtasks), so this first lets that
   * queue drain and, when one did fail, settles everything and throws as `settle` does (a rollback).
   * Await `written` once the transaction resolved: it has settled by then, and guards that nothing of a failed
   * write is reported committed.
   */
  async beforeCommit(last?: Promise<{ error: unknown } | null>): Promise<{ written: Promise<void> }> {
    await drainMicrotasks();
    if (this.failed) await this.settle(last);
    const written = this.settle(last).catch((err: unknown) => {
      throw toDbError(err);
    });
    written.catch(() => {}); // observed after the transaction; never an unhandled rejection meanwhile
    return { written };
  }

  /**
   * The error a failed turn reports once none of its writes is in flight: a deferred write that failed first aborted
   * the transaction, so it is the cause, and the handler's "transaction is aborted" (25P02) only the symptom.
   */
  async causeOf(err: unknown): Promise<unknown> {
    const cause = (await Promise.all(this.pending)).find((r) => r !== null && !isAbortedTx(r.error));
    return isAbortedTx(err) && cause ? cause.error : err;
  }
}

export interface CommandDecision {
  id: string;
  outcome: 'accepted' | 'rejected';
  /** Machine-readable code (stored as result_code; defaults to the outcome). */
  code?: string;
  /** JSON-serialisable result or rejection details. */
  result?: unknown;
}

export interface StoredDecision extends CommandDecision {
  /** True when this decision was committed earlier (a redelivery): the handler did not run again. */
  replayed: boolean;
}

/**
 * Effectively-once batch: inside withFencedTransaction, looks up which command ids are already in
 * processed_commands (their stored decision is replayed), calls `handle` with the new ones only (in order),
 * inserts one processed_commands row per new command with its decision, commits. Returns a decision per
 * envelope, in input order. A decision missing from `handle`'s answer is an error (the transaction aborts).
 */
export async function commitFencedBatch(
  db: Db,
  partition: number,
  epoch: number,
  envelopes: readonly Envelope[],
  handle: (tx: Tx, fresh: Envelope[], defer: (write: PromiseLike<unknown>) => void, prefetched: unknown) => Promise<CommandDecision[]>,
  opts: { prefetch?: Prefetch; phases?: TurnPhases; blind?: boolean } = {},
): Promise<StoredDecision[]> {
  const [out] = await commitFencedGroup(db, [{ partition, epoch, envelopes }], (_i, tx, fresh, defer, pre) => handle(tx, fresh, defer, pre), opts);
  return out!;
}

/**
 * Reads a batch's handler will need, sent in the turn's first round trip (after the fence and the processed-id
 * lookup, so they run under the turn's scope and only reach the handler when the fence held). It must issue its
 * statements synchronously — before its first await on anything else — or they miss that round trip (still correct,
 * one more round trip). It sees every envelope of the batch, also ones already processed; its result reaches the
 * handler as `prefetched`.
 */
export type Prefetch = (tx: Tx, envelopes: readonly Envelope[], turn: PrefetchTurn) => PromiseLike<unknown>;

/** What a prefetch is told of its turn. */
export interface PrefetchTurn {
  /**
   * The turn is blind (commitFencedGroup): any failure runs it again, not blind. A read that only guards against a
   * conflict PostgreSQL refuses by itself (a unique index) may be skipped then: the conflict fails the blind turn, and
   * the turn run again reads.
   */
  blind: boolean;
}

/** One partition's part of a turn over several partitions. */
export interface FencedBatch extends Fence {
  envelopes: readonly Envelope[];
}

/**
 * commitFencedBatch for several partitions of one owner in ONE transaction: every epoch is checked (a moved one
 * aborts the whole turn with that partition's FencedOutError), the id lookup and the processed_commands insert are
 * one statement each, and `handle` runs for each partition's new commands at the same time (partitions share no
 * user, so their statements may interleave) — or, with `whole`, once for all of them (one prefetch too). Returns the
 * decisions per batch, in input order. Under load this is
 * what makes a turn carry many commands however many partitions they are spread over: the transaction, its fence
 * and its round trips are paid once.
 *
 * `blind`: the turn does not wait for its fence, and does not look its ids up — `handle` runs at once with every
 * command as new, and when it reads nothing (its state is in memory) the whole turn, fence to COMMIT, is one round
 * trip. A moved epoch raises 40001 in PostgreSQL (nothing lands), and a command already applied fails the
 * processed_commands insert (23505): either way the caller runs the turn again, not blind, which tells them apart
 * (FencedOutError, a replayed decision). Only for batches that are most likely new and fenced right: first deliveries
 * to an owner whose last turn went through (PartitionRuntime decides).
 */
export async function commitFencedGroup(
  db: Db,
  batches: readonly FencedBatch[],
  handle: (index: number, tx: Tx, fresh: Envelope[], defer: (write: PromiseLike<unknown>) => void, prefetched: unknown) => Promise<CommandDecision[]>,
  opts: { prefetch?: Prefetch; phases?: TurnPhases; whole?: boolean; blind?: boolean } = {},
): Promise<StoredDecision[][]> {
  // Whole (ActorHost.wholeTurns): one prefetch and one `handle` (index 0) for every batch's commands, in batch order.
  const whole = opts.whole === true && batches.length > 1;
  const ids = batches.flatMap((b) => b.envelopes.map((e) => e.id));
  let written: Promise<void> | undefined;
  const decisions = await fencedTransaction(
    db,
    batches,
    batches.flatMap((b) => b.envelopes.map((e) => e.userId)),
    // Which ids were already applied, and the handlers' prefetched reads: in the fence's round trip (a turn is a few
    // round trips, not one per step).
    (tx) => {
      const done =
        ids.length && !opts.blind ? sendStatement<{ id: string; code: string; result: unknown }>(tx, processedLookup(ids.length), ids) : Promise.resolve([]);
      const prefetch = opts.prefetch;
      const lists = whole ? [batches.flatMap((b) => b.envelopes)] : batches.map((b) => b.envelopes);
      const turn: PrefetchTurn = { blind: opts.blind === true };
      const pre = lists.map((l) => (prefetch && l.length ? Promise.resolve(prefetch(tx, l, turn)) : Promise.resolve(undefined)));
      return Promise.all([done, Promise.all(pre)]);
    },
    async (tx, [done, prefetched]) => {
      const doneById = new Map(done.map((r) => [r.id, r]));
      const seen = new Set<string>();
      const fresh = batches.map((b) => {
        const list: Envelope[] = [];
        for (const e of b.envelopes) {
          if (!doneById.has(e.id) && !seen.has(e.id)) list.push(e);
          seen.add(e.id);
        }
        return list;
      });
      // Writes `handle` sent without awaiting: awaited with the processed_commands insert (one round trip).
      const deferred = new DeferredWrites();
      const started = performance.now();
      // allSettled: no batch may still be issuing statements when a failure rolls the transaction back.
      const calls = whole ? [fresh.flat()] : fresh;
      const settled = await Promise.allSettled(calls.map((list, i) => (list.length ? handle(i, tx, list, deferred.defer, prefetched[i]) : Promise.resolve([]))));
      if (opts.phases) opts.phases.decide = performance.now() - started;
      const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      // No statement of this turn may still be in flight when it rolls back.
      if (failure) throw await deferred.causeOf(failure.reason);
      const decided = settled.map((r) => (r as PromiseFulfilledResult<CommandDecision[]>).value);
      const byId = new Map(decided.flat().map((d) => [d.id, d]));
      const rows = fresh.flatMap((list, i) =>
        list.map((e) => {
          const d = byId.get(e.id);
          if (!d) throw new Error(`handler returned no decision for command ${e.id}`);
          return {
            commandId: e.id,
            userId: e.userId,
            partition: batches[i]!.partition,
            type: e.type,
            resultCode: d.code ?? d.outcome,
            result: { outcome: d.outcome, ...(d.code !== undefined ? { code: d.code } : {}), ...(d.result !== undefined ? { result: d.result } : {}) },
          };
        }),
      );
      const insert = rows.length ? insertProcessed(tx, rows).then(() => null, (error: unknown) => ({ error })) : Promise.resolve(null);
      // Sent after the deferred writes, so it runs after them; the first failure in send order is the cause. Not
      // awaited: COMMIT goes with them.
      ({ written } = await deferred.beforeCommit(insert));
      const emitted = new Set<string>();
      return batches.map((b) => {
        const out: StoredDecision[] = [];
        for (const e of b.envelopes) {
          if (emitted.has(e.id)) continue;
          emitted.add(e.id);
          const prev = doneById.get(e.id);
          if (prev) {
            const r = (prev.result ?? {}) as { outcome?: 'accepted' | 'rejected'; code?: string; result?: unknown };
            out.push({ id: e.id, outcome: r.outcome ?? 'accepted', code: prev.code, result: r.result, replayed: true });
          } else {
            // Copied field by field: a spread of the handler's object made a new hidden class for every command.
            const d = byId.get(e.id)!;
            out.push({ id: d.id, outcome: d.outcome, code: d.code, result: d.result, replayed: false });
          }
        }
        return out;
      });
    },
    opts.phases,
    opts.blind === true,
  );
  await written;
  return decisions;
}

/**
 * The turn's processed_commands rows in one statement whose text does not depend on how many there are. Sent now
 * (sendStatement), so it runs after every statement the handlers sent before it.
 */
function insertProcessed(
  tx: Tx,
  rows: ReadonlyArray<{ commandId: string; userId: string; partition: number; type: string; resultCode: string; result: unknown }>,
): Promise<unknown> {
  return sendStatement(tx, INSERT_PROCESSED, [
    arrayLiteral(rows.map((r) => r.commandId)),
    arrayLiteral(rows.map((r) => r.userId)),
    arrayLiteral(rows.map((r) => r.partition)),
    arrayLiteral(rows.map((r) => r.type)),
    arrayLiteral(rows.map((r) => r.resultCode)),
    arrayLiteral(jsonCells(rows.map((r) => r.result))),
  ]);
}

const INSERT_PROCESSED = `insert into processed_commands (command_id, user_id, partition, type, result_code, result)
  select * from unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[])`;

/**
 * The turn's first statement: its tenant scope and tag (set_config, transaction-local), and its partitions' epochs
 * locked in partition order (the rows are locked as the sort yields them), as one JSON object partition → epoch. Epochs are lease
 * counters, far below 2^53.
 */
const SCOPE_AND_FENCE = `with fence as (select partition, epoch from partition_epochs where partition = any($3::int[]) order by partition for update)
  select set_config('raxx.user_ids', $1, true) as scope, set_config('application_name', $2, true) as tag,
    (select coalesce(json_object_agg(partition, epoch), '{}') from fence) as epochs`;

/**
 * SCOPE_AND_FENCE for a blind turn (one whose statements all go out before the fence answers): the same scope, tag
 * and locks, and every epoch compared in PostgreSQL against the turn's ($4, in partition order), raising 40001 unless
 * all match — the statements sent behind it then never run.
 */
const BLIND_SCOPE_AND_FENCE = `with fence as (select partition, epoch from partition_epochs where partition = any($3::int[]) order by partition for update)
  select set_config('raxx.user_ids', $1, true) as scope, set_config('application_name', $2, true) as tag,
    public.raxx_expect_rows((select count(*) from fence f join unnest($3::int[], $4::bigint[]) as w(partition, epoch)
      on w.partition = f.partition and w.epoch = f.epoch), cardinality($3::int[]), 'partition_epochs (the turn''s fence)') as fenced`;

/** Which of a turn's command ids are already applied: an `in` list (an index plan whatever the table's size, arrays.ts), one text per length. */
const processedLookup = perRowCount(
  (n) => `select command_id as id, result_code as code, result from processed_commands where command_id in (${Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ')})`,
);
