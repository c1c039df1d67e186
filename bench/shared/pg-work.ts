// What PostgreSQL did per unit of work during a step: rows inserted/updated/deleted and scans per table, commits, and
// WAL bytes, from the cumulative statistics (pg_stat_user_tables, pg_stat_database) and the WAL position read before
// and after.
import type postgres from 'postgres';
import { fmt } from './util.js';

type TableCounts = { ins: number; upd: number; hot: number; del: number; seq: number; idx: number };
export interface TableStats {
  tables: Map<string, TableCounts>;
  commits: number;
  /** The WAL insert position (pg_current_wal_lsn), as text. */
  lsn: string;
}

/** A reading of the cumulative statistics (they are flushed about once a second: wait ~1.1 s after the work). */
export async function tableStats(ownerSql: postgres.Sql): Promise<TableStats> {
  const rows = await ownerSql<{ relname: string; ins: string; upd: string; hot: string; del: string; seq: string; idx: string }[]>`
    select relname, n_tup_ins::text as ins, n_tup_upd::text as upd, n_tup_hot_upd::text as hot, n_tup_del::text as del,
           coalesce(seq_scan, 0)::text as seq, coalesce(idx_scan, 0)::text as idx
    from pg_stat_user_tables`;
  const [db] = await ownerSql<{ c: string; lsn: string }[]>`
    select xact_commit::text as c, pg_current_wal_lsn()::text as lsn from pg_stat_database where datname = current_database()`;
  return {
    tables: new Map(rows.map((r) => [r.relname, { ins: Number(r.ins), upd: Number(r.upd), hot: Number(r.hot), del: Number(r.del), seq: Number(r.seq), idx: Number(r.idx) }])),
    commits: Number(db!.c),
    lsn: db!.lsn,
  };
}

/** `X/Y` LSN text as a byte position. */
const lsnBytes = (lsn: string) => {
  const [hi, lo] = lsn.split('/');
  return Number.parseInt(hi!, 16) * 2 ** 32 + Number.parseInt(lo!, 16);
};

/**
 * `table +ins ~upd -del N scans · …` per unit (e.g. per command) between two readings; commits and WAL bytes per unit
 * (the WAL is the whole cluster's, background work included).
 */
export function pgWorkPer(a: TableStats, b: TableStats, units: number): { line: string; commits: number; walBytes: number } {
  const per = (n: number) => (units > 0 ? n / units : Number.NaN);
  const zero: TableCounts = { ins: 0, upd: 0, hot: 0, del: 0, seq: 0, idx: 0 };
  const line = [...b.tables]
    .map(([t, v]) => {
      const o = a.tables.get(t) ?? zero;
      return { t, ins: per(v.ins - o.ins), upd: per(v.upd - o.upd), hot: v.upd > o.upd ? (v.hot - o.hot) / (v.upd - o.upd) : 0, del: per(v.del - o.del), scans: per(v.seq - o.seq + v.idx - o.idx) };
    })
    .filter((x) => x.ins + x.upd + x.del + x.scans > 0.01)
    .map((x) => `${x.t} ${[x.ins > 0.01 && `+${fmt(x.ins, 2)}`, x.upd > 0.01 && `~${fmt(x.upd, 2)} (${fmt(x.hot * 100)} % HOT)`, x.del > 0.01 && `-${fmt(x.del, 2)}`, x.scans > 0.01 && `${fmt(x.scans, 2)} scans`].filter(Boolean).join(' ')}`)
    .join(' · ');
  return { line, commits: per(b.commits - a.commits), walBytes: per(lsnBytes(b.lsn) - lsnBytes(a.lsn)) };
}
