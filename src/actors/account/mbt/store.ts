// PostgreSQL side of the hosted engines: loading an account's engine (or deriving it from its paper_accounts row), and
// the per-turn writer that saves states, recorded inputs and the query-table projection with one multi-row statement
// per table (issued together: postgres.js pipelines them, so a turn's writes cost one round trip).
import { sql, type SQL } from 'drizzle-orm';
import { mbt } from '../../../domain/index.js';
import { arrayLiteral, arrayParam, jsonCells } from '../../../infra/db/arrays.js';
import { perRowCount, sendStatement, valuesList, type StatementParam } from '../../../infra/db/statements.js';
import { toDbError, type Tx } from '../../../infra/db/index.js';
import { numericAdd } from '../state.js';
import type { CycleRow, FillRow, OrderRow, PositionRow, Projection } from './projection.js';

/** One account's engine as the host keeps it in memory while its user is active. */
export interface HostedAccount {
  userId: string;
  accountId: string;
  status: string;
  /** The replay header the recorded log starts from. */
  init: { id: string; type: 'cash' | 'margin'; cash: string };
  state: mbt.MbtState;
  /**
   * The engine's `OrderHistory`, a bounded cache: the latest client order ids and closed orders (grown by each step).
   * A turn adds from `orders` what its commands name before they are stepped, so the engine always sees them.
   */
  history: mbt.MemoryHistory;
  /** Inputs stepped so far (recorded ones, committed or pending in this turn). */
  count: number;
  /** input_count of the saved row (what the conditional save expects); -1 = no row yet. */
  saved: number;
}

interface LoadRow extends Record<string, unknown> {
  account_id: string;
  user_id: string;
  account_type: 'cash' | 'margin';
  status: string;
  cash: string;
  init: HostedAccount['init'] | null;
  state: mbt.MbtState | null;
  input_count: string | number | null;
}

interface ClientIdRow extends Record<string, unknown> {
  user_id: string;
  client_order_id: string;
  id: string;
  request_fp: string | null;
}

/**
 * The engines of `userIds` (one query): the saved state, or — for an account opened before the engine was hosted —
 * a fresh state from its paper_accounts row (saved by the turn's writer). Users without an account are absent.
 */
export async function loadAccounts(tx: Tx, userIds: readonly string[]): Promise<Map<string, HostedAccount>> {
  const out = new Map<string, HostedAccount>();
  if (userIds.length === 0) return out;
  const rows = await tx.execute<LoadRow>(sql`
    select p.id::text as account_id, p.user_id, p.account_type, p.status, p.cash::text as cash, s.init, s.state, s.input_count
      from paper_accounts p left join mbt_states s on s.account_id = p.id
     where p.user_id in (${sql.join(
       userIds.map((u) => sql`${u}`),
       sql`, `,
     )})`);
  for (const r of rows) {
    if (r.state && r.init) {
      const n = Number(r.input_count);
      out.set(r.user_id, { userId: r.user_id, accountId: r.account_id, status: r.status, init: r.init, state: r.state, history: newHistory(), count: n, saved: n });
    } else {
      out.set(r.user_id, fresh(r.user_id, r.account_id, r.account_type, r.cash, r.status));
    }
  }
  return out;
}

/** The client order id and the order id a submit or replace would create (row 24 and id uniqueness look both up). */
export interface NewOrderIds {
  userId: string;
  clientOrderId: string;
  orderId: string;
  /** The user's paper account when its engine is in memory (the lookup then goes straight to the unique index). */
  accountId?: string;
}

/**
 * The stored orders that already use one of `wanted`'s client order ids or order ids, per user, as history entries
 * (`[client order id, order id, request fingerprint]`). Indexed statements, sent together. Orders purged by
 * retention are gone, and their ids with them (docs/mbt.md, row 24).
 */
