// The replay file format (docs/mbt-replay.md): a header line with the account and settings, then one input per line.
import { z } from 'zod';
import { defaultMbtConfig, linearFees, type MbtConfig } from './config.js';
import { parseMbtInput, type MbtInput } from './inputs.js';
import type { AccountInit } from './state.js';

const decimalString = z.string().regex(/^(0|[1-9]\d*)(\.\d+)?$/, 'must be a non-negative decimal string');

export const replayHeaderSchema = z.strictObject({
  type: z.literal('account'),
  id: z.string().min(1).max(128),
  account_type: z.enum(['cash', 'margin']).default('cash'),
  cash: decimalString.default('100000'),
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
});
export type ReplayHeader = z.infer<typeof replayHeaderSchema>;

export interface ReplayLog {
  account: AccountInit;
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
  return { account: { id: header.id, type: header.account_type, cash: header.cash }, config: toConfig(header), inputs };
}
