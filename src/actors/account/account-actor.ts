// The account actor host: applies account commands inside the runtime's turn transaction (one per batch), one
// decision per command, an audit row per accepted command, and turns decisions into private-log events.
import { sql } from 'drizzle-orm';
import type { UserEvent } from '../../contracts/index.js';
import { appendAudits, type AuditEntry } from '../../infra/audit/index.js';
import type { Tx } from '../../infra/db/index.js';
import { arrayLiteral } from '../../infra/db/arrays.js';
import { sendStatement } from '../../infra/db/statements.js';
import { recordEffects, type OutboxEffect } from '../../infra/signal-outbox/index.js';
import { DEFAULT_STARTING_CASH } from '../../infra/db/schema/accounts.js';
import type { ActorHost, CommandDecision, Envelope, Signal, StoredDecision } from '../../runtime/index.js';
import { isLiveCommandType, LIVE_FOLLOW_SIGNAL, LIVE_TRADE_UPDATE_SIGNAL, liveFillEvents, LiveHost, type LiveHostOptions } from './live/index.js';
import { isMbtCommandType, MbtHost, MbtTurn, splitTradeUpdates, tradeUpdateEvents, type MbtHostOptions } from './mbt/index.js';
import { ACCOUNT_EVENT_KINDS, isAccountCommandType, parseAccountCommand, positiveDecimal, REJECTION_CODES, type AccountCommand, type RejectionCode } from './messages.js';
import { KnownAccounts, pgTimestamp } from './known-accounts.js';
import { AT_COLUMN, numericAdd, numericGte, numericNeg, readAccountsInScope, SNAPSHOT_COLUMNS, toSnapshot, type AccountSnapshot, type KnownAccount } from './state.js';

export interface AccountHostOptions {
  /** Cash of a newly opened account (decimal string, > 0); default DEFAULT_STARTING_CASH (config.accounts.startingCash in the role). */
  startingCash?: string;
  /** The paper engine's clock, calendar, asset facts and quotes (docs/accounts.md, "Orders (MBT)"). */
  mbt?: MbtHostOptions;
  /** The live-broker handoff (KMS, broker adapter, OAuth refresh); without it live commands are refused. */
  live?: LiveHostOptions;
}

/** What an accepted command reports (stored in processed_commands, replayed identically, and sent as the domain event). */
export type AccountResult = AccountSnapshot & { at: string; amount?: string; reason?: string };

/** A private-log event before the log script gives it its `T` and per-user `seq`. */
export type UserEventDraft = Omit<UserEvent, 'T' | 'seq'>;

/** An effect of a signal turn as the host returns it: stored in signal_outbox row `outboxId` (settled once committed). */
export interface RecordedEffect extends OutboxEffect {
  outboxId: Promise<number>;
}