export async function loadUsedIds(tx: Tx, wanted: readonly NewOrderIds[]): Promise<Map<string, mbt.ClientIdEntry[]>> {
  const out = new Map<string, mbt.ClientIdEntry[]>();
  if (wanted.length === 0) return out;
  const byId = wanted.filter((w) => UUID.test(w.orderId));
  // Both shapes give the planner equality on every column of orders' unique (account_id, client_order_id) index, so a
  // cached generic plan cannot drift to scanning all of an index (a join from paper_accounts did, planned while
  // `orders` was small: ~75 blocks and 0.4 ms per submit). An account not in memory yet is found by its user.
  const known = wanted.filter((w) => w.accountId !== undefined);
  const byCid = [
    known.length ? sendStatement<ClientIdRow>(tx, usedClientIdsText(known.length), known.flatMap((w) => [w.accountId!, w.clientOrderId])) : Promise.resolve([]),
    ...wanted.filter((w) => w.accountId === undefined).map((w) => sendStatement<ClientIdRow>(tx, USED_CLIENT_ID_OF_USER, [w.userId, w.clientOrderId])),
  ];
  const [cids, ids] = await Promise.all([
    Promise.all(byCid).then((r) => r.flat()),
    byId.length ? sendStatement<ClientIdRow>(tx, usedOrderIdsText(byId.length), byId.flatMap((w) => [w.userId, w.orderId])) : Promise.resolve([]),
  ]);
  // An order without a fingerprint (placed before fingerprints were stored) matches no resubmit: its id stays taken.
  for (const r of [...cids, ...ids]) {
    out.set(r.user_id, [...(out.get(r.user_id) ?? []), { clientOrderId: r.client_order_id, orderId: r.id, fingerprint: r.request_fp ?? '' }]);
  }
  return out;
}

const USED_COLUMNS = 'select o.user_id, o.client_order_id, o.id::text as id, o.request_fp from orders o';
const usedClientIdsText = perRowCount((n) => `${USED_COLUMNS} where (o.account_id, o.client_order_id) in (${valuesList(n, ['uuid', 'text'])})`);
const USED_CLIENT_ID_OF_USER = `${USED_COLUMNS} where o.account_id = (select p.id from paper_accounts p where p.user_id = $1) and o.client_order_id = $2`;
const usedOrderIdsText = perRowCount((n) => `${USED_COLUMNS} where (o.user_id, o.id) in (${valuesList(n, ['text', 'uuid'])})`);

/**
 * What a hosted engine keeps of its history in memory: the latest client order ids and closed orders. The rest stay
 * in `orders`; a turn reads what its commands name before stepping them (MbtTurn.prepare).
 */
const newHistory = () => new mbt.MemoryHistory({ maxIds: 1024, maxClosed: 64 });

/**
 * Closed orders among `orderIds` of each user, as the engine last showed them (its `OrderView`, the row's values in
 * the engine's own formats: decimals as stored, ISO times with milliseconds). Open ones are the engine's own.
 */
