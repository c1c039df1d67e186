// The storage a whole-path benchmark runs on: its own throw-away Redis (no persistence) and a durable PostgreSQL 15
// (fsync and synchronous_commit on, as in production) in one temp dir, migrated, with seeded pro_plus users and their
// paper accounts; optionally pg_stat_statements, printed after the scenarios. Everything is registered in `started`.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { freePort, startPostgres, startRedis, type LocalPostgres, type LocalRedis } from '../../src/devstack/index.js';
import { bootstrapDatabase, DB_ROLES, runMigrations } from '../../src/infra/db/index.js';
import type { Started } from './children.js';
import { startDiskProbe, type DiskProbe } from './disk-probe.js';
import { fmt } from './util.js';

export interface BenchStack {
  /** Temp dir (removed at cleanup): Redis, PostgreSQL, anything else the bench writes there. */
  dir: string;
  redis: LocalRedis;
  pg: LocalPostgres;
  urls: { appUrl: string; batchUrl: string; ownerUrl: string };
  /** raxx_batch (sees every tenant): seeding and counting rows. */
  batchSql: postgres.Sql;
  /** raxx_owner: cumulative table statistics. */
  ownerSql: postgres.Sql;
  /** The independent disk gauge, on PostgreSQL's filesystem (disk-probe.ts). */
  disk: DiskProbe;
  /** A plain Redis connection for the harness (stream backlog…). */
  admin: Redis;
  /** Superuser pool in the bench database with pg_stat_statements reset; undefined without `pgStats`. */
  enableStatementStats(): Promise<postgres.Sql | undefined>;
  /** Runs a CHECKPOINT (as the superuser; a soak step crosses one, as production does each checkpoint_timeout); its ms. */
  checkpoint(): Promise<number>;
}

export async function startBenchStack(started: Started, opts: { name: string; database: string; pgStats: boolean }): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), `raxx-${opts.name}-`));
  chmodSync(dir, 0o755); // PostgreSQL runs as `postgres` when we are root
  started.add('temp dir', async () => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis({ port: await freePort(), dir: join(dir, 'redis'), persistent: false });
  started.add('redis', () => redis.stop());
  // --pg-stats: pg_stat_statements (nested statements too: the audit trigger's), planning time included.
  const settings = opts.pgStats ? ['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all', 'pg_stat_statements.track_planning=on'] : [];
  // BENCH_PG_SETTINGS="name=value name=value": PostgreSQL settings to try; printed, so a report says it ran with them.
  const tried = (process.env.BENCH_PG_SETTINGS ?? '').split(/\s+/).filter(Boolean);
  if (tried.length > 0) console.log(`  PostgreSQL settings from BENCH_PG_SETTINGS: ${tried.join(' ')}`);
  settings.push(...tried);
  const pg = await startPostgres({ port: await freePort(), dir: join(dir, 'pg'), durable: true, settings });
  started.add('postgres', () => pg.stop());
  const disk = startDiskProbe(dir);
  started.add('disk probe', () => disk.stop());
  const urls = await bootstrapDatabase({ adminUrl: pg.adminUrl, database: opts.database });
  await runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner });
  const batchSql = postgres(urls.batchUrl, { max: 2, onnotice: () => {} });
  started.add('batch pool', () => batchSql.end({ timeout: 2 }));
  const ownerSql = postgres(urls.ownerUrl, { max: 1, onnotice: () => {} });
  started.add('owner pool', () => ownerSql.end({ timeout: 2 }));
  const admin = new Redis(redis.url);
  admin.on('error', () => {});
  started.add('redis admin', async () => admin.disconnect());
  let checkpointSql: postgres.Sql | undefined;
  started.add('checkpoint pool', async () => checkpointSql?.end({ timeout: 2 }));
  return {
    dir,
    redis,
    pg,
    disk,
    urls,
    batchSql,
    ownerSql,
    admin,
    async checkpoint() {
      checkpointSql ??= postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
      const t0 = performance.now();
      await checkpointSql`checkpoint`;
      return performance.now() - t0;
    },
    async enableStatementStats() {
      if (!opts.pgStats) return undefined;
      // As the superuser, in the bench database: the extension and every role's statements.
      const sql = postgres(pg.adminUrl.replace(/\/postgres$/, `/${opts.database}`), { max: 1, onnotice: () => {} });
      started.add('stats pool', () => sql.end({ timeout: 2 }));
      await sql`create extension if not exists pg_stat_statements`;
      await sql`select pg_stat_statements_reset()`;
      return sql;
    },
  };
}