export function createAccountHost(opts: AccountHostOptions = {}): ActorHost & { mbt: MbtHost; live: LiveHost | undefined } {
  const startingCash = positiveDecimal.parse(opts.startingCash ?? DEFAULT_STARTING_CASH);
  const engines = new MbtHost(opts.mbt);
  const liveHost = opts.live ? new LiveHost(opts.live) : undefined;
  const accounts = new KnownAccounts();
  return {
    mbt: engines,
    live: liveHost,
    // Everything the host does per call — its reads, the engine save, the audit rows — is keyed by user: one call per
    // group turn sends each of those statements once per turn instead of once per partition.
    wholeTurns: true,
    passivate: (userId) => {
      engines.passivate(userId);
      liveHost?.passivate(userId);
      accounts.delete(userId);
    },
    // A live command calls the broker, which a turn run again (blind, then not) would call twice.
    blindSafe: (commands) => !commands.some((c) => isLiveCommandType(c.type)),
    async handleSignals(ctx, signals) {
      for (const s of signals) accounts.delete(s.userId); // the engine's fills and expiries change their rows
      const isLive = (s: Signal) => s.kind === LIVE_TRADE_UPDATE_SIGNAL || s.kind === LIVE_FOLLOW_SIGNAL;
      const liveSignals = signals.filter(isLive);
      const paper = liveSignals.length ? signals.filter((s) => !isLive(s)) : signals;
      const effects: OutboxEffect[] = paper.length ? await engines.handleSignals(ctx, paper) : [];
      if (liveSignals.length && liveHost) effects.push(...(await liveHost.handleSignals(ctx.tx, liveSignals)));
      if (effects.length === 0) return effects;
      // Stored with the turn: if this replica dies between COMMIT and the append, the partition's next owner appends them.
      // Deferred (the runtime sends COMMIT right behind it), so the turn waits for it in the round trip of its last
      // writes, not one of its own; the row id is read after COMMIT.
      const outboxId = recordEffects(ctx.tx, ctx.partition, effects);
      if (ctx.defer) ctx.defer(outboxId);
      else await outboxId;
      return effects.map((e): RecordedEffect => ({ ...e, outboxId }));
    },
    // The engines, orders and quotes a batch names, and the rows its cash adjustments change, are read in the turn's
    // first round trip (with its fence) — unless they are in memory already (engines, kept rows): then nothing is read.
    prefetch: (tx, commands, { blind }): Promise<Prefetched> => {
      const turn = engines.beginTurn(tx, { prefetch: true });
      const prepared = turn.prepareBatch(commands, { blind });
      const adjusting = commands.filter((c) => c.type === 'account.adjust_cash').map((c) => c.userId);
      // The rows kept from earlier turns, when there is one for each adjusted account: then this reads nothing.
      const kept = adjusting.length ? accounts.all(adjusting, pgTimestamp(Date.now())) : new Map<string, KnownAccount>();
      const known = kept ? Promise.resolve(kept) : readAccountsInScope(tx);
      return Promise.all([prepared, known]).then(([, rows]) => ({ turn, known: rows }));
    },
    async handleBatch(ctx, commands) {
      const pre = ctx.prefetched as Prefetched | undefined;
      const prefetched = pre?.turn instanceof MbtTurn ? pre.turn.adopt() : null;
      const known = pre?.known ?? new Map<string, KnownAccount>();
      const turn = prefetched ?? engines.beginTurn(ctx.tx);
      // The transaction can still fail after this returns (recording the command ids): the engines must not keep it,
      // nor the rows kept for the next turn.
      ctx.onRollback(() => {
        turn.discard();
        for (const c of commands) accounts.delete(c.userId);
      });
      // The turn's last writes (audit rows, engine saves) are sent, not awaited, when the runtime can await them with
      // its own insert (ctx.defer): one round trip for all of them. Without it, they are awaited here.
      const writes: Array<Promise<{ error: unknown } | null>> = [];
      const send = ctx.defer
        ? (w: PromiseLike<unknown>) => ctx.defer!(w)
        : (w: PromiseLike<unknown>) => void writes.push(Promise.resolve(w).then(() => null, (error: unknown) => ({ error })));
      try {
        // The prefetch prepared every envelope of the batch; `commands` (the new ones) are among them.
        if (!prefetched) await turn.prepareBatch(commands);
        const live = liveHost ? { host: liveHost, onRollback: (fn: () => void) => ctx.onRollback(fn) } : undefined;
        const decisions = await decideBatch(ctx.tx, commands, startingCash, { turn, known, send, live, audits: [], adjusted: new Map() });
        // Kept for the next turn: the rows as this turn leaves them, unless the engine wrote balances of its own.
        for (const c of commands) if (turn.balancesChanged(c.userId)) accounts.delete(c.userId);
        for (const [u, row] of known) if (!turn.balancesChanged(u)) accounts.set(u, row.snapshot);
        send(turn.flush());
        const failed = (await Promise.all(writes)).find((r) => r !== null);
        if (failed) throw failed.error;
        return decisions;
      } catch (err) {
        await Promise.all(writes); // none left in flight
        turn.discard();
        throw err;
      }
    },
  };
}

/** What the host's prefetch read in the turn's first round trip. */
interface Prefetched {
  turn: MbtTurn;
  /** The paper_accounts rows of the turn's users when it has a cash adjustment; kept current by the turn's commands. */
  known: Map<string, KnownAccount>;
}

