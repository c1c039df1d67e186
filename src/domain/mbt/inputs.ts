// The engine's inputs (one ordered log per paper account) as zod schemas; the TS types come from them.
import { z } from 'zod';
import { DECIMAL_RE } from './money.js';

const symbol = z.string().regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'not a valid symbol');
/** Epoch milliseconds (UTC). The engine never reads a clock: every time comes from an input. */
const ts = z.number().int().nonnegative();
/** Prices arrive as JSON numbers from Alpaca's stream, or as decimal strings; both become exact decimals. */
const price = z.union([z.number().finite().nonnegative(), z.string().regex(DECIMAL_RE)]);
/** Quote sizes are in round lots (1 lot = 100 shares), as Alpaca sends them. */
const lots = z.number().finite().nonnegative();
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');
const decimalString = z.string().regex(DECIMAL_RE, 'must be a decimal string such as "100" or "99.50"');

/** A quote's fields, as the hub's normalised frame names them (also the shape of a settle mark). */
const quoteFields = {
  S: symbol,
  /** The hub's contiguous per-symbol quote seq. */
  seq: z.number().int().positive(),
  ts,
  bp: price,
  bs: lots,
  ap: price,
  as: lots,
  /** Which upstream feed priced it (`sip`, `iex`, `delayed_sip`, `test`), recorded on every fill. */
  feed: z.string().min(1).max(16).default('sip'),
};

export const quoteInputSchema = z.strictObject({ type: z.literal('quote'), ...quoteFields });

export const statusInputSchema = z.strictObject({
  type: z.literal('status'),
  S: symbol,
  /** Alpaca's status code: H, P, 2 halt; T, 3 resume; Q keeps a halt (quotes only); others leave the state. */
  sc: z.string().min(1).max(4),
  ts,
  seq: z.number().int().positive().optional(),
});

export const CLOCK_EVENTS = ['pre_open', 'regular_open', 'regular_close', 'extended_close'] as const;
export type ClockEvent = (typeof CLOCK_EVENTS)[number];

export const clockInputSchema = z.strictObject({
  type: z.literal('clock'),
  /** 04:00 pre_open, 09:30 regular_open, 16:00 regular_close, 20:00 extended_close (ET; early closes move the last two). */
  event: z.enum(CLOCK_EVENTS),
  /** The trading day (New York date) the event belongs to. */
  day,
  ts,
  /** The day's closes (epoch ms), given with pre_open/regular_open: quotes at or after a close never fill its orders. */
  regularCloseTs: ts.optional(),
  extendedCloseTs: ts.optional(),
});

/** Order fields as a client sent them (Alpaca names); the engine validates them, so they are loose strings here. */
export const orderRequestSchema = z.strictObject({
  id: z.string().min(1).max(64),
  client_order_id: z.string().min(1).max(128),
  symbol,
  side: z.string(),
  type: z.string(),
  time_in_force: z.string(),
  qty: z.string().optional(),
  notional: z.string().optional(),
  limit_price: z.string().optional(),
  stop_price: z.string().optional(),
  extended_hours: z.boolean().optional(),
  order_class: z.string().optional(),
});

/** Asset facts the rules need; stored per symbol by the engine (the latest given wins). */
export const assetInfoSchema = z.strictObject({
  tradable: z.boolean().default(true),
  shortable: z.boolean().default(false),
  easy_to_borrow: z.boolean().default(false),
  fractionable: z.boolean().default(false),
});

/** The last valid quote before the close of a held symbol, which the settle marks it with. */
export const markInputSchema = z.strictObject(quoteFields);

const commandBase = { id: z.string().min(1).max(128), ts };

export const commandInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({ type: z.literal('command'), kind: z.literal('submit'), ...commandBase, order: orderRequestSchema, asset: assetInfoSchema.optional() }),
  z.strictObject({ type: z.literal('command'), kind: z.literal('cancel'), ...commandBase, order_id: z.string().min(1) }),
  z.strictObject({
    type: z.literal('command'),
    kind: z.literal('replace'),
    ...commandBase,
    order_id: z.string().min(1),
    /** Id of the replacement order (supplied, so ids are a function of the log). */
    new_order_id: z.string().min(1).max(64),
    patch: z.strictObject({
      qty: z.string().optional(),
      time_in_force: z.string().optional(),
      limit_price: z.string().optional(),
      stop_price: z.string().optional(),
      client_order_id: z.string().min(1).max(128),
    }),
  }),
  z.strictObject({ type: z.literal('command'), kind: z.literal('cancel_all'), ...commandBase }),
  z.strictObject({
    type: z.literal('command'),
    kind: z.literal('settle'),
    ...commandBase,
    day,
    /** The close the cycle ends at (epoch ms): mark ages are measured from it. */
    close_ts: ts,
    marks: z.array(markInputSchema).default([]),
  }),
  z.strictObject({ type: z.literal('command'), kind: z.literal('adjust_cash'), ...commandBase, amount: decimalString }),
  z.strictObject({ type: z.literal('command'), kind: z.literal('reset'), ...commandBase, starting_cash: decimalString.optional() }),
]);

export const mbtInputSchema = z.union([quoteInputSchema, statusInputSchema, clockInputSchema, commandInputSchema]);

const INPUT_SCHEMAS: Record<string, z.ZodType<MbtInput>> = {
  quote: quoteInputSchema,
  status: statusInputSchema,
  clock: clockInputSchema,
  command: commandInputSchema,
};

export type QuoteInput = z.infer<typeof quoteInputSchema>;
export type StatusInput = z.infer<typeof statusInputSchema>;
export type ClockInput = z.infer<typeof clockInputSchema>;
export type CommandInput = z.infer<typeof commandInputSchema>;
export type OrderRequest = z.infer<typeof orderRequestSchema>;
export type AssetInfo = z.infer<typeof assetInfoSchema>;
export type MarkInput = z.infer<typeof markInputSchema>;
export type MbtInput = z.infer<typeof mbtInputSchema>;
/** Inputs as written before defaults apply (what a caller may pass to `parseMbtInput`). */
export type MbtInputIn = z.input<typeof mbtInputSchema>;

export type SubmitCommand = Extract<CommandInput, { kind: 'submit' }>;
export type CancelCommand = Extract<CommandInput, { kind: 'cancel' }>;
export type ReplaceCommand = Extract<CommandInput, { kind: 'replace' }>;
export type CancelAllCommand = Extract<CommandInput, { kind: 'cancel_all' }>;
export type SettleCommand = Extract<CommandInput, { kind: 'settle' }>;
export type AdjustCashCommand = Extract<CommandInput, { kind: 'adjust_cash' }>;
export type ResetCommand = Extract<CommandInput, { kind: 'reset' }>;

/** Validates one input; the message names the failing fields on one line. */
export function parseMbtInput(value: unknown): { ok: true; input: MbtInput } | { ok: false; message: string } {
  // Dispatch on `type` first, so an error names the fields of the intended kind rather than every union branch.
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  const schema = INPUT_SCHEMAS[String(type)];
  if (!schema) return { ok: false, message: `type: must be one of ${Object.keys(INPUT_SCHEMAS).join(', ')}` };
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, input: r.data };
  const message = r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
  return { ok: false, message };
}
