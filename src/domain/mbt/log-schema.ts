// The replay file format (docs/mbt-replay.md): a header line with the account and settings, then one input per line.
import { z } from 'zod';
import { defaultMbtConfig, linearFees, type MbtConfig } from './config.js';
import { parseMbtInput, type MbtInput } from './inputs.js';
import type { ClientIdEntry } from './history.js';
import type { AccountInit, MbtState } from './state.js';
import { mbtStateSchema } from './state-schema.js';

const decimalString = z.string().regex(/^(0|[1-9]\d*)(\.\d+)?$/, 'must be a non-negative decimal string');

export const replayHeaderSchema = z.strictObject({
  type: z.literal('account'),
  id: z.string().min(1).max(128),
  account_type: z.enum(['cash', 'margin']).optional(),
  cash: decimalString.optional(),
  /**
   * The engine after `after_input` inputs, when the log does not start at the account's beginning (an export whose
   * earlier inputs retention removed starts at the checkpoint the actor wrote at a settle). Without it: a fresh account.
   */
  state: mbtStateSchema.optional(),
  after_input: z.number().int().nonnegative().optional(),
  /**
   * With `state`: the client order ids of its open orders (row 24 decides a resubmit by them, and the state holds
   * orders, not the ids' request fingerprints).
   */
  client_ids: z
    .array(z.strictObject({ client_order_id: z.string().min(1).max(128), order_id: z.string().min(1), fingerprint: z.string().min(1).max(64) }))
    .optional(),
  config: z
    .strictObject({
      depth: z.boolean().optional(),
      mark_max_age_ms: z.number().int().nonnegative().optional(),
      wash_trade_guard: z.boolean().optional(),
      margin_multiplier: z.number().positive().optional(),
      margin_min_equity: decimalString.optional(),
      random_partials: z.strictObject({ seed: z.number().int(), probability: z.number().min(0).max(1) }).nullable().optional(),
      fees: z.strictObject({ per_share: decimalString.optional(), bps: decimalString.optional(), sell_only: z.boolean().optional() }).optional(),
      pdt_legacy: z.boolean().optional(),
    })
    .default({}),
}).superRefine((h, ctx) => {
  if (!h.state) {
    if (h.after_input !== undefined) ctx.addIssue({ code: 'custom', path: ['after_input'], message: 'only with state' });
    if (h.client_ids !== undefined) ctx.addIssue({ code: 'custom', path: ['client_ids'], message: 'only with state' });
    return;
  }
  const open = new Set(Object.keys(h.state.orders));
  h.client_ids?.forEach((c, i) => {
    if (!open.has(c.order_id)) ctx.addIssue({ code: 'custom', path: ['client_ids', i, 'order_id'], message: 'not an order of the state' });
  });
  // The state is the account: the header may not say something else about it.
  if (h.state.account.id !== h.id) ctx.addIssue({ code: 'custom', path: ['state', 'account', 'id'], message: 'must equal the header id' });
  if (h.account_type !== undefined && h.account_type !== h.state.account.type) ctx.addIssue({ code: 'custom', path: ['account_type'], message: 'must equal state.account.type' });
  if (h.cash !== undefined) ctx.addIssue({ code: 'custom', path: ['cash'], message: 'not with state (the state holds the cash)' });
});
export type ReplayHeader = z.infer<typeof replayHeaderSchema>;

export interface ReplayLog {
  account: AccountInit;
  /** The engine to start from (a checkpoint), instead of a fresh `account`. */
  state?: MbtState;
  /** With `state`: what the replay's order history starts with. */
  history?: ClientIdEntry[];
  config: MbtConfig;
  /** Each input with the 1-based line number it came from. */
  inputs: Array<{ line: number; input: MbtInput }>;
}

/** A line that is not valid: its number and what is wrong with it. */
export class ReplayLogError extends Error {
  readonly code = 'mbt_replay_bad_line';
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
  }
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

function toConfig(h: ReplayHeader): MbtConfig {
  const c = h.config;
  return {
    ...defaultMbtConfig,
    ...(c.depth !== undefined ? { depth: c.depth } : {}),
    ...(c.mark_max_age_ms !== undefined ? { markMaxAgeMs: c.mark_max_age_ms } : {}),
    ...(c.wash_trade_guard !== undefined ? { washTradeGuard: c.wash_trade_guard } : {}),
    ...(c.margin_multiplier !== undefined ? { marginMultiplier: c.margin_multiplier } : {}),
    ...(c.margin_min_equity !== undefined ? { marginMinEquity: c.margin_min_equity } : {}),
    ...(c.random_partials !== undefined ? { randomPartials: c.random_partials } : {}),
    ...(c.pdt_legacy !== undefined ? { pdtLegacy: c.pdt_legacy } : {}),
    ...(c.fees ? { fees: linearFees({ perShare: c.fees.per_share, bps: c.fees.bps, sellOnly: c.fees.sell_only }) } : {}),
  };
}

/** Parses a whole replay file; blank lines and lines starting with `#` are skipped. Throws ReplayLogError. */
export function parseReplayLog(text: string): ReplayLog {
  let header: ReplayHeader | undefined;
  const inputs: ReplayLog['inputs'] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new ReplayLogError(line, `not JSON (${(err as Error).message})`);
    }
    if (!header) {
      const h = replayHeaderSchema.safeParse(value);
      if (!h.success) throw new ReplayLogError(line, `the first line must be the account header: ${issues(h.error)}`);
      header = h.data;
      continue;
    }
    const r = parseMbtInput(value);
    if (!r.ok) throw new ReplayLogError(line, r.message);
    inputs.push({ line, input: r.input });
  }
  if (!header) throw new ReplayLogError(1, 'empty log: the first line must be the account header');
  const account: AccountInit = header.state
    ? { id: header.id, type: header.state.account.type, cash: header.state.account.starting_cash }
    : { id: header.id, type: header.account_type ?? 'cash', cash: header.cash ?? '100000' };
  const history = header.client_ids?.map((c) => ({ clientOrderId: c.client_order_id, orderId: c.order_id, fingerprint: c.fingerprint }));
  return { account, ...(header.state ? { state: header.state, history: history ?? [] } : {}), config: toConfig(header), inputs };
}
