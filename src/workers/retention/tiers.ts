// What the retention jobs share: their common options, the horizons per tier and the keyset walk over paper accounts.
import type postgres from 'postgres';
import type { Tier } from '../../infra/db/index.js';

/** Options every retention purge takes. */
export interface RetentionRunOptions {
  /** Rows per DELETE statement. */
  batchSize: number;
  now(): number;
  logger: { info(obj: object, msg: string): void };
}

/** Options of a purge by tier horizon (paper history, engine logs). */
export interface TierRetentionOptions extends RetentionRunOptions {
  /** Accounts per keyset page (each statement names one page of accounts). */
  accountPage?: number;
  freeDays: number;
  proDays: number;
}

/** Tiers whose history expires, with their horizon in days; Pro+ keeps everything. */
export function retentionHorizons(opts: Pick<TierRetentionOptions, 'freeDays' | 'proDays'>): Array<{ tier: Tier; days: number }> {
  return [
    { tier: 'free', days: opts.freeDays },
    { tier: 'pro', days: opts.proDays },
  ];
}

/** Paper accounts in keyset pages of `page` (of one tier, or all), so every statement names a bounded set of accounts. */
export async function forEachAccountPage(sql: postgres.Sql, page: number, tier: Tier | null, each: (ids: string[]) => Promise<void>): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const accounts: Array<{ id: string }> = await sql`
      select a.id from paper_accounts a join users u on u.id = a.user_id
       where true ${tier === null ? sql`` : sql`and u.tier = ${tier}`} ${after === null ? sql`` : sql`and a.id > ${after}`}
       order by a.id limit ${page}`;
    if (accounts.length === 0) return;
    const ids = accounts.map((a) => a.id);
    after = ids[ids.length - 1]!;
    await each(ids);
  }
}
