// The end-of-day settle fan-out: one `mbt.settle` command per paper account into its user's partition, in keyset
// batches, with durable progress in settle_fanouts so a killed run resumes where it stopped.
//
// Guarantee: at-least-once per (user, day). A batch is appended to Redis before its cursor is saved, so a crash in
// between appends that batch again on resume; the envelope id is derived from (user, day) (settleCommandId), so the
// actor's processed_commands turns every repeat into a no-op. A day is marked complete only after its last batch.
import type { Redis } from 'ioredis';
import type postgres from 'postgres';
import { SETTLE_COMMAND_TYPE, settleCommandId, type SettlePayload } from '../../contracts/index.js';
import { appendCommand } from '../../runtime/index.js';
import type { SessionClose } from './schedule.js';

/** Session-level advisory lock: one fan-out at a time across every workers replica (released if the process dies). */
export const SETTLE_LOCK_KEY = 0x5e771e; // arbitrary constant, unique among the project's advisory locks

export type SettleErrorCode = 'settle_busy';

export class SettleError extends Error {
  override readonly name = 'SettleError';
  constructor(
    readonly code: SettleErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface FanOutLogger {
  info(obj: object, msg: string): void;
}

export interface FanOutDeps {
  /** PostgreSQL as the batch role (crosses tenants). */
  sql: postgres.Sql;
  redis: Redis;
  partitions: number;
  batchSize: number;
  /** Pause between batches (spreads a big fan-out; tests use it to kill a run midway). */
  batchPauseMs: number;
  now(): number;
  logger: FanOutLogger;
  /** Called after each appended batch with its size. */
  onBatch?(appended: number): void;
}

export interface FanOutOptions {
  /** `schedule` or `operator:<id>`. */
  trigger: string;
  /** Run a completed day again from the first account (an operator's explicit re-run); an unfinished one resumes. */
  restart?: boolean;
  /** The scheduled catch-up passed this day: it becomes eligible as the watermark once complete. */
  scheduled?: boolean;
}

export interface FanOutResult {
  tradingDay: string;
  /** Commands appended by this call (0 when the day was already complete). */
  appended: number;
  batches: number;
  alreadyComplete: boolean;
}

type Conn = postgres.ReservedSql;

/** Runs `fn` holding the fan-out lock on one reserved connection; throws SettleError('settle_busy') if another run holds it. */
export async function withSettleLock<T>(sql: postgres.Sql, fn: (conn: Conn) => Promise<T>): Promise<T> {
  const conn = await sql.reserve();
  try {
    const [row] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(${SETTLE_LOCK_KEY}) as locked`;
    if (!row?.locked) throw new SettleError('settle_busy', 'another settle fan-out is running');
    try {
      return await fn(conn);
    } finally {
      await conn`select pg_advisory_unlock(${SETTLE_LOCK_KEY})`.catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}

/** Fans out one session close. Call inside withSettleLock (conn is the locked connection). */
export async function fanOutDay(deps: FanOutDeps, conn: Conn, session: SessionClose, opts: FanOutOptions): Promise<FanOutResult> {
  const day = session.date;
  const closeAt = session.closeAt.toISOString();
  await conn`
    insert into settle_fanouts (trading_day, close_at, triggered_by) values (${day}, ${closeAt}, ${opts.trigger})
    on conflict (trading_day) do nothing`;
  const [found] = await conn<{ cursor: string | null; completed: boolean; appended: number }[]>`
    select cursor, completed_at is not null as completed, users_appended as appended from settle_fanouts where trading_day = ${day}`;
  if (!found) throw new Error(`settle_fanouts row for ${day} vanished`);
  let state = found;
  if (opts.restart && state.completed) {
    await conn`
      update settle_fanouts set cursor = null, users_appended = 0, completed_at = null, triggered_by = ${opts.trigger},
             close_at = ${closeAt}, updated_at = now()
       where trading_day = ${day}`;
    state = { cursor: null, completed: false, appended: 0 };
  }
  if (state.completed) {
    if (opts.scheduled) await conn`update settle_fanouts set scheduled = true, updated_at = now() where trading_day = ${day} and not scheduled`;
    deps.logger.info({ tradingDay: day }, 'settle fan-out: day already complete');
    return { tradingDay: day, appended: 0, batches: 0, alreadyComplete: true };
  }
  if (state.cursor !== null) deps.logger.info({ tradingDay: day, cursor: state.cursor, appendedBefore: state.appended }, 'settle fan-out: resuming');

  const payload: SettlePayload = { tradingDay: day, closeAt };
  let cursor = state.cursor;
  let appended = 0;
  let batches = 0;
  for (;;) {
    // Accounts that existed at the close and are not closed; keyset on the unique user_id index.
    const rows = await conn<{ userId: string }[]>`
      select user_id as "userId" from paper_accounts
       where status <> 'closed' and created_at <= ${closeAt}
         ${cursor === null ? conn`` : conn`and user_id > ${cursor}`}
       order by user_id
       limit ${deps.batchSize}`;
    if (rows.length > 0) {
      const issuedAt = new Date(deps.now()).toISOString();
      // Sent together: ioredis writes them back to back on one connection (a pipeline without MULTI).
      await Promise.all(
        rows.map(({ userId }) =>
          appendCommand(deps.redis, { id: settleCommandId(userId, day), userId, type: SETTLE_COMMAND_TYPE, payload, issuedAt }, deps.partitions),
        ),
      );
      cursor = rows[rows.length - 1]!.userId;
      appended += rows.length;
      batches += 1;
      await conn`
        update settle_fanouts set cursor = ${cursor}, users_appended = users_appended + ${rows.length}, updated_at = now()
         where trading_day = ${day}`;
      deps.onBatch?.(rows.length);
      deps.logger.info({ tradingDay: day, batch: batches, appended, cursor }, 'settle fan-out progress');
    }
    if (rows.length < deps.batchSize) break;
    if (deps.batchPauseMs > 0) await new Promise((r) => setTimeout(r, deps.batchPauseMs));
  }
  await conn`
    update settle_fanouts set completed_at = now(), scheduled = scheduled or ${opts.scheduled ?? false}, updated_at = now()
     where trading_day = ${day}`;
  deps.logger.info({ tradingDay: day, appended, batches }, 'settle fan-out complete');
  return { tradingDay: day, appended, batches, alreadyComplete: false };
}

/** The scheduled watermark: the latest day the scheduled catch-up completed (operator runs do not move it). */
export async function settleWatermark(conn: Conn | postgres.Sql): Promise<string | null> {
  const [row] = await conn<{ day: string | null }[]>`
    select max(trading_day)::text as day from settle_fanouts where scheduled and completed_at is not null`;
  return row?.day ?? null;
}
