// Retention of the paper engine's recorded inputs (`mbt_inputs`), as batch SQL with the batch role. The log holds every
// command (orders with their symbols, sizes and prices) and quote an account's engine was stepped with, so it is paper
// history too: Free 90 days, Pro 3 years, Pro+ unlimited, like the orders.
//
// The log cannot just lose its head: an export replays it from a known engine state (docs/mbt-explain.md). The account
// actor writes a checkpoint at every settle (`mbt_checkpoints`: the state after input n, with its open orders' client
// order ids), so an account's inputs go up to the newest checkpoint older than the horizon, and that checkpoint becomes
// where its export starts; older checkpoints go with them. An account without such a checkpoint keeps its inputs.
//
// Checkpoints themselves are thinned: older than the Free horizon, one per account and calendar month stays, plus the
// newest one — so Pro's log is cut at monthly steps (up to a month past 3 years) and a Pro+ account keeps ~12 a year
// instead of one per trading day.
import type postgres from 'postgres';
import type { Tier } from '../../infra/db/index.js';
import { forEachAccountPage, retentionHorizons, type TierRetentionOptions } from './tiers.js';

export interface EngineLogPurgeOptions extends TierRetentionOptions {
  onDeleted?(table: EngineLogTable, tier: Tier | 'any', rows: number): void;
}

export type EngineLogTable = 'mbt_inputs' | 'mbt_checkpoints';

export interface EngineLogPurge {
  tier: Tier;
  cutoff: string;
  inputs: number;
  checkpoints: number;
  statements: number;
}

export interface EngineLogRetention {
  tiers: EngineLogPurge[];
  /** Checkpoints removed by thinning (every tier). */
  thinned: number;
}

export async function purgeEngineLogs(sql: postgres.Sql, opts: EngineLogPurgeOptions): Promise<EngineLogRetention> {
  const page = opts.accountPage ?? 500;
  const tiers: EngineLogPurge[] = [];
  for (const { tier, days } of retentionHorizons(opts)) {
    const cutoff = new Date(opts.now() - days * 86_400_000).toISOString();
    const result: EngineLogPurge = { tier, cutoff, inputs: 0, checkpoints: 0, statements: 0 };
    await forEachAccountPage(sql, page, tier, async (ids) => {
      // The boundary per account: its newest checkpoint older than the cutoff, for a user still of this tier (checked
      // in the statement, so a user upgraded meanwhile loses nothing).
      const boundary = () => sql`
        select distinct on (c.account_id) c.account_id, c.n
          from mbt_checkpoints c join users u on u.id = c.user_id
         where c.account_id = any(${ids}::uuid[]) and u.tier = ${tier} and c.at < ${cutoff}
         order by c.account_id, c.n desc`;
      for (;;) {
        const [row] = await sql<{ rows: number }[]>`
          with b as (${boundary()}),
          doomed as (
            select i.account_id, i.n from mbt_inputs i join b on b.account_id = i.account_id and i.n <= b.n
             limit ${opts.batchSize}
          ), d as (
            delete from mbt_inputs m using doomed where m.account_id = doomed.account_id and m.n = doomed.n returning 1
          )
          select count(*)::int as rows from d`;
        const rows = row?.rows ?? 0;
        result.statements += 1;
        result.inputs += rows;
        if (rows > 0) opts.onDeleted?.('mbt_inputs', tier, rows);
        if (rows < opts.batchSize) break;
      }
      // The checkpoints before the boundary describe inputs that are gone; the boundary is where an export starts.
      const [row] = await sql<{ rows: number }[]>`
        with b as (${boundary()}),
        d as (delete from mbt_checkpoints c using b where c.account_id = b.account_id and c.n < b.n returning 1)
        select count(*)::int as rows from d`;
      const rows = row?.rows ?? 0;
      result.statements += 1;
      result.checkpoints += rows;
      if (rows > 0) opts.onDeleted?.('mbt_checkpoints', tier, rows);
    });
    opts.logger.info({ tier, cutoff, inputs: result.inputs, checkpoints: result.checkpoints, statements: result.statements }, 'retention purge: engine logs done');
    tiers.push(result);
  }

  // Thinning, every tier: older than the Free horizon, keep the first checkpoint of each account and month, and each
  // account's newest (the boundary a Free cut just used, or will use next). The one an export starts from is never
  // thinned: a cut deletes every checkpoint before it, so it is the account's oldest, the first of its month.
  const thinCutoff = new Date(opts.now() - opts.freeDays * 86_400_000).toISOString();
  let thinned = 0;
  await forEachAccountPage(sql, page, null, async (ids) => {
    const [row] = await sql<{ rows: number }[]>`
      with ranked as (
        select c.account_id, c.n,
               row_number() over (partition by c.account_id, date_trunc('month', c.trading_day) order by c.n) as in_month,
               row_number() over (partition by c.account_id order by c.n desc) as newest
          from mbt_checkpoints c
         where c.account_id = any(${ids}::uuid[]) and c.at < ${thinCutoff}
      ), d as (
        delete from mbt_checkpoints c using ranked r
         where c.account_id = r.account_id and c.n = r.n and r.in_month > 1 and r.newest > 1 returning 1
      )
      select count(*)::int as rows from d`;
    const rows = row?.rows ?? 0;
    thinned += rows;
    if (rows > 0) opts.onDeleted?.('mbt_checkpoints', 'any', rows);
  });
  opts.logger.info({ cutoff: thinCutoff, thinned }, 'retention purge: checkpoints thinned');
  return { tiers, thinned };
}
