// Builders for MBT input logs in tests: one trading day in January 2026 (New York = UTC−5), readable offsets.
import {
  initialState,
  parseMbtInput,
  run,
  type AccountInit,
  type MbtConfig,
  type MbtInput,
  type MbtOutput,
  type MbtState,
  type OrderView,
  type TradeUpdateOutput,
} from '../../../src/domain/mbt/index.js';

export const DAY = '2026-01-05';
const at = (hh: number, mm: number, ss = 0, ms = 0) => Date.UTC(2026, 0, 5, hh + 5, mm, ss, ms);
export const PRE_OPEN = at(4, 0);
export const OPEN = at(9, 30);
export const CLOSE = at(16, 0);
export const EXT_CLOSE = at(20, 0);
/** A moment of the regular session, `s` seconds after 10:00. */
export const rth = (s = 0) => at(10, 0, s);

function parse(value: unknown): MbtInput {
  const r = parseMbtInput(value);
  if (!r.ok) throw new Error(`bad test input ${JSON.stringify(value)}: ${r.message}`);
  return r.input;
}

export const preOpen = (): MbtInput =>
  parse({ type: 'clock', event: 'pre_open', day: DAY, ts: PRE_OPEN, regularCloseTs: CLOSE, extendedCloseTs: EXT_CLOSE });
export const regularOpen = (): MbtInput =>
  parse({ type: 'clock', event: 'regular_open', day: DAY, ts: OPEN, regularCloseTs: CLOSE, extendedCloseTs: EXT_CLOSE });
export const regularClose = (): MbtInput => parse({ type: 'clock', event: 'regular_close', day: DAY, ts: CLOSE });
export const extendedClose = (): MbtInput => parse({ type: 'clock', event: 'extended_close', day: DAY, ts: EXT_CLOSE });
/** Pre-market and regular session open, as most tests start. */
export const session = (): MbtInput[] => [preOpen(), regularOpen()];

/** A quote; sizes in round lots (default 1 lot = 100 shares each side). */
export function quote(seq: number, bp: number | string, ap: number | string, opts: { S?: string; bs?: number; as?: number; ts?: number; feed?: string } = {}): MbtInput {
  return parse({ type: 'quote', S: opts.S ?? 'AAPL', seq, ts: opts.ts ?? rth(seq), bp, bs: opts.bs ?? 1, ap, as: opts.as ?? 1, feed: opts.feed ?? 'sip' });
}

export const status = (sc: string, opts: { S?: string; ts?: number } = {}): MbtInput =>
  parse({ type: 'status', S: opts.S ?? 'AAPL', sc, ts: opts.ts ?? rth() });

export interface OrderOpts {
  id?: string;
  cid?: string;
  symbol?: string;
  side?: string;
  type?: string;
  tif?: string;
  qty?: string;
  notional?: string;
  limit?: string;
  stop?: string;
  ext?: boolean;
  ts?: number;
  asset?: { tradable?: boolean; shortable?: boolean; easy_to_borrow?: boolean; fractionable?: boolean };
}

export function submit(o: OrderOpts = {}): MbtInput {
  const id = o.id ?? 'o1';
  return parse({
    type: 'command',
    kind: 'submit',
    id: `c-${id}`,
    ts: o.ts ?? rth(),
    order: {
      id,
      client_order_id: o.cid ?? `cid-${id}`,
      symbol: o.symbol ?? 'AAPL',
      side: o.side ?? 'buy',
      type: o.type ?? 'market',
      time_in_force: o.tif ?? 'day',
      ...(o.notional === undefined ? { qty: o.qty ?? '100' } : { notional: o.notional }),
      ...(o.limit === undefined ? {} : { limit_price: o.limit }),
      ...(o.stop === undefined ? {} : { stop_price: o.stop }),
      ...(o.ext === undefined ? {} : { extended_hours: o.ext }),
    },
    ...(o.asset ? { asset: o.asset } : {}),
  });
}

export const cancel = (orderId: string, ts = rth()): MbtInput => parse({ type: 'command', kind: 'cancel', id: `cancel-${orderId}-${ts}`, ts, order_id: orderId });
export const cancelAll = (ts = rth()): MbtInput => parse({ type: 'command', kind: 'cancel_all', id: `cancel-all-${ts}`, ts });
export function replace(orderId: string, newId: string, patch: { qty?: string; limit_price?: string; stop_price?: string; time_in_force?: string }, ts = rth()): MbtInput {
  return parse({ type: 'command', kind: 'replace', id: `replace-${newId}`, ts, order_id: orderId, new_order_id: newId, patch: { ...patch, client_order_id: `cid-${newId}` } });
}
export function settle(marks: Array<{ S?: string; seq: number; bp: number; ap: number; ts: number }> = [], day = DAY, closeTs = CLOSE): MbtInput {
  return parse({
    type: 'command',
    kind: 'settle',
    id: `settle-${day}`,
    ts: closeTs,
    day,
    close_ts: closeTs,
    marks: marks.map((m) => ({ S: m.S ?? 'AAPL', seq: m.seq, ts: m.ts, bp: m.bp, bs: 1, ap: m.ap, as: 1 })),
  });
}
export const adjustCash = (amount: string, ts = rth()): MbtInput => parse({ type: 'command', kind: 'adjust_cash', id: `adj-${ts}-${amount}`, ts, amount });

export interface Result {
  state: MbtState;
  outputs: MbtOutput[];
  /** Trade updates in order, as `event:orderId`. */
  events: string[];
  updates: TradeUpdateOutput[];
  fills: TradeUpdateOutput[];
  replies: Extract<MbtOutput, { type: 'reply' }>[];
  /** Client order ids the log added, as `clientOrderId→orderId`. */
  clientIds: string[];
  /** Every order of the log as last seen: open ones from the state, closed ones as they left it. */
  orders: Record<string, OrderView>;
}

export function play(inputs: MbtInput[], account: Partial<AccountInit> = {}, config: Partial<MbtConfig> = {}): Result {
  const { state, outputs, clientIds, closed } = run(initialState({ id: 'acct-1', ...account }), inputs, config);
  const orders: Record<string, OrderView> = {};
  for (const v of closed) orders[v.id] = v;
  for (const { work, ...o } of Object.values(state.orders)) orders[o.id] = { ...o, reserved_cash: work.reserved };
  const updates = outputs.filter((o): o is TradeUpdateOutput => o.type === 'trade_update');
  return {
    state,
    outputs,
    updates,
    events: updates.map((u) => `${u.event}:${u.order.id}`),
    fills: updates.filter((u) => u.event === 'fill' || u.event === 'partial_fill'),
    replies: outputs.filter((o): o is Extract<MbtOutput, { type: 'reply' }> => o.type === 'reply'),
    clientIds: clientIds.map((e) => `${e.clientOrderId}→${e.orderId}`),
    orders,
  };
}

/** Fill summaries `qty@price#seq/rule` for compact assertions. */
export const fillsOf = (r: Result, orderId?: string) =>
  r.fills.filter((f) => !orderId || f.order.id === orderId).map((f) => `${f.qty}@${f.price}#${f.quote_seq}/${f.rule}`);
