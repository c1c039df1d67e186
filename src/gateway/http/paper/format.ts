// Alpaca's JSON shapes for paper orders, positions and the account, built from the query tables (orders, positions,
// paper_accounts) or from the engine's order view carried by a decision or a trade update. Money and quantities
// are decimal strings, as Alpaca sends them.
import { Decimal } from 'decimal.js';
import { paperAssetId } from '../../../contracts/index.js';
import { mbt } from '../../../domain/index.js';

/** An order in the engine's snake_case view (OrderView) or read from `orders`; every field but the ids optional. */
export interface OrderRecord {
  id: string;
  client_order_id: string;
  symbol: string;
  side: string;
  type: string;
  time_in_force: string;
  status: string;
  qty?: string | null;
  notional?: string | null;
  filled_qty?: string | null;
  filled_avg_price?: string | null;
  limit_price?: string | null;
  stop_price?: string | null;
  extended_hours?: boolean;
  replaces?: string | null;
  replaced_by?: string | null;
  created_at?: string | null;
  updated_at?: string | null;
  submitted_at?: string | null;
  filled_at?: string | null;
  expired_at?: string | null;
  canceled_at?: string | null;
  failed_at?: string | null;
  replaced_at?: string | null;
  asset_class?: string;
}

const D = Decimal.clone({ toExpNeg: -40, toExpPos: 40 });

/** A decimal as Alpaca shows it: no exponent, no trailing zeros; null stays null. */
export function dec(v: string | number | null | undefined): string | null {
  if (v === null || v === undefined || v === '') return null;
  const n = new D(v);
  return n.isZero() ? '0' : n.toString();
}

/** Money as shown by the account and position endpoints: half-up to the cent, no trailing zeros. */
function money(v: Decimal): string {
  const s = v.toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
  return s.isZero() ? '0' : s.toString();
}

/** A symbol's `asset_id`: the same name-based id the account actor shows in decisions and trade updates. */
export const assetId = paperAssetId;

const iso = (v: string | Date | null | undefined): string | null => (v === null || v === undefined ? null : new Date(v).toISOString());

/** The full Alpaca order object. */
export function orderJson(o: OrderRecord): Record<string, unknown> {
  return {
    id: o.id,
    client_order_id: o.client_order_id,
    created_at: iso(o.created_at ?? o.submitted_at),
    updated_at: iso(o.updated_at ?? o.submitted_at),
    submitted_at: iso(o.submitted_at ?? o.created_at),
    filled_at: iso(o.filled_at),
    expired_at: iso(o.expired_at),
    canceled_at: iso(o.canceled_at),
    failed_at: iso(o.failed_at),
    replaced_at: iso(o.replaced_at),
    replaced_by: o.replaced_by ?? null,
    replaces: o.replaces ?? null,
    asset_id: assetId(o.symbol),
    symbol: o.symbol,
    asset_class: o.asset_class ?? 'us_equity',
    notional: dec(o.notional),
    qty: dec(o.qty),
    filled_qty: dec(o.filled_qty) ?? '0',
    filled_avg_price: dec(o.filled_avg_price),
    order_class: 'simple',
    order_type: o.type,
    type: o.type,
    side: o.side,
    position_intent: null,
    time_in_force: o.time_in_force,
    limit_price: dec(o.limit_price),
    stop_price: dec(o.stop_price),
    status: o.status,
    extended_hours: o.extended_hours ?? false,
    legs: null,
    trail_percent: null,
    trail_price: null,
    hwm: null,
    subtag: null,
    source: null,
    expires_at: null,
  };
}

/** A loose object (decision result, trade update) as an order, or null when it does not look like one. */
export function asOrderRecord(v: unknown): OrderRecord | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const strings = ['id', 'client_order_id', 'symbol', 'side', 'type', 'time_in_force', 'status'] as const;
  return strings.every((k) => typeof o[k] === 'string') ? (o as unknown as OrderRecord) : null;
}

export interface PositionRow {
  symbol: string;
  qty: string;
  avgEntryPrice: string;
  costBasis: string;
  /** Quantity held by open sell orders (what is not available to sell again). */
  heldForSale: string;
}

/**
 * The Alpaca position object. `mark` is the price it is valued at (see docs/paper-api.md: the mid of the last real-time
 * quote the hub holds, else the average entry price). The gateway knows no previous close: `lastday_price` is the
 * mark, so the intraday figures are zero.
 */
