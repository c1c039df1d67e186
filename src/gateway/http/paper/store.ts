// The paper API's reads: the account actor's query tables (paper_accounts, orders, positions, settled_cycles), always
// under `withTenant(db, [userId])` so row-level security shows a user only their own rows, and filtered by user too.
import { and, asc, desc, eq, gt, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { OPEN_ORDER_STATUSES, orders, paperAccounts, positions, settledCycles, withTenant, type Db, type Tx } from '../../../infra/db/index.js';
import type { AccountRow, OrderRecord, PositionRow } from './format.js';

export interface OrderQuery {
  status: 'open' | 'closed' | 'all';
  limit: number;
  direction: 'asc' | 'desc';
  after?: Date;
  until?: Date;
  symbols?: string[];
  side?: 'buy' | 'sell';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const orderColumns = {
  id: orders.id,
  client_order_id: orders.clientOrderId,
  symbol: orders.symbol,
  asset_class: orders.assetClass,
  side: orders.side,
  type: orders.type,
  time_in_force: orders.timeInForce,
  status: orders.status,
  qty: orders.qty,
  notional: orders.notional,
  filled_qty: orders.filledQty,
  filled_avg_price: orders.filledAvgPrice,
  limit_price: orders.limitPrice,
  stop_price: orders.stopPrice,
  extended_hours: orders.extendedHours,
  replaces: orders.replaces,
  replaced_by: orders.replacedBy,
  created_at: orders.createdAt,
  updated_at: orders.updatedAt,
  submitted_at: orders.submittedAt,
  filled_at: orders.filledAt,
  expired_at: orders.expiredAt,
  canceled_at: orders.canceledAt,
  failed_at: orders.failedAt,
  replaced_at: orders.replacedAt,
};

type OrderRow = Omit<OrderRecord, 'created_at' | 'updated_at' | 'submitted_at' | 'filled_at' | 'expired_at' | 'canceled_at' | 'failed_at' | 'replaced_at'> &
  Record<'created_at' | 'updated_at' | 'submitted_at' | 'filled_at' | 'expired_at' | 'canceled_at' | 'failed_at' | 'replaced_at', Date | null>;

const toRecord = (r: OrderRow): OrderRecord => {
  const out: Record<string, unknown> = { ...r };
  for (const k of ['created_at', 'updated_at', 'submitted_at', 'filled_at', 'expired_at', 'canceled_at', 'failed_at', 'replaced_at'] as const) {
    out[k] = r[k] === null ? null : r[k].toISOString();
  }
  return out as unknown as OrderRecord;
};

const isOpen = inArray(orders.status, [...OPEN_ORDER_STATUSES]);

export interface PaperStore {
  account(userId: string): Promise<{ account: AccountRow; positions: PositionRow[] } | null>;
  orders(userId: string, q: OrderQuery): Promise<OrderRecord[]>;
  order(userId: string, id: string): Promise<OrderRecord | null>;
  orderByClientId(userId: string, clientOrderId: string): Promise<OrderRecord | null>;
  positions(userId: string): Promise<PositionRow[]>;
  /** By symbol or by the asset id the position JSON shows. */
  position(userId: string, symbolOrAssetId: string, assetIdOf: (symbol: string) => string): Promise<PositionRow | null>;
  /** The account's cycle start and its settled cycles (for the gate), or null without an account. */
  cycles(userId: string): Promise<{ cycleStartedAt: string; cycles: Array<{ tradingDay: string; pnl: string; hadActivity: boolean; settledAt: string }> } | null>;
}

export function createPaperStore(db: Db): PaperStore {
  async function positionRows(tx: Tx, userId: string, where?: SQL): Promise<PositionRow[]> {
    // What open sell orders still hold, per symbol (qty_available = qty − held).
    const held = tx
      .select({
        symbol: orders.symbol,
        held: sql<string>`coalesce(sum(${orders.qty} - ${orders.filledQty}), 0)`.as('held'),
      })
      .from(orders)
      .where(and(eq(orders.userId, userId), eq(orders.side, 'sell'), isOpen))
      .groupBy(orders.symbol)
      .as('held');
    const rows = await tx
      .select({
        symbol: positions.symbol,
        qty: positions.qty,
        avgEntryPrice: positions.avgEntryPrice,
        costBasis: positions.costBasis,
        heldForSale: sql<string>`coalesce(${held.held}, 0)::text`,
      })
      .from(positions)
      .leftJoin(held, eq(held.symbol, positions.symbol))
      .where(and(eq(positions.userId, userId), sql`${positions.qty} <> 0`, where))
      .orderBy(asc(positions.symbol));
    return rows;
  }

  const oneOrder = (userId: string, where: SQL) =>
    withTenant(db, [userId], async (tx) => {
      const rows = (await tx.select(orderColumns).from(orders).where(and(eq(orders.userId, userId), where)).limit(1)) as OrderRow[];
      return rows[0] ? toRecord(rows[0]) : null;
    });

  return {
    account: (userId) =>
      withTenant(db, [userId], async (tx) => {
        const [a] = await tx
          .select({
            id: paperAccounts.id,
            accountNumber: paperAccounts.accountNumber,
            accountType: paperAccounts.accountType,
            status: paperAccounts.status,
            currency: paperAccounts.currency,
            cash: paperAccounts.cash,
            reservedCash: paperAccounts.reservedCash,
            startingCash: paperAccounts.startingCash,
            cycleStartedAt: paperAccounts.cycleStartedAt,
            createdAt: paperAccounts.createdAt,
          })
          .from(paperAccounts)
          .where(eq(paperAccounts.userId, userId));
        if (!a) return null;
        // The last close since the cycle start (a reset starts from the new starting cash).
        const [last] = await tx
          .select({ equityClose: settledCycles.equityClose })
          .from(settledCycles)
          .where(and(eq(settledCycles.userId, userId), eq(settledCycles.accountId, a.id), gte(settledCycles.settledAt, a.cycleStartedAt)))
          .orderBy(desc(settledCycles.tradingDay))
          .limit(1);
        const { cycleStartedAt: _start, ...rest } = a;
        return { account: { ...rest, lastEquity: last?.equityClose ?? null }, positions: await positionRows(tx, userId) };
      }),

    orders: (userId, q) =>
      withTenant(db, [userId], async (tx) => {
        const conds: Array<SQL | undefined> = [eq(orders.userId, userId)];
        if (q.status === 'open') conds.push(isOpen);
        if (q.status === 'closed') conds.push(sql`not (${isOpen})`);
        if (q.after) conds.push(gt(orders.submittedAt, q.after));
        if (q.until) conds.push(lt(orders.submittedAt, q.until));
        if (q.symbols && q.symbols.length > 0) conds.push(inArray(orders.symbol, q.symbols));
        if (q.side) conds.push(eq(orders.side, q.side));
        const order = q.direction === 'asc' ? [asc(orders.submittedAt), asc(orders.id)] : [desc(orders.submittedAt), desc(orders.id)];
        const rows = (await tx
          .select(orderColumns)
          .from(orders)
          .where(and(...conds))
          .orderBy(...order)
          .limit(q.limit)) as OrderRow[];
        return rows.map(toRecord);
      }),

    order: async (userId, id) => (UUID.test(id) ? oneOrder(userId, eq(orders.id, id.toLowerCase())) : null),

    orderByClientId: (userId, clientOrderId) => oneOrder(userId, eq(orders.clientOrderId, clientOrderId)),

    positions: (userId) => withTenant(db, [userId], (tx) => positionRows(tx, userId)),

    position: (userId, key, assetIdOf) =>
      withTenant(db, [userId], async (tx) => {
        const symbol = key.toUpperCase();
        const direct = await positionRows(tx, userId, eq(positions.symbol, symbol));
        if (direct[0]) return direct[0];
        if (!UUID.test(key)) return null;
        // An asset id: the position whose symbol maps to it (a user holds few positions).
        return (await positionRows(tx, userId)).find((p) => assetIdOf(p.symbol) === key.toLowerCase()) ?? null;
      }),

    cycles: (userId) =>
      withTenant(db, [userId], async (tx) => {
        const [a] = await tx
          .select({ id: paperAccounts.id, cycleStartedAt: paperAccounts.cycleStartedAt })
          .from(paperAccounts)
          .where(eq(paperAccounts.userId, userId));
        if (!a) return null;
        const rows = await tx
          .select({ tradingDay: settledCycles.tradingDay, pnl: settledCycles.pnl, hadActivity: settledCycles.hadActivity, settledAt: settledCycles.settledAt })
          .from(settledCycles)
          .where(and(eq(settledCycles.userId, userId), eq(settledCycles.accountId, a.id), gte(settledCycles.settledAt, a.cycleStartedAt)))
          .orderBy(asc(settledCycles.tradingDay));
        return {
          cycleStartedAt: a.cycleStartedAt.toISOString(),
          cycles: rows.map((r) => ({ ...r, settledAt: r.settledAt.toISOString() })),
        };
      }),
  };
}
