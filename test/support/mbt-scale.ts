// Helpers for the paper engine's failure proof at scale (test/e2e/mbt-scale.test.ts): the replayed market, each
// user's order script (commands planned ahead with their ids, like the gateway assigns them), the CLIs as child
// processes, and fills re-derived from an exported engine log.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillId } from '../../src/actors/account/mbt/alpaca.js';
import { mbt } from '../../src/domain/index.js';
import type { Envelope } from '../../src/runtime/index.js';
import { runCli } from './processes.js';

/** A traded symbol of the run and its price level (bid = level + 0.00…0.09, ask = bid + 0.02). */
export interface ScaleSymbol {
  S: string;
  level: number;
}

const price = (cents: number) => Number((cents / 100).toFixed(2));

/**
 * A JSON Lines recording for the simulator's replay: one quote per symbol every `intervalMs` for `count` quotes (the
 * simulator loops it and restamps it to "now"); symbols interleaved so quotes arrive evenly.
 */
export function quoteRecording(symbols: readonly ScaleSymbol[], intervalMs: number, count = 40): string {
  const base = Date.UTC(2026, 2, 4, 16, 0);
  const step = Math.floor(intervalMs / symbols.length);
  const lines: Array<{ t: number; line: string }> = [];
  symbols.forEach(({ S, level }, k) => {
    for (let i = 0; i < count; i++) {
      const at = base + i * intervalMs + k * step;
      const bid = level * 100 + (i % 10);
      const t = new Date(at).toISOString().replace('Z', '000000Z');
      lines.push({ t: at, line: JSON.stringify({ T: 'q', S, bx: 'V', bp: price(bid), bs: 100, ax: 'Q', ap: price(bid + 2), as: 200, c: ['R'], z: 'C', t }) });
    }
  });
  return lines.sort((a, b) => a.t - b.t).map((l) => l.line).join('\n') + '\n';
}

/** One planned order command of a user's script. */
export interface PlannedCommand {
  env: Envelope;
  /** Position in the user's script (1-based): the commands of step k are appended as round k. */
  step: number;
  /** What the step does, for error messages. */
  label: string;
  /** The order a submit creates. */
  orderId?: string;
  /** The order a cancel targets. */
  targetId?: string;
}

export const SCRIPT_STEPS = 11;

/**
 * A user's 11 order commands, each within what the account holds when the previous ones are done (rounds are
 * appended seconds apart, so a buy has filled before its sell arrives; a late one is refused, which is an outcome
 * too). "Resting" users park a far buy limit and a far sell limit and cancel them two steps later; the others buy
 * with marketable limits instead and "cancel" orders that have already filled (refused: 422 already filled).
 * symbols: [S1, S2, S3, L].
 */
export function planUser(userId: string, symbols: readonly [string, string, string, string], resting: boolean, rnd: () => number): PlannedCommand[] {
  const [s1, s2, s3, l] = symbols;
  const qty = (lo: number, hi: number) => String(lo + Math.floor(rnd() * (hi - lo + 1)));
  const q1 = qty(1, 30);
  const q2 = qty(1, 30);
  const q3n = Number(qty(2, 30));
  const q3 = String(q3n);
  const out: PlannedCommand[] = [];
  const command = (label: string, type: string, payload: unknown, extra: Partial<PlannedCommand> = {}) =>
    out.push({ env: { id: randomUUID(), userId, type, payload, issuedAt: new Date().toISOString() }, step: out.length + 1, label, ...extra });
  const submit = (label: string, order: Record<string, unknown>): string => {
    const id = randomUUID();
    command(label, 'order.submit', { order: { id, client_order_id: randomUUID(), time_in_force: 'day', ...order } }, { orderId: id });
    return id;
  };
  const cancel = (label: string, targetId: string) => command(label, 'order.cancel', { order_id: targetId }, { targetId });

  submit('buy market S1', { symbol: s1, side: 'buy', type: 'market', qty: q1 });
  submit('buy marketable limit S2', { symbol: s2, side: 'buy', type: 'limit', qty: q2, limit_price: '100' });
  submit('buy market S3', { symbol: s3, side: 'buy', type: 'market', qty: q3 });
  const step4 = resting
    ? submit('buy far limit L (rests)', { symbol: l, side: 'buy', type: 'limit', qty: '10', limit_price: '1', time_in_force: 'gtc' })
    : submit('buy marketable limit L', { symbol: l, side: 'buy', type: 'limit', qty: qty(1, 20), limit_price: '100' });
  submit('sell market S1 (all)', { symbol: s1, side: 'sell', type: 'market', qty: q1 });
  cancel(resting ? 'cancel the resting L buy' : 'cancel the filled L buy (too late)', step4);
  const step7 = resting
    ? submit('sell far limit S3 (rests)', { symbol: s3, side: 'sell', type: 'limit', qty: q3, limit_price: '999' })
    : submit('sell marketable limit S3 (half)', { symbol: s3, side: 'sell', type: 'limit', qty: String(Math.ceil(q3n / 2)), limit_price: '1' });
  submit('sell marketable limit S2 (all)', { symbol: s2, side: 'sell', type: 'limit', qty: q2, limit_price: '1' });
  cancel(resting ? 'cancel the resting S3 sell' : 'cancel the filled S3 sell (too late)', step7);
  submit('sell market S3 (half)', { symbol: s3, side: 'sell', type: 'market', qty: String(Math.floor(q3n / 2)) });
  submit('buy market S1 again', { symbol: s1, side: 'buy', type: 'market', qty: qty(1, 30) });
  return out;
}

