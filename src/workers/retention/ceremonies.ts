// Purge of spent sign-in ceremonies, as batch SQL with the batch role: OAuth states and WebAuthn challenges are
// single-use and short-lived (minutes), but rows stay after they expire or are consumed. They are worthless then
// (only hashes and random challenges) and would otherwise grow without bound, one row per connect or step-up.
import type postgres from 'postgres';
import type { RetentionRunOptions } from './tiers.js';

export interface CeremonyPurgeOptions extends RetentionRunOptions {
  /** Rows stay this long after they expired, for support questions about a failed sign-in. Default 1 day. */
  graceMs?: number;
  /** Called after every statement that deleted something. */
  onDeleted?(table: CeremonyTable, rows: number): void;
}

export type CeremonyTable = 'oauth_states' | 'webauthn_challenges';

export interface CeremonyPurge {
  table: CeremonyTable;
  cutoff: string;
  rows: number;
  statements: number;
}

export async function purgeCeremonies(sql: postgres.Sql, opts: CeremonyPurgeOptions): Promise<CeremonyPurge[]> {
  const cutoff = new Date(opts.now() - (opts.graceMs ?? 86_400_000)).toISOString();
  const results: CeremonyPurge[] = [];
  for (const table of ['oauth_states', 'webauthn_challenges'] as const) {
    const key = table === 'oauth_states' ? 'state_hash' : 'id';
    const result: CeremonyPurge = { table, cutoff, rows: 0, statements: 0 };
    for (;;) {
      // Bounded and skip-locked: a ceremony being consumed right now is left for the next run.
      const [row] = await sql<{ rows: number }[]>`
        with doomed as (
          select ${sql(key)} as k from ${sql(table)} where expires_at < ${cutoff}
           limit ${opts.batchSize} for update skip locked
        ), d as (
          delete from ${sql(table)} where ${sql(key)} in (select k from doomed) returning 1
        )
        select count(*)::int as rows from d`;
      const rows = row?.rows ?? 0;
      result.statements += 1;
      result.rows += rows;
      if (rows > 0) opts.onDeleted?.(table, rows);
      if (rows < opts.batchSize) break;
    }
    opts.logger.info({ table, cutoff, rows: result.rows, statements: result.statements }, 'retention purge: ceremonies done');
    results.push(result);
  }
  return results;
}