type Send = (write: PromiseLike<unknown>) => void;
type LiveTurn = { host: LiveHost; onRollback: (fn: () => void) => void } | undefined;
/** One turn's state the commands share. */
interface TurnState {
  turn: MbtTurn;
  known: Map<string, KnownAccount>;
  send: Send;
  live: LiveTurn;
  /** The accepted account commands' audit rows, sent as one statement when the batch is decided. */
  audits: AuditEntry[];
  /**
   * Cash adjustments decided from known rows and not yet sent, per user: the version they were computed from, their
   * sum and count. Sent as one call (sendAdjustments) when the batch is decided, or before any statement that
   * changes an account row by SQL — so each user's row sees its changes in decision order.
   */
  adjusted: Map<string, { accountId: string; version: number; total: string; count: number }>;
}

/**
 * The pending cash adjustments as one call: one version-matched point update per account (raxx_adjust_cash_by_id,
 * 40001). By account id, not user id: under the tenant policy an update by user_id searches the index once per user
 * in the turn's scope (docs/database.md, "What the policy costs when a turn's scope is large").
 */
function sendAdjustments(tx: Tx, t: TurnState): void {
  if (t.adjusted.size === 0) return;
  const rows = [...t.adjusted.values()];
  t.adjusted.clear();
  // Sent now (sendStatement), in order with the statements before it.
  t.send(
    sendStatement(tx, 'select public.raxx_adjust_cash_by_id($1::uuid[], $2::numeric[], $3::bigint[], $4::int[])', [
      arrayLiteral(rows.map((a) => a.accountId)),
      arrayLiteral(rows.map((a) => a.total)),
      arrayLiteral(rows.map((a) => a.version)),
      arrayLiteral(rows.map((a) => a.count)),
    ]),
  );
}

async function decideBatch(tx: Tx, commands: Envelope[], startingCash: string, t: TurnState): Promise<CommandDecision[]> {
  // Each user's commands in order, one after another; different users' chains at the same time. Commands of
  // different users touch only their own rows, so this decides exactly what the batch order would, while
  // postgres.js pipelines the users' statements: a batch costs round trips per command of its busiest user,
  // not per command.
  const byUser = new Map<string, Envelope[]>();
  for (const env of commands) {
    const list = byUser.get(env.userId);
    if (list) list.push(env);
    else byUser.set(env.userId, [env]);
  }
  const decided = new Map<string, CommandDecision>();
  // allSettled: no chain may still be issuing statements when a failure rolls the transaction back.
  const settled = await Promise.allSettled(
    [...byUser.values()].map(async (chain) => {
      for (const env of chain) decided.set(env.id, await decide(tx, env, startingCash, t));
    }),
  );
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  sendAdjustments(tx, t);
  if (t.audits.length > 0) t.send(appendAudits(tx, t.audits));
  return commands.map((env) => decided.get(env.id)!);
}

const rejected = (id: string, code: RejectionCode, result: Record<string, unknown>): CommandDecision => ({ id, outcome: 'rejected', code, result });

async function decide(tx: Tx, env: Envelope, startingCash: string, t: TurnState): Promise<CommandDecision> {
  const { turn, send, live } = t;
  if (isMbtCommandType(env.type)) return turn.decide(env);
  if (isLiveCommandType(env.type)) {
    if (!live) return rejected(env.id, REJECTION_CODES.unknownCommand, { code: 'live_disabled', message: 'live trading is not configured on this deployment' });
    return live.host.decide(tx, env, send, live.onRollback);
  }
  const parsed = parseAccountCommand(env.type, env.payload);
  if (!parsed.ok) return rejected(env.id, parsed.code, { message: parsed.message });
  const cmd = parsed.command;
  const applied = await apply(tx, env, cmd, startingCash, t);
  if ('code' in applied) return rejected(env.id, applied.code, applied.detail);
  const { snapshot, at } = applied;
  const extra = cmd.type === 'account.adjust_cash' ? { amount: cmd.payload.amount, reason: cmd.payload.reason } : {};
  t.audits.push({
    actor: env.userId,
    subject: env.userId,
    action: cmd.type,
    outcome: 'success',
    correlationId: env.id,
    details: { accountId: snapshot.accountId, ...extra, startingCash: snapshot.startingCash, cash: snapshot.cash, reservedCash: snapshot.reservedCash },
  });
  const result: AccountResult = { ...snapshot, ...extra, at, ...applied.mbt };
  return { id: env.id, outcome: 'accepted', result };
}

