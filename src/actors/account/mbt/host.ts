// MBT hosted in the account actor: one engine per paper account, kept in memory while its user is active, stepped
// inside the runtime's turn transaction (commands, quotes, clock events), saved with the recorded inputs and the
// query-table projection in the same transaction.
import { z } from 'zod';
import {
  ORDER_COMMAND_TYPES,
  orderCancelAllPayloadSchema,
  orderCancelPayloadSchema,
  orderRejectionCode,
  orderReplacePayloadSchema,
  orderSubmitPayloadSchema,
} from '../../../contracts/paper-orders.js';
import { SETTLE_COMMAND_TYPE, settlePayloadSchema } from '../../../contracts/settlement.js';
import { mbt, type Clock } from '../../../domain/index.js';
import type { AssetFacts } from '../../../infra/alpaca/asset-directory.js';
import type { MarketSession } from '../../../infra/alpaca/market-calendar.js';
import type { Tx } from '../../../infra/db/index.js';
import type { CommandDecision, Envelope, Signal, TurnContext } from '../../../runtime/index.js';
import { toAlpacaOrder, toTradeUpdate, type AlpacaTradeUpdate } from './alpaca.js';
import { TRADE_UPDATES_KEY, tradeUpdateEvents } from './events.js';
import { markOf, quoteInputOf, type MarketQuotes } from './market-quotes.js';
import { openOrderSymbolsOf, project } from './projection.js';
import { clockInputsBetween, type SessionCache } from './sessions.js';
import { fresh, loadAccounts, loadClosedOrders, loadUsedIds, TurnWriter, type HostedAccount, type NewOrderIds } from './store.js';

export interface MbtHostOptions {
  /** The role's clock (system time plus the shared offset); default Date.now. */
  clock?: Clock;
  /** Session clock events from the market calendar; without it the engine only sees clock signals and settle closes. */
  sessions?: SessionCache;
  /** Asset facts (shortable, easy to borrow, fractionable) for submits. */
  assets?: { get(symbol: string): AssetFacts | undefined };
  /** The hub's quotes: last-known-good before a submit, the marks at settle. */
  quotes?: MarketQuotes;
  /** Upstream feed named on fills priced by real-time quotes (default 'sip'). */
  feed?: string;
  config?: Partial<mbt.MbtConfig>;
  /** Engines kept in memory at most (least recently used leave first; default 20,000). */
  maxCached?: number;
}

/** What `handleSignals` hands back: events for a user's private log, appended after commit (deduplicated by `key`). */
export interface SignalEffect {
  userId: string;
  events: ReturnType<typeof tradeUpdateEvents>;
  key: string;
}

const MBT_COMMAND_TYPES: ReadonlySet<string> = new Set([...Object.values(ORDER_COMMAND_TYPES), SETTLE_COMMAND_TYPE]);
export const isMbtCommandType = (type: string) => MBT_COMMAND_TYPES.has(type);

const SUBMIT_SYMBOL = z.object({ order: z.object({ symbol: z.string() }) });
const TARGET_ORDER = z.object({ order_id: z.string() });
const SUBMIT_IDS = z.object({ order: z.object({ id: z.string(), client_order_id: z.string() }) });
const REPLACE_IDS = z.object({ new_order_id: z.string(), patch: z.object({ client_order_id: z.string() }) });
const TARGETING: ReadonlySet<string> = new Set([ORDER_COMMAND_TYPES.cancel, ORDER_COMMAND_TYPES.replace]);
const apiError = (status: number, code: number, message: string): mbt.ApiError => ({ status, code, message });
const issues = (e: z.ZodError) => e.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
const iso = (ms: number) => new Date(ms).toISOString();

export class MbtHost {
  readonly config: Partial<mbt.MbtConfig>;
  private readonly cache = new Map<string, HostedAccount>();
  private readonly maxCached: number;

  constructor(readonly opts: MbtHostOptions = {}) {
    this.config = opts.config ?? {};
    this.maxCached = opts.maxCached ?? 20_000;
  }

  now(): number {
    return this.opts.clock ? this.opts.clock.now() : Date.now();
  }

  /**
   * A turn on the engines in `tx`. `prefetch`: prepared before the turn's fence is known to hold (ActorHost.prefetch),
   * so the engines it loads join the cache only when the turn goes on (`MbtTurn.adopt`), never from a fenced-out one.
   */
  beginTurn(tx: Tx, opts: { prefetch?: boolean } = {}): MbtTurn {
    return new MbtTurn(this, tx, opts.prefetch ?? false);
  }