export async function loadClosedOrders(tx: Tx, wanted: ReadonlyArray<{ userId: string; orderId: string }>): Promise<Map<string, mbt.OrderView[]>> {
  const out = new Map<string, mbt.OrderView[]>();
  const valid = wanted.filter((w) => UUID.test(w.orderId));
  if (valid.length === 0) return out;
  const at = (column: string) => sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
  const rows = await tx.execute<mbt.OrderView & { user_id: string }>(sql`
    select o.user_id, o.id::text as id, o.client_order_id, o.symbol, o.side, o.type, o.time_in_force, o.qty::text as qty,
           o.notional::text as notional, o.filled_qty::text as filled_qty, o.filled_avg_price::text as filled_avg_price,
           o.limit_price::text as limit_price, o.stop_price::text as stop_price, o.extended_hours, o.status,
           o.replaces::text as replaces, o.replaced_by::text as replaced_by, ${at('o.submitted_at')} as submitted_at,
           ${at('o.updated_at')} as updated_at, ${at('o.filled_at')} as filled_at, ${at('o.canceled_at')} as canceled_at,
           ${at('o.expired_at')} as expired_at, ${at('o.replaced_at')} as replaced_at, ${at('o.failed_at')} as failed_at,
           o.reserved_cash::text as reserved_cash
      from orders o
     where (o.user_id, o.id) in (${values(valid.map((w) => sql`(${w.userId}, ${w.orderId}::uuid)`))})`);
  for (const { user_id, ...view } of rows) {
    if (mbt.OPEN_STATUSES.has(view.status)) continue;
    out.set(user_id, [...(out.get(user_id) ?? []), view]);
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A new engine for an account (opened now, or first used after the engine was introduced). */
export function fresh(userId: string, accountId: string, type: 'cash' | 'margin', cash: string, status = 'active'): HostedAccount {
  const init = { id: accountId, type, cash: mbt.initialState({ id: accountId, type, cash }).account.cash };
  return { userId, accountId, status, init, state: mbt.initialState(init), history: newHistory(), count: 0, saved: -1 };
}

const CHUNK = 400;
function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}
const values = (rows: SQL[]) => sql.join(rows, sql`, `);
const num = (v: string | null) => sql`${v}::numeric`;

/** Everything one turn changes, saved by `flush()` inside the turn's transaction. */
export class TurnWriter {
  private states = new Map<string, HostedAccount>();
  private inputs: Array<{ accountId: string; n: number; userId: string; input: mbt.MbtInput }> = [];
  private orders = new Map<string, OrderRow>();
  private fills: FillRow[] = [];
  private positions = new Map<string, PositionRow>();
  private balances = new Map<string, HostedAccount>();
  /** Accounts whose balances the engine changed in this turn, written already or not. */
  private readonly balancesChanged = new Set<string>();
  private cycles: CycleRow[] = [];
  /** The engine right after each settle of this turn (one checkpoint per account and trading day). */
  private checkpoints: Array<{ acc: HostedAccount; n: number; day: string; state: mbt.MbtState }> = [];
  /** Request fingerprints of the orders created this turn (order id → fingerprint), stored on their rows. */
  private fingerprints = new Map<string, string>();

  constructor(private readonly tx: Tx) {}

  /**
   * Whether `accountId`'s paper_accounts row has a balance write not yet sent (cash or reserved cash the engine changed):
   * a statement on that row sent now would see stale balances. Its other pending rows (engine state, inputs, orders)
   * are no statement's input within the turn.
   */
  balancesPendingFor(accountId: string): boolean {
    return this.balances.has(accountId);
  }

  /** Whether the engine changed `accountId`'s balances in this turn (sent or not): a copy of its row read before is stale. */
  balancesChangedFor(accountId: string): boolean {
    return this.balancesChanged.has(accountId);
  }

  /** The account's engine changed (or is new): its state row is saved at the next flush. */
  touch(acc: HostedAccount): void {
    this.states.set(acc.accountId, acc);
  }

  /** Records input number `acc.count` (already incremented by the caller). */
  recordInput(acc: HostedAccount, input: mbt.MbtInput): void {
    this.touch(acc);
    this.inputs.push({ accountId: acc.accountId, n: acc.count, userId: acc.userId, input });
  }

  /** Adds a step's projection; `balances` false when the caller already wrote cash itself (account.* commands). */
  project(acc: HostedAccount, p: Projection, balances: boolean): void {
    for (const o of p.orders) {
      const prev = this.orders.get(o.id);
      this.orders.set(o.id, prev ? { ...o, command_id: prev.command_id ?? o.command_id, reject_reason: o.reject_reason ?? prev.reject_reason } : o);
    }
    this.fills.push(...p.fills);
    for (const row of p.positions) this.positions.set(`${row.account_id}|${row.symbol}`, row);
    if (balances && p.accountChanged) {
      this.balances.set(acc.accountId, acc);
      this.balancesChanged.add(acc.accountId);
    }
    this.cycles.push(...p.cycles);
    // A settled cycle is a checkpoint: retention may remove the inputs before it, and an export starts from it. The
    // state is not mutated later (every step copies it), so holding it until the flush is enough.
    const cycle = p.cycles.at(-1);
    if (cycle) this.checkpoints.push({ acc, n: acc.count, day: cycle.trading_day, state: acc.state });
  }

  /** Client order ids a step used: the fingerprint goes on the new order's row (the index is rebuilt from `orders`). */
  clientIds(entries: readonly mbt.ClientIdEntry[]): void {
    for (const e of entries) this.fingerprints.set(e.orderId, e.fingerprint);
  }

  /** Positions closed without a position output (reset): deleted at flush. */
  closePositions(acc: HostedAccount, symbols: readonly string[]): void {
    for (const symbol of symbols) this.positions.set(`${acc.accountId}|${symbol}`, { account_id: acc.accountId, symbol, user_id: acc.userId, qty: '0', avg_entry_price: '0' });
  }

  /** Issues every pending statement at once (one round trip) and empties the writer. */
  async flush(): Promise<void> {
    if (this.states.size === 0) return;
    const states = [...this.states.values()];
    // Counts as of now: another user's chain of this turn may step its own engine while these statements run.
    const counts = new Map(states.map((a) => [a, a.count]));
    const fresh = states.filter((a) => a.saved < 0);
    const known = states.filter((a) => a.saved >= 0);
    const { inputs, orders, fills, positions, balances, cycles, checkpoints, fingerprints } = this;
    this.states = new Map();
    this.inputs = [];
    this.orders = new Map();
    this.fills = [];
    this.positions = new Map();
    this.balances = new Map();
    this.cycles = [];
    this.checkpoints = [];
    this.fingerprints = new Map();
    const tx = this.tx;

    // The send order is the execution order: states, inputs, orders before the fills that reference them.
    const statements: Array<PromiseLike<unknown>> = [];
    const send = (q: SQL) => statements.push(tx.execute(q).then((r) => r));
    // A stale copy (a turn rolled back after its handler, or another owner wrote the row) matches fewer rows than it
    // saves: raxx_expect_rows fails the statement with 40001, which aborts the turn (retried; the engines reload).
    // Checked in the statement itself, so the failure is an SQL error like any other (and a pipelined COMMIT could
    // never get past it).
    // Inserts: one array parameter per column (infra/db/arrays.ts), one statement text whatever the number of rows.
    if (fresh.length) {
      const ids = arrayParam(fresh.map((a) => a.accountId), 'uuid');
      const users = arrayParam(fresh.map((a) => a.userId), 'text');
      const inits = arrayParam(jsonCells(fresh.map((a) => a.init)), 'jsonb');
      const saves = arrayParam(jsonCells(fresh.map((a) => a.state)), 'jsonb');
      const ns = arrayParam(fresh.map((a) => counts.get(a)!), 'bigint');
      send(sql`
        with saved as (
          insert into mbt_states (account_id, user_id, init, state, input_count)
          select * from unnest(${ids}, ${users}, ${inits}, ${saves}, ${ns})
          on conflict (account_id) do nothing returning 1)
        select public.raxx_expect_rows((select count(*) from saved), ${fresh.length}::bigint, 'mbt_states (new engines)'::text)`);
    }
    // An update joins its rows to the table: those stay a VALUES list (see infra/db/arrays.ts).
    // The two statements every turn sends go straight through postgres.js (infra/db/statements.ts).
    if (known.length) {
      const params = known.flatMap((a) => [a.accountId, JSON.stringify(a.state), counts.get(a)!, a.saved]);
      statements.push(sendStatement(tx, saveStatesText(known.length), [...params, known.length]));
    }
    if (inputs.length) {
      statements.push(
        sendStatement(tx, INSERT_INPUTS, [
          arrayLiteral(inputs.map((i) => i.accountId)),
          arrayLiteral(inputs.map((i) => i.n)),
          arrayLiteral(inputs.map((i) => i.userId)),
          arrayLiteral(jsonCells(inputs.map((i) => i.input))),
        ]),
      );
    }
    // One statement per table and chunk of rows (infra/db/statements.ts: no drizzle on this path).
    const sendRows = <T>(rows: readonly T[], text: (n: number) => string, params: (row: T) => StatementParam[]) => {
      for (const c of chunks(rows)) statements.push(sendStatement(tx, text(c.length), c.flatMap(params)));
    };
    sendRows([...orders.values()], upsertOrdersText, (o) => orderParams(o, fingerprints.get(o.id) ?? null));
    sendRows(fills, insertFillsText, fillParams);
    const [closed, open] = [[...positions.values()].filter((p) => isZeroQty(p.qty)), [...positions.values()].filter((p) => !isZeroQty(p.qty))];
    sendRows(closed, deletePositionsText, (p) => [p.account_id, p.symbol]);
    sendRows(open, upsertPositionsText, (p) => [p.account_id, p.symbol, p.user_id, p.qty, p.avg_entry_price]);
    sendRows([...balances.values()], saveBalancesText, (a) => [a.accountId, a.state.account.cash, reservedOf(a.state)]);
    for (const c of chunks(cycles)) {
      send(sql`
        insert into settled_cycles (user_id, account_id, trading_day, equity_open, equity_close, pnl, had_activity)
        values ${values(c.map((r) => sql`(${r.user_id}, ${r.account_id}::uuid, ${r.trading_day}::date, ${num(r.equity_open)}, ${num(r.equity_close)}, ${num(r.pnl)}, ${r.had_activity})`))}
        on conflict (account_id, trading_day) do nothing`);
    }
    // After the orders upsert, so the open orders' rows (and their request fingerprints) include this turn's. One
    // statement per settled account (a settle is once a day): its open orders looked up by equality on the primary key.
    for (const c of checkpoints) {
      const open = Object.keys(c.state.orders).filter((id) => UUID.test(id));
      const clientIds = open.length
        ? sql`coalesce((select jsonb_agg(jsonb_build_object('client_order_id', o.client_order_id, 'order_id', o.id, 'fingerprint', o.request_fp) order by o.id)
                          from orders o
                         where o.id in (${values(open.map((id) => sql`${id}::uuid`))}) and o.account_id = ${c.acc.accountId}::uuid and o.request_fp is not null), '[]'::jsonb)`
        : sql`'[]'::jsonb`;
      send(sql`
        insert into mbt_checkpoints (account_id, n, user_id, trading_day, state, client_ids)
        values (${c.acc.accountId}::uuid, ${c.n}::bigint, ${c.acc.userId}, ${c.day}::date, ${JSON.stringify(c.state)}::jsonb, ${clientIds})
        on conflict (account_id, n) do nothing`);
    }
    const failed = (await Promise.allSettled(statements)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw toDbError(failed.reason);
    for (const a of states) a.saved = counts.get(a)!;
  }
}

const INSERT_INPUTS = 'insert into mbt_inputs (account_id, n, user_id, input) select * from unnest($1::uuid[], $2::bigint[], $3::text[], $4::jsonb[])';

/** The engine saves of `n` known accounts, each matched on the input count it was saved at (a stale copy: 40001). */
const saveStatesText = perRowCount(
  (n) => `with saved as (
    update mbt_states m set state = v.state, input_count = v.n, updated_at = now()
      from (values ${valuesList(n, ['uuid', 'jsonb', 'bigint', 'bigint'])}) as v(account_id, state, n, prev)
     where m.account_id = v.account_id and m.input_count = v.prev
    returning 1)
  select public.raxx_expect_rows((select count(*) from saved), $${4 * n + 1}::bigint, 'mbt_states'::text)`,
);

const isZeroQty = (qty: string) => /^-?0(\.0*)?$/.test(qty);

/** Buying power the account's open orders hold (the sum the engine keeps per order), exact, at the largest scale. */
function reservedOf(state: mbt.MbtState): string {
  return Object.values(state.orders).reduce((total, o) => numericAdd(total, o.work.reserved), '0');
}

// The projection's writes go straight through postgres.js with one fixed text per row count (postgres.js prepares
// each once per connection): a turn writes one to a few rows per table, and drizzle's building of these statements
// was ~8 % of the accounts process at 200 orders/s. They stay VALUES lists of plain parameters: the same statements
// with one array parameter per column (unnest, the shape the recorded inputs use) cost PostgreSQL ~4 points of a
// core more at that rate — 29 array literals parsed for a row or two.
const ORDER_COLUMNS = [
  ['id', 'uuid'],
  ['client_order_id', 'text'],
  ['user_id', 'text'],
  ['account_id', 'uuid'],
  ['symbol', 'text'],
  ['side', 'text'],
  ['type', 'text'],
  ['time_in_force', 'text'],
  ['qty', 'numeric'],
  ['notional', 'numeric'],
  ['filled_qty', 'numeric'],
  ['filled_avg_price', 'numeric'],
  ['limit_price', 'numeric'],
  ['stop_price', 'numeric'],
  ['extended_hours', 'boolean'],
  ['status', 'text'],
  ['replaces', 'uuid'],
  ['replaced_by', 'uuid'],
  ['command_id', 'text'],
  ['reject_reason', 'text'],
  ['reserved_cash', 'numeric'],
  ['request_fp', 'text'],
  ['submitted_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['filled_at', 'timestamptz'],
  ['expired_at', 'timestamptz'],
  ['canceled_at', 'timestamptz'],
  ['failed_at', 'timestamptz'],
  ['replaced_at', 'timestamptz'],
] as const;
const ORDER_NAMES = ORDER_COLUMNS.map(([name]) => name).join(', ');
const upsertOrdersText = perRowCount(
  (n) => `
    insert into orders (${ORDER_NAMES}, created_at)
    select *, v.submitted_at from (values ${valuesList(n, ORDER_COLUMNS.map(([, type]) => type))}) as v(${ORDER_NAMES})
    on conflict (id) do update set filled_qty = excluded.filled_qty, filled_avg_price = excluded.filled_avg_price, status = excluded.status,
      replaced_by = excluded.replaced_by, reject_reason = coalesce(excluded.reject_reason, orders.reject_reason),
      reserved_cash = excluded.reserved_cash, updated_at = excluded.updated_at, filled_at = excluded.filled_at,
      expired_at = excluded.expired_at, canceled_at = excluded.canceled_at, failed_at = excluded.failed_at, replaced_at = excluded.replaced_at`,
);

/** An order row's parameters, in ORDER_COLUMNS order (the row's fields carry the column names; the fingerprint is kept apart). */
const orderParams = (o: OrderRow, fingerprint: string | null): StatementParam[] =>
  ORDER_COLUMNS.map(([name]) => (name === 'request_fp' ? fingerprint : (o[name] as StatementParam)));

const insertFillsText = perRowCount(
  (n) => `
    insert into fills (id, user_id, account_id, order_id, symbol, side, qty, price, fee, quote_seq, rule, filled_at)
    values ${valuesList(n, ['uuid', 'text', 'uuid', 'uuid', 'text', 'text', 'numeric', 'numeric', 'numeric', 'bigint', 'text', 'timestamptz'])}
    on conflict (id) do nothing`,
);

const fillParams = (f: FillRow): StatementParam[] => [f.id, f.user_id, f.account_id, f.order_id, f.symbol, f.side, f.qty, f.price, f.fee, f.quote_seq, f.rule, f.filled_at];

const upsertPositionsText = perRowCount(
  (n) => `
    insert into positions (account_id, symbol, user_id, qty, avg_entry_price, cost_basis, updated_at)
    select a, s, u, q, p, q * p, now() from (values ${valuesList(n, ['uuid', 'text', 'text', 'numeric', 'numeric'])}) as v(a, s, u, q, p)
    on conflict (account_id, symbol) do update set qty = excluded.qty, avg_entry_price = excluded.avg_entry_price,
      cost_basis = excluded.cost_basis, updated_at = now()`,
);

const deletePositionsText = perRowCount((n) => `delete from positions where (account_id, symbol) in (${valuesList(n, ['uuid', 'text'])})`);

/** The engine's balances of `n` accounts (cash and what its open orders hold). */
const saveBalancesText = perRowCount(
  (n) => `
    update paper_accounts p set cash = v.cash, reserved_cash = v.reserved, version = p.version + 1, updated_at = now()
      from (values ${valuesList(n, ['uuid', 'numeric', 'numeric'])}) as v(id, cash, reserved)
     where p.id = v.id`,
);