/** A fill as PostgreSQL stores it (text decimals), comparable with a re-derived one. */
export interface FillKey {
  id: string;
  order_id: string;
  qty: string;
  price: string;
  fee: string;
  quote_seq: number;
  rule: string;
}

/** The end state of a replay: cash, holds, and the positions with their quantities. */
export interface ReplayFinal {
  cash: string;
  reserved_cash: string;
  positions: Record<string, string>;
  open_orders: number;
}

const byId = (a: FillKey, b: FillKey) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Fills and final state from `npm run mbt:replay` output (compact JSON Lines). */
export function fillsOfReplayOutput(out: string): { fills: FillKey[]; final: ReplayFinal } {
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const fills = lines
    .filter((o) => o.out === 'trade_update' && (o.event === 'fill' || o.event === 'partial_fill'))
    .map((o) => ({
      id: fillId(String(o.execution_id)),
      order_id: String(o.order_id),
      qty: String(o.qty),
      price: String(o.price),
      fee: String(o.fee),
      quote_seq: Number(o.quote_seq),
      rule: String(o.rule),
    }));
  const last = lines.at(-1) as { out?: string; account: { cash: string; reserved_cash: string }; positions: Record<string, { qty: string }>; open_orders: unknown[] };
  if (last.out !== 'final') throw new Error('mbt:replay output has no final line');
  const positions = Object.fromEntries(Object.entries(last.positions).map(([s, p]) => [s, p.qty]));
  return { fills: fills.sort(byId), final: { cash: last.account.cash, reserved_cash: last.account.reserved_cash, positions, open_orders: last.open_orders.length } };
}

/** The same re-derivation in-process (the engine code `mbt:replay` runs), for every account of a run. */
export function fillsOfReplayLog(lines: readonly string[]): { fills: FillKey[]; final: ReplayFinal } {
  const log = mbt.parseReplayLog(lines.join('\n'));
  const r = mbt.run(
    log.state ?? mbt.initialState(log.account),
    log.inputs.map((i) => i.input),
    log.config,
    log.history,
  );
  const fills = r.outputs
    .filter((o): o is mbt.TradeUpdateOutput => o.type === 'trade_update' && (o.event === 'fill' || o.event === 'partial_fill'))
    .map((o) => ({ id: fillId(o.execution_id!), order_id: o.order.id, qty: o.qty!, price: o.price!, fee: o.fee ?? '0', quote_seq: o.quote_seq!, rule: o.rule! }));
  const v = mbt.accountValues(r.state, log.config);
  const open = Object.values(r.state.orders).filter((o) => mbt.OPEN_STATUSES.has(o.status)).length;
  const positions = Object.fromEntries(Object.entries(r.state.positions).map(([s, p]) => [s, p.qty]));
  return { fills: fills.sort(byId), final: { cash: r.state.account.cash, reserved_cash: v.reserved.toString(), positions, open_orders: open } };
}

/**
 * `npm run mbt:explain -- --export ACCOUNT_ID`, its output saved to a file in `dir`, then `npm run mbt:replay -- FILE`:
 * the export text and the replay's fills and final state, or what went wrong.
 */
export async function exportAndReplay(
  accountId: string,
  dir: string,
  env: Record<string, string>,
): Promise<{ exported: string; replay: ReturnType<typeof fillsOfReplayOutput> } | { error: string }> {
  const ex = await runCli('src/main/mbt-explain.ts', ['--export', accountId], env);
  if (ex.code !== 0) return { error: `mbt:explain --export exited ${ex.code}: ${ex.err}` };
  const file = join(dir, `${accountId}.jsonl`);
  writeFileSync(file, ex.out);
  const rp = await runCli('src/main/mbt-replay.ts', [file], {});
  if (rp.code !== 0) return { error: `mbt:replay exited ${rp.code}: ${rp.err}` };
  return { exported: ex.out, replay: fillsOfReplayOutput(rp.out) };
}

/** Maps `xs` with at most `n` calls of `fn` in flight; results in input order. */
export async function mapPool<T, R>(xs: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, xs.length) }, worker));
  return out;
}