  /** The user went idle or its partition left this replica: its engine is reloaded on next use. */
  passivate(userId: string): void {
    this.cache.delete(userId);
  }

  /** @internal */ cached(userId: string): HostedAccount | undefined {
    const acc = this.cache.get(userId);
    if (acc) {
      this.cache.delete(userId); // Map order = LRU order
      this.cache.set(userId, acc);
    }
    return acc;
  }

  /** @internal */ keep(acc: HostedAccount): void {
    this.cache.delete(acc.userId);
    this.cache.set(acc.userId, acc);
    for (const u of this.cache.keys()) {
      if (this.cache.size <= this.maxCached) break;
      this.cache.delete(u);
    }
  }

  /** (user, symbol) pairs with open orders among the engines in memory (what the quote router subscribes). */
  openOrderPairs(): Array<{ userId: string; symbol: string }> {
    return openOrderPairs([...this.cache.values()].map((a) => [a.userId, a.state] as const));
  }

  /**
   * Signals of one partition inside the turn's fenced transaction: `quote` (payload: the hub's quote frame; stepped
   * only for users with open orders on its symbol) and `clock` (payload: an MBT clock input). Returns the events to
   * append to each user's private log after commit. The engines' writes are sent before it returns; with `ctx.defer`
   * they are handed to the runtime instead of awaited.
   */
  async handleSignals(ctx: Pick<TurnContext, 'tx' | 'onRollback' | 'defer'>, signals: readonly Signal[]): Promise<SignalEffect[]> {
    const turn = this.beginTurn(ctx.tx);
    ctx.onRollback(() => turn.discard());
    try {
      await turn.prepare(signals.map((s) => s.userId), [], signals.some((s) => s.kind === 'quote' || s.kind === 'clock'));
      const effects = new Map<string, { events: AlpacaTradeUpdate[]; from: number; to: number; accountId: string }>();
      for (const s of signals) {
        const acc = turn.account(s.userId);
        if (!acc || acc.status !== 'active') continue;
        const from = acc.count + 1;
        const updates = s.kind === 'quote' ? turn.quote(acc, s.payload) : s.kind === 'clock' ? turn.clock(acc, s.payload) : [];
        if (acc.count < from) continue;
        const e = effects.get(s.userId) ?? { events: [], from, to: acc.count, accountId: acc.accountId };
        e.events.push(...updates);
        e.to = acc.count;
        effects.set(s.userId, e);
      }
      // Deferred when the runtime can await it: the caller's outbox insert then shares its round trip.
      if (ctx.defer) ctx.defer(turn.flush());
      else await turn.flush();
      return [...effects].flatMap(([userId, e]) =>
        e.events.length ? [{ userId, events: tradeUpdateEvents(e.events), key: `mbt:${e.accountId}:${e.from}-${e.to}` }] : [],
      );
    } catch (err) {
      turn.discard();
      throw err;
    }
  }
}

/** Pure: the (user, symbol) pairs with open orders among the given engine states, sorted. */
export function openOrderPairs(states: Iterable<readonly [userId: string, state: mbt.MbtState]>): Array<{ userId: string; symbol: string }> {
  const out: Array<{ userId: string; symbol: string }> = [];
  for (const [userId, state] of states) for (const symbol of openOrderSymbolsOf(state)) out.push({ userId, symbol });
  return out.sort((a, b) => (a.userId === b.userId ? (a.symbol < b.symbol ? -1 : 1) : a.userId < b.userId ? -1 : 1));
}

type Decision = CommandDecision;

/** One turn's work on the engines: loads, steps, and the writer that saves it all in the turn's transaction. */
export class MbtTurn {
  private readonly writer: TurnWriter;
  private readonly loaded = new Map<string, HostedAccount | null>();
  private readonly touched = new Set<HostedAccount>();
  private lkg = new Map<string, unknown>();
  private sessions: readonly MarketSession[] | null = null;
  /** Engines loaded from PostgreSQL while prefetching, not yet in the host's cache (see MbtHost.beginTurn). */
  private unadopted: HostedAccount[] | null;

  constructor(
    private readonly host: MbtHost,
    private readonly tx: Tx,
    prefetching = false,
  ) {
    this.writer = new TurnWriter(tx);
    this.unadopted = prefetching ? [] : null;
  }

