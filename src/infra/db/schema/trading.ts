// Orders (Alpaca-shaped), their fills, and the resulting positions.
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  numeric,
  pgTable,
  primaryKey,
  text,
  unique,
  uuid,
  type AnyPgColumn,
} from 'drizzle-orm/pg-core';
import { createdAt, oneOf, tstz, updatedAt } from './columns.js';
import { accountIdRef } from './accounts.js';
import { tenantPolicies } from './roles.js';
import { userIdRef } from './users.js';

export const ASSET_CLASSES = ['us_equity', 'crypto', 'us_option'] as const;
export type AssetClass = (typeof ASSET_CLASSES)[number];
export const ORDER_SIDES = ['buy', 'sell'] as const;
export type OrderSide = (typeof ORDER_SIDES)[number];
export const ORDER_TYPES = ['market', 'limit', 'stop', 'stop_limit'] as const;
export type OrderType = (typeof ORDER_TYPES)[number];
export const TIMES_IN_FORCE = ['day', 'gtc', 'opg', 'cls', 'ioc', 'fok'] as const;
export type TimeInForce = (typeof TIMES_IN_FORCE)[number];

/** Statuses in which an order may still fill; the partial index below uses exactly this list. */
export const OPEN_ORDER_STATUSES = [
  'new',
  'accepted',
  'pending_new',
  'partially_filled',
  'pending_cancel',
  'pending_replace',
  'held',
] as const;
export const ORDER_STATUSES = [
  ...OPEN_ORDER_STATUSES,
  'filled',
  'done_for_day',
  'canceled',
  'expired',
  'replaced',
  'rejected',
  'suspended',
  'stopped',
  'calculated',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    clientOrderId: text('client_order_id').notNull(),
    userId: userIdRef(),
    accountId: accountIdRef(),
    symbol: text('symbol').notNull(),
    assetClass: text('asset_class').$type<AssetClass>().notNull().default('us_equity'),
    side: text('side').$type<OrderSide>().notNull(),
    type: text('type').$type<OrderType>().notNull(),
    timeInForce: text('time_in_force').$type<TimeInForce>().notNull(),
    /** Exactly one of qty / notional is set (Alpaca rule). */
    qty: numeric('qty'),
    notional: numeric('notional'),
    filledQty: numeric('filled_qty').notNull().default('0'),
    filledAvgPrice: numeric('filled_avg_price'),
    limitPrice: numeric('limit_price'),
    stopPrice: numeric('stop_price'),
    extendedHours: boolean('extended_hours').notNull().default(false),
    status: text('status').$type<OrderStatus>().notNull().default('new'),
    replaces: uuid('replaces').references((): AnyPgColumn => orders.id, { onDelete: 'set null' }),
    replacedBy: uuid('replaced_by').references((): AnyPgColumn => orders.id, { onDelete: 'set null' }),
    /** The command that created the order (see processed_commands). */
    commandId: text('command_id'),
    rejectReason: text('reject_reason'),
    /** Buying power this order holds while open. */
    reservedCash: numeric('reserved_cash').notNull().default('0'),
    /**
     * Fingerprint of the request that created the order (MBT row 24): a resubmit with the same client_order_id and
     * this fingerprint is the same order. The account actor rebuilds its client order id index from these columns.
     */
    requestFp: text('request_fp'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    submittedAt: tstz('submitted_at').notNull().defaultNow(),
    filledAt: tstz('filled_at'),
    expiredAt: tstz('expired_at'),
    canceledAt: tstz('canceled_at'),
    failedAt: tstz('failed_at'),
    replacedAt: tstz('replaced_at'),
  },
  (t) => [
    unique('orders_account_client_order_id_key').on(t.accountId, t.clientOrderId),
    index('orders_account_created_idx').on(t.accountId, t.createdAt.desc()),
    index('orders_open_by_symbol_idx')
      .on(t.symbol)
      .where(sql.raw(`status in (${OPEN_ORDER_STATUSES.map((s) => `'${s}'`).join(', ')})`)),
    check('orders_asset_class_check', oneOf(t.assetClass, ASSET_CLASSES)),
    check('orders_side_check', oneOf(t.side, ORDER_SIDES)),
    check('orders_type_check', oneOf(t.type, ORDER_TYPES)),
    check('orders_time_in_force_check', oneOf(t.timeInForce, TIMES_IN_FORCE)),
    check('orders_status_check', oneOf(t.status, ORDER_STATUSES)),
    check('orders_qty_xor_notional', sql`num_nonnulls(${t.qty}, ${t.notional}) = 1`),
    check('orders_qty_positive', sql`${t.qty} is null or ${t.qty} > 0`),
    check('orders_notional_positive', sql`${t.notional} is null or ${t.notional} > 0`),
    check('orders_filled_qty_nonnegative', sql`${t.filledQty} >= 0`),
    check('orders_reserved_cash_nonnegative', sql`${t.reservedCash} >= 0`),
    ...tenantPolicies('orders', t.userId),
  ],
);

export const fills = pgTable(
  'fills',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: userIdRef(),
    accountId: accountIdRef(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    symbol: text('symbol').notNull(),
    side: text('side').$type<OrderSide>().notNull(),
    qty: numeric('qty').notNull(),
    price: numeric('price').notNull(),
    fee: numeric('fee').notNull().default('0'),
    /** Sequence number of the quote that caused this fill (replay/audit of the matching decision). */
    quoteSeq: bigint('quote_seq', { mode: 'number' }).notNull(),
    /** Which matching rule produced it. */
    rule: text('rule').notNull(),
    filledAt: tstz('filled_at').notNull().defaultNow(),
  },
  (t) => [
    index('fills_account_filled_idx').on(t.accountId, t.filledAt.desc()),
    index('fills_order_idx').on(t.orderId),
    check('fills_side_check', oneOf(t.side, ORDER_SIDES)),
    check('fills_qty_positive', sql`${t.qty} > 0`),
    check('fills_price_positive', sql`${t.price} > 0`),
    check('fills_fee_nonnegative', sql`${t.fee} >= 0`),
    ...tenantPolicies('fills', t.userId),
  ],
);

export const positions = pgTable(
  'positions',
  {
    accountId: accountIdRef(),
    symbol: text('symbol').notNull(),
    userId: userIdRef(),
    /** Signed: negative for a short position. */
    qty: numeric('qty').notNull(),
    avgEntryPrice: numeric('avg_entry_price').notNull(),
    costBasis: numeric('cost_basis').notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ name: 'positions_pkey', columns: [t.accountId, t.symbol] }), ...tenantPolicies('positions', t.userId)],
);