export function positionJson(p: PositionRow, mark: string | undefined): Record<string, unknown> {
  const qty = new D(p.qty);
  const price = new D(mark ?? p.avgEntryPrice);
  const cost = new D(p.costBasis);
  const mv = qty.mul(price);
  const pl = mv.sub(cost);
  const available = qty.gt(0) ? Decimal.max(0, qty.sub(p.heldForSale)) : qty;
  return {
    asset_id: assetId(p.symbol),
    symbol: p.symbol,
    exchange: '',
    asset_class: 'us_equity',
    asset_marginable: true,
    qty: dec(p.qty),
    qty_available: dec(available.toString()),
    avg_entry_price: dec(p.avgEntryPrice),
    side: qty.gte(0) ? 'long' : 'short',
    market_value: money(mv),
    cost_basis: money(cost),
    unrealized_pl: money(pl),
    unrealized_plpc: cost.isZero() ? '0' : dec(pl.div(cost.abs()).toDecimalPlaces(6).toString()),
    unrealized_intraday_pl: '0',
    unrealized_intraday_plpc: '0',
    current_price: dec(price.toString()),
    lastday_price: dec(price.toString()),
    change_today: '0',
  };
}

export interface AccountRow {
  id: string;
  accountNumber: string;
  accountType: string;
  status: string;
  currency: string;
  cash: string;
  reservedCash: string;
  startingCash: string;
  /** equity_close of the last settled cycle (null before the first: the starting cash is shown). */
  lastEquity: string | null;
  createdAt: Date | string;
}

/**
 * The Alpaca account object. Equity = cash + Σ qty × mark (the same marks as the positions); buying power as the
 * engine computes it (docs/mbt.md rule 14): cash accounts cash − holds; margin accounts equity × 2 − gross position
 * value − holds when equity ≥ $2,000, else 1×. Never negative here.
 */
export function accountJson(a: AccountRow, positions: ReadonlyArray<{ qty: string; mark: string }>): Record<string, unknown> {
  const cash = new D(a.cash);
  const reserved = new D(a.reservedCash);
  let long = new D(0);
  let short = new D(0);
  for (const p of positions) {
    const v = new D(p.qty).mul(p.mark);
    if (v.gte(0)) long = long.add(v);
    else short = short.add(v);
  }
  const equity = cash.add(long).add(short);
  const gross = long.sub(short);
  const cfg = mbt.defaultMbtConfig;
  const margin = a.accountType === 'margin';
  const multiplier = margin && equity.gte(cfg.marginMinEquity) ? cfg.marginMultiplier : 1;
  const bp = Decimal.max(0, margin ? equity.mul(multiplier).sub(gross).sub(reserved) : cash.sub(reserved));
  const nonMarginable = Decimal.max(0, cash.sub(reserved));
  return {
    id: a.id,
    account_number: a.accountNumber,
    status: a.status === 'active' ? 'ACTIVE' : a.status === 'suspended' ? 'ACCOUNT_UPDATED' : 'ACCOUNT_CLOSED',
    crypto_status: 'INACTIVE',
    currency: a.currency,
    buying_power: money(bp),
    regt_buying_power: money(bp),
    daytrading_buying_power: '0',
    effective_buying_power: money(bp),
    non_marginable_buying_power: money(nonMarginable),
    options_buying_power: '0',
    bod_dtbp: '0',
    cash: money(cash),
    accrued_fees: '0',
    pending_transfer_in: '0',
    pending_transfer_out: '0',
    portfolio_value: money(equity),
    pattern_day_trader: false,
    trading_blocked: a.status !== 'active',
    transfers_blocked: true,
    account_blocked: a.status === 'closed',
    created_at: iso(a.createdAt),
    trade_suspended_by_user: false,
    multiplier: String(multiplier),
    shorting_enabled: margin,
    equity: money(equity),
    last_equity: money(new D(a.lastEquity ?? a.startingCash)),
    long_market_value: money(long),
    short_market_value: money(short),
    position_market_value: money(long.add(short)),
    initial_margin: '0',
    maintenance_margin: '0',
    last_maintenance_margin: '0',
    sma: '0',
    daytrade_count: 0,
    options_approved_level: 0,
    options_trading_level: 0,
  };
}