  /** The prefetched turn goes on (its fence held): the engines it loaded join the host's cache. */
  adopt(): this {
    for (const acc of this.unadopted ?? []) this.host.keep(acc);
    this.unadopted = null;
    return this;
  }

  /**
   * Loads, all at once: the engines of `userIds` not in memory (one query); from `orders`, what the commands name and
   * the engine's history does not hold — the closed orders cancels and replaces name, and any order already using a
   * client order id or order id that a submit or replace would create (row 24); the last-known-good quotes of the
   * symbols submitted (one Redis call); and, when asked, the calendar's sessions (cached).
   */
  async prepare(
    userIds: readonly string[],
    submitSymbols: readonly string[],
    withSessions = true,
    targets: ReadonlyArray<{ userId: string; orderId: string }> = [],
    newIds: readonly NewOrderIds[] = [],
  ): Promise<void> {
    const missing = [...new Set(userIds)].filter((u) => !this.loaded.has(u) && !this.host.cached(u));
    for (const u of new Set(userIds)) if (!missing.includes(u)) this.loaded.set(u, this.host.cached(u) ?? null);
    const symbols = [...new Set(submitSymbols)].filter((s) => /^[A-Z][A-Z0-9.]{0,9}$/.test(s));
    const unknown = targets.filter((t) => {
      const acc = this.loaded.get(t.userId);
      return !acc || !(t.orderId in acc.state.orders || acc.history.closedOrder(t.orderId));
    });
    // A client order id the history holds is settled; one it does not hold may still be in `orders`.
    const unseen = newIds.flatMap((n) => {
      const acc = this.loaded.get(n.userId);
      if (acc?.history.clientId(n.clientOrderId)) return [];
      return [acc ? { ...n, accountId: acc.accountId } : n];
    });
    const [accounts, closed, used, lkg, sessions] = await Promise.all([
      loadAccounts(this.tx, missing),
      loadClosedOrders(this.tx, unknown),
      loadUsedIds(this.tx, unseen),
      symbols.length && this.host.opts.quotes ? this.host.opts.quotes.latest(symbols) : Promise.resolve(new Map<string, unknown>()),
      withSessions && this.host.opts.sessions ? this.host.opts.sessions.around(this.host.now()) : Promise.resolve(null),
    ]);
    for (const u of missing) {
      const acc = accounts.get(u) ?? null;
      this.loaded.set(u, acc);
      if (acc && this.unadopted) this.unadopted.push(acc);
      else if (acc) this.host.keep(acc);
    }
    for (const [u, views] of closed) this.loaded.get(u)?.history.add([], views);
    for (const [u, entries] of used) this.loaded.get(u)?.history.add(entries);
    this.lkg = lkg;
    this.sessions = sessions;
  }

  /**
   * Prepares a command batch (engines of its users, orders its cancels and replaces name, LKG quotes of its submits,
   * sessions). `blind`: the ids a submit or replace would create are not looked up in `orders`. One already there fails the
   * order's insert on orders' unique (account_id, client_order_id) index (or its primary key), so the blind turn fails
   * and runs again not blind — with the lookup, and the engine decides as row 24 says (the same order again, or 422).
   * A fresh id, every submit but a client's retry, costs no read then: the turn's first round trip carries no
   * PostgreSQL read for it.
   */
  prepareBatch(commands: readonly Envelope[], opts: { blind?: boolean } = {}): Promise<void> {
    const submits = commands.filter((c) => c.type === ORDER_COMMAND_TYPES.submit).map((c) => SUBMIT_SYMBOL.safeParse(c.payload));
    const targets = commands.flatMap((c) => {
      const t = TARGETING.has(c.type) ? TARGET_ORDER.safeParse(c.payload) : null;
      return t?.success ? [{ userId: c.userId, orderId: t.data.order_id }] : [];
    });
    const newIds = commands.flatMap((c): NewOrderIds[] => {
      if (opts.blind) return [];
      if (c.type === ORDER_COMMAND_TYPES.submit) {
        const p = SUBMIT_IDS.safeParse(c.payload);
        return p.success ? [{ userId: c.userId, clientOrderId: p.data.order.client_order_id, orderId: p.data.order.id }] : [];
      }
      if (c.type !== ORDER_COMMAND_TYPES.replace) return [];
      const p = REPLACE_IDS.safeParse(c.payload);
      return p.success ? [{ userId: c.userId, clientOrderId: p.data.patch.client_order_id, orderId: p.data.new_order_id }] : [];
    });
    return this.prepare(
      commands.map((c) => c.userId),
      submits.flatMap((r) => (r.success ? [r.data.order.symbol] : [])),
      commands.some((c) => isMbtCommandType(c.type)),
      targets,
      newIds,
    );
  }

