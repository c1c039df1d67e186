// Walks every audit chain in seq order and reports, per chain, the first row that breaks it.
import type postgres from 'postgres';
import { toDbError } from '../db/errors.js';
import { genesisHash, rowHash, type AuditRowText } from './canonical.js';

export type BreakReason = 'seq gap' | 'prev_hash link broken' | 'hash mismatch';

export interface BrokenRow {
  chain: string;
  seq: number;
  id: number;
  reason: BreakReason;
}

export interface ChainReport {
  chain: string;
  rows: number;
  /** First broken row of this chain (later rows are counted, not checked). */
  broken: BrokenRow | null;
}

export interface VerifyReport {
  ok: boolean;
  rows: number;
  chains: ChainReport[];
  /** The first broken row met in the walk (chains in `chain` order). */
  firstBroken: BrokenRow | null;
}

interface RawRow {
  id: string;
  chain: string;
  seq: string;
  at_us: string;
  actor: string;
  subject: string | null;
  action: string;
  outcome: string;
  correlation_id: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

/** Checks one row against its predecessor in the chain (undefined for the first). */
function checkRow(row: RawRow, prev: RawRow | undefined): BreakReason | null {
  const expectedSeq = prev ? BigInt(prev.seq) + 1n : 1n;
  if (BigInt(row.seq) !== expectedSeq) return 'seq gap';
  if (row.prev_hash !== (prev ? prev.hash : genesisHash(row.chain))) return 'prev_hash link broken';
  const text: AuditRowText = {
    id: row.id,
    chain: row.chain,
    seq: row.seq,
    atMicros: row.at_us,
    actor: row.actor,
    subject: row.subject,
    action: row.action,
    outcome: row.outcome,
    correlationId: row.correlation_id,
    detailsJson: row.details,
  };
  return rowHash(row.prev_hash, text) === row.hash ? null : 'hash mismatch';
}

/**
 * Reads the whole log with a cursor (constant memory) as a role that can see every chain (the owner, or
 * raxx_batch) and recomputes every hash in Node. Values are fetched as text so nothing is lost to JS
 * numbers or Dates: ids and seqs as decimals, `at` as exact epoch microseconds (EXTRACT returns numeric).
 */
export async function verifyAuditLog(sql: postgres.Sql, opts: { batchSize?: number } = {}): Promise<VerifyReport> {
  const chains: ChainReport[] = [];
  let current: ChainReport | undefined;
  let prev: RawRow | undefined;
  let rows = 0;
  try {
    const cursor = sql<RawRow[]>`
      select a.id::text as id, a.chain, a.seq::text as seq,
             (extract(epoch from a.at) * 1000000)::bigint::text as at_us,
             a.actor, a.subject, a.action, a.outcome, a.correlation_id, a.details::text as details, a.prev_hash, a.hash
        from audit_log a
       -- Qualified: a bare "seq" here would sort by the text output column (1, 10, 100, 11, …).
       order by a.chain, a.seq`.cursor(opts.batchSize ?? 1000);
    for await (const batch of cursor) {
      for (const row of batch) {
        rows++;
        if (!current || current.chain !== row.chain) {
          current = { chain: row.chain, rows: 0, broken: null };
          chains.push(current);
          prev = undefined;
        }
        current.rows++;
        if (!current.broken) {
          const reason = checkRow(row, prev);
          if (reason) current.broken = { chain: row.chain, seq: Number(row.seq), id: Number(row.id), reason };
        }
        prev = row;
      }
    }
  } catch (err) {
    throw toDbError(err);
  }
  const firstBroken = chains.find((c) => c.broken)?.broken ?? null;
  return { ok: firstBroken === null, rows, chains, firstBroken };
}

/** Human-readable lines for the CLI: one per chain, then the verdict. */
export function formatVerifyReport(report: VerifyReport): string[] {
  const lines = report.chains.map(
    (c) => `chain ${c.chain}: ${c.rows} rows${c.broken ? ` BROKEN at seq ${c.broken.seq} (id ${c.broken.id}): ${c.broken.reason}` : ''}`,
  );
  if (report.firstBroken) {
    const b = report.firstBroken;
    lines.push(`audit log BROKEN: chain ${b.chain}, seq ${b.seq}, id ${b.id}: ${b.reason}`);
  } else {
    lines.push(`audit log OK: ${report.chains.length} chains, ${report.rows} rows`);
  }
  return lines;
}
