// The engine state as a zod schema: what a replay file may start from instead of a fresh account (a checkpoint the
// account actor wrote at a settle, exported after retention removed the inputs before it). It mirrors `MbtState`
// exactly: the `satisfies` and the key checks at the end fail to compile when the two drift apart (a field added to
// the state and not here would make every checkpoint that holds it unreadable).
import { z } from 'zod';
import { assetInfoSchema } from './inputs.js';
import type { MbtState, OrderState, OrderWork, SymbolState, ValidQuote } from './state.js';

const decimal = z.string().regex(/^-?(0|[1-9]\d*)(\.\d+)?$/, 'must be a decimal string');
const ms = z.number().int().nonnegative();
const nullableText = z.string().nullable();

const validQuoteSchema = z.strictObject({ seq: z.number().int().positive(), ts: ms, bp: decimal, ap: decimal, bs: decimal, as: decimal, feed: z.string() });

const symbolStateSchema = z.strictObject({
  lastSeq: z.number().int().nonnegative(),
  halted: z.boolean(),
  auction: z.boolean(),
  last: validQuoteSchema.optional(),
  asset: assetInfoSchema.optional(),
  mark: z.strictObject({ px: decimal, ts: ms }).optional(),
});

const orderWorkSchema = z.strictObject({
  priority: z.number().int().positive(),
  acceptSeq: z.number().int().nonnegative(),
  firstLook: z.boolean(),
  triggered: z.boolean(),
  reserved: decimal,
  reservePx: decimal.nullable(),
  needsReserve: z.boolean(),
  filledCost: decimal,
  shortSale: z.boolean(),
  fills: z.number().int().nonnegative(),
});

const orderStateSchema = z.strictObject({
  id: z.string().min(1),
  client_order_id: z.string().min(1),
  symbol: z.string().min(1),
  side: z.enum(['buy', 'sell']),
  type: z.enum(['market', 'limit', 'stop', 'stop_limit']),
  time_in_force: z.enum(['day', 'gtc', 'ioc', 'fok']),
  qty: decimal.nullable(),
  notional: decimal.nullable(),
  filled_qty: decimal,
  filled_avg_price: decimal.nullable(),
  limit_price: decimal.nullable(),
  stop_price: decimal.nullable(),
  extended_hours: z.boolean(),
  status: z.enum(['accepted', 'new', 'partially_filled', 'filled', 'canceled', 'expired', 'replaced', 'rejected']),
  replaces: nullableText,
  replaced_by: nullableText,
  submitted_at: z.string(),
  updated_at: z.string(),
  filled_at: nullableText,
  canceled_at: nullableText,
  expired_at: nullableText,
  replaced_at: nullableText,
  failed_at: nullableText,
  work: orderWorkSchema,
});

export const mbtStateSchema = z.strictObject({
  v: z.literal(1),
  account: z.strictObject({ id: z.string().min(1).max(128), type: z.enum(['cash', 'margin']), cash: decimal, starting_cash: decimal }),
  session: z.strictObject({
    phase: z.enum(['closed', 'pre', 'regular', 'post']),
    day: z.string().nullable(),
    since: ms,
    regularCloseTs: ms.nullable(),
    extendedCloseTs: ms.nullable(),
  }),
  symbols: z.record(z.string(), symbolStateSchema),
  orders: z.record(z.string(), orderStateSchema),
  positions: z.record(z.string(), z.strictObject({ qty: decimal, avg_entry_price: decimal })),
  nextPriority: z.number().int().positive(),
  cycle: z.strictObject({
    equityOpen: decimal,
    netDeposits: decimal,
    hadFill: z.boolean(),
    lastSettledDay: z.string().nullable(),
    settledCount: z.number().int().nonnegative(),
  }),
}) satisfies z.ZodType<MbtState>;

/** `true` when A and B have the same keys (optional ones included); a type error below otherwise. */
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Out<T extends z.ZodType> = z.output<T>;
const sameKeys: [
  SameKeys<MbtState, Out<typeof mbtStateSchema>>,
  SameKeys<MbtState['account'], Out<typeof mbtStateSchema>['account']>,
  SameKeys<MbtState['session'], Out<typeof mbtStateSchema>['session']>,
  SameKeys<MbtState['cycle'], Out<typeof mbtStateSchema>['cycle']>,
  SameKeys<SymbolState, Out<typeof symbolStateSchema>>,
  SameKeys<ValidQuote, Out<typeof validQuoteSchema>>,
  SameKeys<OrderState, Out<typeof orderStateSchema>>,
  SameKeys<OrderWork, Out<typeof orderWorkSchema>>,
] = [true, true, true, true, true, true, true, true];
void sameKeys;