  account(userId: string): HostedAccount | undefined {
    return this.loaded.get(userId) ?? undefined;
  }

  /** Saves everything pending (one round trip); a stale copy aborts the turn (40001 from raxx_expect_rows, retried). */
  async flush(): Promise<void> {
    try {
      await this.writer.flush();
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /** The turn rolls back: the engines it changed leave memory (the next turn reloads what was committed). */
  discard(): void {
    for (const acc of this.touched) this.host.passivate(acc.userId);
    this.touched.clear();
  }

  // ---- stepping ----

  private step(acc: HostedAccount, input: mbt.MbtInput, commandId: string | null, out: mbt.MbtOutput[], balances = true): mbt.MbtOutput[] {
    const r = mbt.step(acc.state, input, this.host.config, acc.history);
    this.commit(acc, input, r, commandId, balances);
    out.push(...r.outputs);
    return r.outputs;
  }

  private commit(acc: HostedAccount, input: mbt.MbtInput, r: mbt.StepResult, commandId: string | null, balances: boolean): void {
    acc.state = r.state;
    acc.history.add(r.clientIds, r.closed);
    acc.count += 1;
    this.touched.add(acc);
    this.writer.recordInput(acc, input);
    this.writer.clientIds(r.clientIds);
    this.writer.project(acc, project(acc, r.outputs, commandId), balances);
  }

  /** Steps the calendar's clock events the engine has not seen, up to `until`. */
  private catchUp(acc: HostedAccount, until: number, out: mbt.MbtOutput[]): void {
    if (!this.sessions) return;
    for (const input of clockInputsBetween(this.sessions, acc.state.session.since, until)) this.step(acc, input, null, out);
  }

  /** A quote signal: stepped when the account has open orders on the symbol and the quote is new to it. */
  quote(acc: HostedAccount, frame: unknown): AlpacaTradeUpdate[] {
    const q = quoteInputOf(frame, this.host.opts.feed ?? 'sip');
    if (!q || !openOrderSymbolsOf(acc.state).includes(q.S)) return [];
    if (q.seq <= (acc.state.symbols[q.S]?.lastSeq ?? 0)) return [];
    const out: mbt.MbtOutput[] = [];
    this.catchUp(acc, Math.min(q.ts, this.host.now()), out);
    this.step(acc, q, null, out);
    return updatesOf(out);
  }

  /** A clock signal: stepped unless the engine has already seen a later clock event. */
  clock(acc: HostedAccount, payload: unknown): AlpacaTradeUpdate[] {
    const r = mbt.clockInputSchema.safeParse(payload);
    if (!r.success || r.data.ts <= acc.state.session.since) return [];
    const out: mbt.MbtOutput[] = [];
    this.step(acc, r.data, null, out);
    return updatesOf(out);
  }

  // ---- commands ----

  /** Decides an order command or `mbt.settle` through the engine. */
  async decide(env: Envelope): Promise<Decision> {
    const now = this.host.now();
    const acc = this.account(env.userId);
    if (!acc) return reject(env.id, apiError(404, 40410000, 'account not found'), now, []);
    if (acc.status !== 'active') return reject(env.id, apiError(403, 40310000, `account is ${acc.status}`), now, []);
    const input = this.commandInput(env, now);
    if ('status' in input) return reject(env.id, input, now, []);
    const out: mbt.MbtOutput[] = [];
    this.catchUp(acc, now, out);
    if (input.kind === 'submit') this.feedLastQuote(acc, input.order.symbol, out);
    let step: mbt.MbtInput = input;
    if (input.kind === 'settle') step = await this.prepareSettle(acc, input, out);
    this.step(acc, step, env.id, out);
    return decisionOf(env, out, now);
  }

  private commandInput(env: Envelope, now: number): mbt.CommandInput | mbt.ApiError {
    const parsed = parseCommand(env, now, this.host.opts.assets);
    if ('status' in parsed) return parsed;
    const r = mbt.parseMbtInput(parsed);
    if (!r.ok || r.input.type !== 'command') return apiError(422, 40010001, r.ok ? 'not a command' : r.message);
    return r.input;
  }

  /** Row 3's reservation needs a price: the hub's last-known-good quote goes in first when it is newer than the engine's. */
  private feedLastQuote(acc: HostedAccount, symbol: string, out: mbt.MbtOutput[]): void {
    const q = quoteInputOf(this.lkg.get(symbol), this.host.opts.feed ?? 'sip');
    if (q && q.S === symbol && q.seq > (acc.state.symbols[symbol]?.lastSeq ?? 0)) this.step(acc, q, null, out);
  }

  /** The close as an engine event (so DAY orders expire visibly) if the engine has not seen it, then the marks. */
  private async prepareSettle(acc: HostedAccount, cmd: Extract<mbt.CommandInput, { kind: 'settle' }>, out: mbt.MbtOutput[]): Promise<mbt.CommandInput> {
    const s = acc.state.session;
    const seen = s.day !== null && (s.day > cmd.day || (s.day === cmd.day && (s.phase === 'post' || s.phase === 'closed')));
    const settled = acc.state.cycle.lastSettledDay !== null && cmd.day <= acc.state.cycle.lastSettledDay;
    if (!seen && !settled && cmd.close_ts >= s.since) {
      this.step(acc, { type: 'clock', event: 'regular_close', day: cmd.day, ts: cmd.close_ts }, null, out);
    }
    const held = Object.keys(acc.state.positions).sort();
    if (settled || held.length === 0 || !this.host.opts.quotes) return cmd;
    const frames = await this.host.opts.quotes.before(held, cmd.close_ts);
    const marks = held.flatMap((symbol) => {
      const q = quoteInputOf(frames.get(symbol), this.host.opts.feed ?? 'sip');
      return q && q.S === symbol ? [markOf(q)] : [];
    });
    return { ...cmd, marks };
  }

  // ---- account.* commands (their paper_accounts row is written by SQL; the engine follows) ----

  /** account.open created the row: a fresh engine from it. */
  opened(userId: string, snapshot: { accountId: string; accountType: 'cash' | 'margin'; startingCash: string }): void {
    const acc = fresh(userId, snapshot.accountId, snapshot.accountType, snapshot.startingCash);
    this.loaded.set(userId, acc);
    this.host.keep(acc);
    this.touched.add(acc);
    this.writer.touch(acc);
  }

  /**
   * Writes pending engine changes first when the user's balances are among them, so an account.* statement sees (and
   * reports) current balances. Only then: an adjustment after an adjustment (whose engine change is its input and
   * state, not a balance write) would otherwise flush once per command — a round trip and a rewrite of every stepped
   * engine's state row each time, so a user's k commands in one turn cost 2k − 1 round trips instead of k.
   */
  async beforeAccountWrite(userId: string): Promise<void> {
    const acc = this.account(userId);
    if (acc && this.writer.balancesPendingFor(acc.accountId)) await this.flush();
  }

  /**
   * Whether the engine changed the user's balances in this turn (its fills, holds): a paper_accounts row read at the
   * turn's start no longer tells the user's cash, even once those writes are sent.
   */
  balancesChanged(userId: string): boolean {
    const acc = this.account(userId);
    return acc !== undefined && this.writer.balancesChangedFor(acc.accountId);
  }

  /**
   * account.adjust_cash through the engine, tentatively: `null` when the engine refuses (the caller reports
   * insufficient_cash), else `commit()` to call once the SQL update matched.
   */
  tryAdjustCash(userId: string, commandId: string, amount: string): { commit(): void } | null {
    const acc = this.account(userId);
    if (!acc) return { commit: () => undefined };
    const input: mbt.MbtInput = { type: 'command', kind: 'adjust_cash', id: commandId, ts: this.host.now(), amount };
    const r = mbt.step(acc.state, input, this.host.config, acc.history);
    const reply = r.outputs.find((o) => o.type === 'reply');
    if (!reply?.ok) return null;
    return { commit: () => this.commit(acc, input, r, commandId, false) };
  }

  /** account.reset went through: the engine cancels open orders and closes positions. Returns the trade updates. */
  reset(userId: string, commandId: string, startingCash: string): AlpacaTradeUpdate[] {
    const acc = this.account(userId);
    if (!acc) return [];
    const held = Object.keys(acc.state.positions);
    const out: mbt.MbtOutput[] = [];
    this.step(acc, { type: 'command', kind: 'reset', id: commandId, ts: this.host.now(), starting_cash: startingCash }, commandId, out, false);
    this.writer.closePositions(acc, held);
    return updatesOf(out);
  }
}

function updatesOf(out: readonly mbt.MbtOutput[]): AlpacaTradeUpdate[] {
  return out.filter((o): o is mbt.TradeUpdateOutput => o.type === 'trade_update').map(toTradeUpdate);
}

function reject(id: string, e: mbt.ApiError, now: number, updates: AlpacaTradeUpdate[]): Decision {
  return { id, outcome: 'rejected', code: orderRejectionCode(e.code), result: { status: e.status, code: e.code, message: e.message, at: iso(now), [TRADE_UPDATES_KEY]: updates } };
}

/** The contract's decision (src/contracts/paper-orders.ts) from a command's outputs; trade updates ride along for the log. */
function decisionOf(env: Envelope, out: readonly mbt.MbtOutput[], now: number): Decision {
  const updates = updatesOf(out);
  const reply = out.find((o): o is mbt.ReplyOutput => o.type === 'reply' && o.command_id === env.id);
  if (!reply) throw new Error(`the engine gave no reply to command ${env.id}`);
  if (!reply.ok) return reject(env.id, { status: reply.status, code: reply.code, message: reply.message }, now, updates);
  const at = iso(now);
  if (env.type === SETTLE_COMMAND_TYPE) {
    const cycle = out.find((o): o is mbt.CycleOutput => o.type === 'cycle');
    const { type: _t, ...c } = cycle ?? { type: null };
    return { id: env.id, outcome: 'accepted', result: { cycle: cycle ? c : null, ...(reply.duplicate ? { duplicate: true } : {}), at, [TRADE_UPDATES_KEY]: updates } };
  }
  return {
    id: env.id,
    outcome: 'accepted',
    result: {
      ...(reply.order ? { order: toAlpacaOrder(reply.order) } : {}),
      ...(reply.orders ? { orders: reply.orders.map(toAlpacaOrder) } : {}),
      ...(reply.duplicate ? { duplicate: true } : {}),
      at,
      [TRADE_UPDATES_KEY]: updates,
    },
  };
}

/** The engine input of an order or settle command (before the engine's own validation), or a payload error. */
function parseCommand(env: Envelope, ts: number, assets: MbtHostOptions['assets']): mbt.MbtInputIn | mbt.ApiError {
  const base = { type: 'command' as const, id: env.id, ts };
  const bad = (e: z.ZodError) => apiError(422, 40010001, issues(e));
  switch (env.type) {
    case ORDER_COMMAND_TYPES.submit: {
      const p = orderSubmitPayloadSchema.safeParse(env.payload ?? {});
      if (!p.success) return bad(p.error);
      const facts = assets?.get(p.data.order.symbol);
      const asset = facts
        ? { tradable: facts.tradable && facts.status === 'active', shortable: facts.shortable, easy_to_borrow: facts.easy_to_borrow, fractionable: facts.fractionable }
        : undefined;
      return { ...base, kind: 'submit', order: p.data.order, ...(asset ? { asset } : {}) };
    }
    case ORDER_COMMAND_TYPES.cancel: {
      const p = orderCancelPayloadSchema.safeParse(env.payload ?? {});
      return p.success ? { ...base, kind: 'cancel', order_id: p.data.order_id } : bad(p.error);
    }
    case ORDER_COMMAND_TYPES.replace: {
      const p = orderReplacePayloadSchema.safeParse(env.payload ?? {});
      return p.success ? { ...base, kind: 'replace', ...p.data } : bad(p.error);
    }
    case ORDER_COMMAND_TYPES.cancelAll: {
      const p = orderCancelAllPayloadSchema.safeParse(env.payload ?? {});
      return p.success ? { ...base, kind: 'cancel_all' } : bad(p.error);
    }
    default: {
      const p = settlePayloadSchema.safeParse(env.payload ?? {});
      if (!p.success) return bad(p.error);
      return { ...base, kind: 'settle', day: p.data.tradingDay, close_ts: Date.parse(p.data.closeAt), marks: [] };
    }
  }
}
