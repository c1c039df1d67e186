// Reading the recorded engine inputs back: which quote and rule made each fill of an order (`npm run mbt:explain`),
// an account's inputs as a replay file (`npm run mbt:replay`), and the open-order symbols of a set of partitions.
import { sql } from 'drizzle-orm';
import type { Executor } from '../../../infra/db/index.js';
import { OPEN_ORDER_STATUSES } from '../../../infra/db/schema/trading.js';
import { partitionOf } from '../../../runtime/index.js';

export interface ExplainedFill {
  id: string;
  qty: string;
  price: string;
  fee: string;
  rule: string;
  quote_seq: number;
  filled_at: string;
  /** The recorded quote input that caused the fill (its number in the account's log and the input itself). */
  quote: { n: number; input: Record<string, unknown> } | null;
}

export interface OrderExplanation {
  order: Record<string, unknown>;
  fills: ExplainedFill[];
}

/** The order, its fills and the recorded quote behind each; null when the order is unknown (or not visible). */
export async function explainOrder(db: Executor, orderId: string): Promise<OrderExplanation | null> {
  const orders = await db.execute<Record<string, unknown>>(sql`
    select id::text, client_order_id, user_id, account_id::text, symbol, side, type, time_in_force, qty::text, notional::text,
           filled_qty::text, filled_avg_price::text, limit_price::text, stop_price::text, status, replaces::text, replaced_by::text,
           command_id, reject_reason, to_json(submitted_at)#>>'{}' as submitted_at, to_json(updated_at)#>>'{}' as updated_at
      from orders where id = ${orderId}::uuid`);
  const order = orders[0];
  if (!order) return null;
  const fills = await db.execute<Omit<ExplainedFill, 'quote'> & Record<string, unknown>>(sql`
    select f.id::text, f.qty::text, f.price::text, f.fee::text, f.rule, f.quote_seq::int as quote_seq,
           to_json(f.filled_at)#>>'{}' as filled_at, q.n, q.input
      from fills f
      left join lateral (
        select i.n, i.input from mbt_inputs i
         where i.account_id = f.account_id and i.input->>'type' = 'quote' and i.input->>'S' = f.symbol
           and (i.input->>'seq')::bigint = f.quote_seq
         order by i.n limit 1) q on true
     where f.order_id = ${orderId}::uuid
     order by f.filled_at, f.quote_seq, f.id`);
  return {
    order,
    fills: fills.map((f) => ({
      id: f.id,
      qty: f.qty,
      price: f.price,
      fee: f.fee,
      rule: f.rule,
      quote_seq: Number(f.quote_seq),
      filled_at: f.filled_at,
      quote: f.n === null || f.n === undefined ? null : { n: Number(f.n), input: f.input as Record<string, unknown> },
    })),
  };
}

/** Why an account's log cannot be exported as it is stored. */
export class ReplayExportError extends Error {
  override readonly name = 'ReplayExportError';
  constructor(
    readonly code: 'mbt_export_no_checkpoint' | 'mbt_export_changed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * An account's recorded inputs as a replay file (docs/mbt-replay.md), one input per line in order. The header is the
 * state's `init` (the account as it opened) while the log is whole; once retention removed its first inputs, it is
 * the checkpoint the actor wrote right after the last removed one (`state`, `after_input`, `client_ids`). Null when the
 * account has no engine state. Throws ReplayExportError when no checkpoint matches the first input kept, or the log
 * changed under the export (retention ran meanwhile: export again).
 */
export async function exportReplayLog(db: Executor, accountId: string): Promise<string[] | null> {
  const states = await db.execute<{ init: { id: string; type: string; cash: string }; input_count: string | number; first: string | number | null }>(sql`
    select s.init, s.input_count, (select min(i.n) from mbt_inputs i where i.account_id = s.account_id) as first
      from mbt_states s where s.account_id = ${accountId}::uuid`);
  const row = states[0];
  if (!row) return null;
  const { init } = row;
  // The inputs before `start` are gone (none at all: every input up to the count).
  const start = row.first === null ? Number(row.input_count) : Number(row.first) - 1;
  let header: Record<string, unknown> = { type: 'account', id: init.id, account_type: init.type, cash: init.cash };
  if (start > 0) {
    const checkpoints = await db.execute<{ state: unknown; client_ids: unknown }>(
      sql`select state, client_ids from mbt_checkpoints where account_id = ${accountId}::uuid and n = ${start}`,
    );
    const cp = checkpoints[0];
    if (!cp) throw new ReplayExportError('mbt_export_no_checkpoint', `account ${accountId}: inputs 1..${start} were removed and no checkpoint after input ${start} exists`);
    header = { type: 'account', id: init.id, state: cp.state, after_input: start, client_ids: cp.client_ids };
  }
  const lines = [JSON.stringify(header)];
  // Keyset pages, so an account with a long history never sits in memory as one result; contiguous from the header on.
  let after = start;
  for (;;) {
    const rows = await db.execute<{ n: string | number; input: unknown }>(
      sql`select n, input from mbt_inputs where account_id = ${accountId}::uuid and n > ${after} order by n limit 5000`,
    );
    for (const r of rows) {
      if (Number(r.n) !== after + 1) throw new ReplayExportError('mbt_export_changed', `account ${accountId}: input ${after + 1} is missing (retention ran during the export): export again`);
      after += 1;
      lines.push(JSON.stringify(r.input));
    }
    if (rows.length < 5000) return lines;
  }
}

/**
 * Users and the symbols of their open orders, for the users of `partitions` (of `partitionCount`). Runs on a
 * connection that sees those users' rows (the batch role, or a transaction scoped to them): RLS hides the rest.
 */
export async function openOrderSymbolsByUser(db: Executor, partitions: readonly number[], partitionCount: number): Promise<Map<string, string[]>> {
  const wanted = new Set(partitions);
  // Repeats OPEN_ORDER_STATUSES literally so the partial index orders_open_by_symbol_idx applies.
  const rows = await db.execute<{ user_id: string; symbol: string }>(sql`
    select distinct user_id, symbol from orders
     where status in (${sql.raw(OPEN_ORDER_STATUSES.map((s) => `'${s}'`).join(', '))})
     order by user_id, symbol`);
  const out = new Map<string, string[]>();
  for (const r of rows) {
    if (!wanted.has(partitionOf(r.user_id, partitionCount))) continue;
    out.set(r.user_id, [...(out.get(r.user_id) ?? []), r.symbol]);
  }
  return out;
}