type Applied = { snapshot: AccountSnapshot; at: string; mbt?: Record<string, unknown> } | { code: RejectionCode; detail: Record<string, unknown> };

async function apply(tx: Tx, env: Envelope, cmd: AccountCommand, startingCash: string, t: TurnState): Promise<Applied> {
  const { turn, known } = t;
  const userId = env.userId;
  // A cash adjustment of an account whose row the turn knows is decided here, its update sent without waiting: a
  // user's adjustments in one turn cost no round trip each. Not once the engine changed the user's balances this turn
  // (its fills and holds are written from the engine, so the row read at the start no longer tells the cash).
  if (cmd.type === 'account.adjust_cash') {
    const row = known.get(userId);
    if (row && !turn.balancesChanged(userId)) return adjustKnown(env.id, userId, cmd.payload.amount, row, t);
  }
  // An SQL statement on an account row must come after the adjustments decided before it.
  sendAdjustments(tx, t);
  const applied = await applySql(tx, env, cmd, startingCash, turn);
  // The row as the statement left it: later adjustments of this turn start from it.
  if ('snapshot' in applied) known.set(userId, { snapshot: applied.snapshot, at: applied.at });
  return applied;
}

/**
 * account.adjust_cash against the row the turn knows: the same rules as the SQL path (active account, cash may not
 * fall below reserved cash, the engine agrees), the new balances computed as PostgreSQL computes them, and the update
 * left for sendAdjustments (one call for the turn's adjustments). It matches only the version it was computed from
 * (40001: the turn is retried from a fresh read), so the reported balances are the stored ones.
 */
function adjustKnown(commandId: string, userId: string, amount: string, row: KnownAccount, t: TurnState): Applied {
  const s = row.snapshot;
  if (s.status !== 'active') return notActive(s);
  const cash = numericAdd(s.cash, amount);
  if (!numericGte(cash, s.reservedCash)) return insufficient(s, amount);
  const adjust = t.turn.tryAdjustCash(userId, commandId, amount);
  if (!adjust) return insufficient(s, amount);
  const pending = t.adjusted.get(userId);
  if (pending) {
    pending.total = numericAdd(pending.total, amount);
    pending.count += 1;
  } else t.adjusted.set(userId, { accountId: s.accountId, version: s.version, total: amount, count: 1 });
  adjust.commit();
  const snapshot: AccountSnapshot = { ...s, cash, buyingPower: numericAdd(cash, numericNeg(s.reservedCash)), version: s.version + 1 };
  t.known.set(userId, { snapshot, at: row.at });
  return { snapshot, at: row.at };
}

