// Retention purge of paper history by tier, as batch SQL with the batch role: closed orders (and their fills) whose
// last change is older than the tier's horizon. Free 90 days, Pro 3 years (configurable), Pro+ unlimited.
//
// Kept on purpose: open orders (they can still fill), positions (current state, not history), settled_cycles (one
// small row per trading day; the paper gate and the P&L curve read them) and audit_log (append-only by design). The
// engine logs and the command bookkeeping have purges of their own (engine-logs.ts, commands.ts). Orders that replaced
// or were replaced by a purged order keep their own row; the link column is set to NULL by its foreign key.
import type postgres from 'postgres';
import { OPEN_ORDER_STATUSES, type Tier } from '../../infra/db/index.js';
import { forEachAccountPage, retentionHorizons, type TierRetentionOptions } from './tiers.js';

export interface PurgeOptions extends TierRetentionOptions {
  /** Called after every statement with what it deleted. */
  onDeleted?(tier: Tier, orders: number, fills: number): void;
}

export interface TierPurge {
  tier: Tier;
  cutoff: string;
  orders: number;
  fills: number;
  statements: number;
}

export async function purgeHistory(sql: postgres.Sql, opts: PurgeOptions): Promise<TierPurge[]> {
  const open = [...OPEN_ORDER_STATUSES];
  const page = opts.accountPage ?? 500;
  const results: TierPurge[] = [];
  for (const { tier, days } of retentionHorizons(opts)) {
    const cutoff = new Date(opts.now() - days * 86_400_000).toISOString();
    const result: TierPurge = { tier, cutoff, orders: 0, fills: 0, statements: 0 };
    await forEachAccountPage(sql, page, tier, async (ids) => {
      for (;;) {
        // One bounded statement: pick closed orders past the horizon (skipping rows an actor holds), delete their
        // fills and them. The tier is checked again here, so a user upgraded meanwhile loses nothing.
        const [row] = await sql<{ orders: number; fills: number }[]>`
          with doomed as (
            select o.id from orders o join users u on u.id = o.user_id
             where o.account_id = any(${ids}::uuid[]) and u.tier = ${tier}
               and o.created_at < ${cutoff} and o.updated_at < ${cutoff}
               and not (o.status = any(${open}::text[]))
             limit ${opts.batchSize}
             for update of o skip locked
          ), f as (
            delete from fills where order_id in (select id from doomed) returning 1
          ), o as (
            delete from orders where id in (select id from doomed) returning 1
          )
          select (select count(*) from o)::int as orders, (select count(*) from f)::int as fills`;
        const orders = row?.orders ?? 0;
        const fills = row?.fills ?? 0;
        result.statements += 1;
        result.orders += orders;
        result.fills += fills;
        if (orders > 0 || fills > 0) opts.onDeleted?.(tier, orders, fills);
        if (orders < opts.batchSize) break;
      }
    });
    opts.logger.info({ tier, cutoff, orders: result.orders, fills: result.fills, statements: result.statements }, 'retention purge: tier done');
    results.push(result);
  }
  return results;
}