/** `bench-000000…` ids: the users a benchmark seeds. */
export const benchUserIds = (n: number, prefix = 'bench') => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(6, '0')}`);

/** Users of one tier (role user), straight into PostgreSQL as raxx_batch, in statements of 5,000 rows. */
export async function seedUsers(batchSql: postgres.Sql, ids: readonly string[], tier: 'free' | 'pro' | 'pro_plus'): Promise<void> {
  for (let i = 0; i < ids.length; i += 5_000) {
    const chunk = ids.slice(i, i + 5_000);
    await batchSql`insert into users ${batchSql(chunk.map((id) => ({ id, email: `${id}@bench.invalid`, tier, role: 'user' })))}`;
  }
}

/**
 * Users (tier pro_plus) and one active cash paper account each, straight into PostgreSQL as raxx_batch (the workers'
 * role; RLS lets it see every tenant). The engine state is derived from the account row on first use.
 */
export async function seedProPlusUsers(batchSql: postgres.Sql, ids: readonly string[], cash: string): Promise<number> {
  await seedUsers(batchSql, ids, 'pro_plus');
  for (let i = 0; i < ids.length; i += 5_000) {
    const chunk = ids.slice(i, i + 5_000);
    await batchSql`insert into paper_accounts ${batchSql(chunk.map((id) => ({ user_id: id, starting_cash: cash, cash })))}`;
  }
  const [seeded] = await batchSql<{ n: string }[]>`select count(*)::text as n from paper_accounts a join users u on u.id = a.user_id where u.tier = 'pro_plus' and a.status = 'active'`;
  return Number(seeded!.n);
}

/** The statements that took most of PostgreSQL's time since the reset (pg_stat_statements). */
export async function printStatementStats(statsSql: postgres.Sql): Promise<void> {
  const rows = await statsSql<{ calls: string; total_ms: number; plan_ms: number; mean_ms: number; blks: string; query: string }[]>`
    select calls::text, total_exec_time as total_ms, total_plan_time as plan_ms, mean_exec_time as mean_ms, (shared_blks_hit + shared_blks_read)::text as blks,
           regexp_replace(query, '[[:space:]]+', ' ', 'g') as query
      from pg_stat_statements order by total_exec_time desc limit 25`;
  const [{ total } = { total: 0 }] = await statsSql<{ total: number }[]>`select coalesce(sum(total_exec_time), 0)::float8 as total from pg_stat_statements where toplevel`;
  const [{ plan } = { plan: 0 }] = await statsSql<{ plan: number }[]>`select coalesce(sum(total_plan_time), 0)::float8 as plan from pg_stat_statements where toplevel`;
  console.log(`\n■ PostgreSQL statements by execution time (pg_stat_statements, top-level: executing ${fmt(total, 0)} ms, planning ${fmt(plan, 0)} ms)`);
  console.log('      exec       plan       calls   µs/call  blocks/call  statement');
  for (const r of rows) {
    console.log(`  ${fmt(r.total_ms, 0).padStart(8)} ms ${fmt(r.plan_ms, 0).padStart(6)} ms ${fmt(Number(r.calls)).padStart(9)} calls  ${fmt(r.mean_ms * 1000, 0).padStart(6)} µs  ${fmt(Number(r.blks) / Math.max(1, Number(r.calls)), 1).padStart(6)} blk  ${r.query.slice(0, 200)}`);
  }
}