async function applySql(tx: Tx, env: Envelope, cmd: AccountCommand, startingCash: string, turn: MbtTurn): Promise<Applied> {
  const userId = env.userId;
  let rows: Record<string, unknown>[];
  // The paper engine follows the row (mbt/host.ts): its pending writes land first, so the statement sees current balances.
  if (cmd.type !== 'account.open') await turn.beforeAccountWrite(userId);
  switch (cmd.type) {
    case 'account.open': {
      rows = await tx.execute(sql`
        insert into paper_accounts (user_id, account_type, starting_cash, cash)
        values (${userId}, ${cmd.payload.accountType ?? 'cash'}, ${startingCash}::numeric, ${startingCash}::numeric)
        on conflict (user_id) do nothing
        returning ${SNAPSHOT_COLUMNS}, ${AT_COLUMN}`);
      if (rows.length === 0) return { code: REJECTION_CODES.accountExists, detail: { message: 'this user already has a paper account' } };
      turn.opened(userId, toSnapshot(rows[0]!));
      break;
    }
    case 'account.reset': {
      // Omitted startingCash keeps the account's current starting size. History (orders, fills, audit) is kept.
      const next = cmd.payload.startingCash ?? null;
      rows = await tx.execute(sql`
        update paper_accounts set starting_cash = coalesce(${next}::numeric, starting_cash), cash = coalesce(${next}::numeric, starting_cash),
          reserved_cash = 0, cycle_started_at = now(), version = version + 1, updated_at = now()
        where user_id = ${userId} and status = 'active'
        returning ${SNAPSHOT_COLUMNS}, ${AT_COLUMN}`);
      if (rows.length === 0) return diagnose(tx, userId, null);
      const updates = turn.reset(userId, env.id, toSnapshot(rows[0]!).startingCash);
      const row = rows[0]!;
      return { snapshot: toSnapshot(row), at: String(row.at), ...(updates.length ? { mbt: { trade_updates: updates } } : {}) };
    }
    case 'account.adjust_cash': {
      const amount = cmd.payload.amount;
      const adjust = turn.tryAdjustCash(userId, env.id, amount);
      if (!adjust) return diagnose(tx, userId, amount);
      rows = await tx.execute(sql`
        update paper_accounts set cash = cash + ${amount}::numeric, version = version + 1, updated_at = now()
        where user_id = ${userId} and status = 'active' and cash + ${amount}::numeric >= reserved_cash
        returning ${SNAPSHOT_COLUMNS}, ${AT_COLUMN}`);
      if (rows.length === 0) return diagnose(tx, userId, amount);
      adjust.commit();
      break;
    }
  }
  const row = rows[0]!;
  return { snapshot: toSnapshot(row), at: String(row.at) };
}

/** Why a conditional update matched no row: no account, not active, or (for an adjustment) not enough cash. */
async function diagnose(tx: Tx, userId: string, amount: string | null): Promise<Applied> {
  const rows = await tx.execute(sql`select ${SNAPSHOT_COLUMNS} from paper_accounts where user_id = ${userId}`);
  if (rows.length === 0) return { code: REJECTION_CODES.accountNotFound, detail: { message: 'open an account first (account.open)' } };
  const s = toSnapshot(rows[0]!);
  return s.status !== 'active' ? notActive(s) : insufficient(s, amount);
}

const notActive = (s: AccountSnapshot): Applied => ({ code: REJECTION_CODES.accountNotActive, detail: { message: `account is ${s.status}`, status: s.status } });

const insufficient = (s: AccountSnapshot, amount: string | null): Applied => ({
  code: REJECTION_CODES.insufficientCash,
  detail: { message: 'cash may not fall below reserved cash', amount, cash: s.cash, reservedCash: s.reservedCash, buyingPower: s.buyingPower },
});

/**
 * The private-log events of one decision, in order: the `decision` event, then (accepted only) the domain event
 * carrying the new balances. Pure: a replayed decision (same stored result) yields the same events.
 */
export function accountEvents(envelope: Envelope, decision: CommandDecision | StoredDecision, now: () => Date = () => new Date()): UserEventDraft[] {
  const { rest: result, updates } = splitTradeUpdates((decision.result ?? undefined) as Record<string, unknown> | undefined);
  const at = typeof result?.at === 'string' ? result.at : now().toISOString();
  const decisionEvent: UserEventDraft = {
    kind: 'decision',
    commandId: envelope.id,
    outcome: decision.outcome,
    ...(decision.outcome === 'rejected' ? { code: decision.code ?? 'rejected' } : {}),
    // Live decisions carry their result (the live order) on both outcomes: the browser has nothing else to show. Paper
    // order and settle decisions carry theirs too (the order, without its trade updates), so the paper API answers
    // from the event instead of reading processed_commands for every order.
    data:
      decision.outcome === 'rejected' || isLiveCommandType(envelope.type) || isMbtCommandType(envelope.type)
        ? { type: envelope.type, ...result }
        : { type: envelope.type },
    at,
  };
  const trades = tradeUpdateEvents(updates, envelope.id);
  if (decision.outcome === 'accepted' && isLiveCommandType(envelope.type)) return [decisionEvent, ...liveFillEvents(result, envelope.id, at)];
  if (decision.outcome !== 'accepted' || !isAccountCommandType(envelope.type)) return [decisionEvent, ...trades];
  return [decisionEvent, { kind: ACCOUNT_EVENT_KINDS[envelope.type], commandId: envelope.id, data: result, at }, ...trades];
}
