// Migration 0007 shrinks the saved engine state: each order's request fingerprint goes onto its row, and the client
// order id index and the closed orders leave mbt_states. Proven on a database migrated to 0006 with data in the old shape.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { bootstrapDatabase, dropDatabase, runMigrations, DB_ROLES, type DatabaseUrls } from '../../../src/infra/db/index.js';
import { testAdminUrl } from '../../support/database.js';

interface Journal {
  entries: Array<{ idx: number; tag: string }>;
}

/** A copy of the migrations folder that stops before `tag`. */
function migrationsBefore(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'raxx-mig-'));
  cpSync(fileURLToPath(new URL('../../../drizzle', import.meta.url)), dir, { recursive: true });
  const path = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(path, 'utf8')) as Journal;
  const stop = journal.entries.findIndex((e) => e.tag === tag);
  expect(stop).toBeGreaterThan(0);
  writeFileSync(path, JSON.stringify({ ...journal, entries: journal.entries.slice(0, stop) }));
  return dir;
}

describe('migration 0007_order_request_fp', () => {
  const name = `raxx_mig7_${process.pid}_${randomBytes(4).toString('hex')}`;
  let urls: DatabaseUrls;
  let su: postgres.Sql;
  let oldFolder: string;

  beforeAll(async () => {
    urls = await bootstrapDatabase({ adminUrl: testAdminUrl(), database: name });
    oldFolder = migrationsBefore('0007_order_request_fp');
    await runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner, migrationsFolder: oldFolder });
    su = postgres(urls.ownerUrl, { max: 1, onnotice: () => {} }); // superuser without a role: sees every row
  });
  afterAll(async () => {
    await su?.end();
    if (oldFolder) rmSync(oldFolder, { recursive: true, force: true });
    await dropDatabase({ adminUrl: testAdminUrl(), database: name });
  });

  it('puts each order\'s fingerprint on its row and leaves only open orders, without the index, in the saved engine states', async () => {
    const user = `u-${randomUUID()}`;
    const account = randomUUID();
    const [kept, other, legacy] = [randomUUID(), randomUUID(), randomUUID()];
    await su`insert into users (id) values (${user})`;
    await su`insert into paper_accounts (id, user_id, account_type, starting_cash, cash) values (${account}, ${user}, 'cash', 100000, 100000)`;
    for (const [id, cid] of [
      [kept, 'k1'],
      [other, 'k2'],
      [legacy, 'k3'],
    ] as const) {
      await su`insert into orders (id, client_order_id, user_id, account_id, symbol, side, type, time_in_force, qty, status)
               values (${id}, ${cid}, ${user}, ${account}, 'AAPL', 'buy', 'limit', 'day', 1, 'canceled')`;
    }
    // k2's entry names another order id (never the case in practice): the move must not attach it to the wrong row.
    const open = { id: legacy, status: 'partially_filled', qty: '1' };
    const state = {
      v: 1,
      orders: { [kept]: { id: kept, status: 'filled', qty: '1' }, [legacy]: open, [other]: { id: other, status: 'canceled', qty: '1' } },
      clientIds: { k1: [kept, 'fp-1'], k2: [randomUUID(), 'fp-2'] },
      nextPriority: 4,
    };
    await su`insert into mbt_states (account_id, user_id, init, state, input_count)
             values (${account}, ${user}, ${su.json({ id: account, type: 'cash', cash: '100000' })}, ${su.json(state)}, 3)`;

    await runMigrations({ url: urls.ownerUrl, role: DB_ROLES.owner });

    const rows = await su<{ client_order_id: string; request_fp: string | null }[]>`
      select client_order_id, request_fp from orders where account_id = ${account} order by client_order_id`;
    expect(rows).toEqual([
      { client_order_id: 'k1', request_fp: 'fp-1' },
      { client_order_id: 'k2', request_fp: null },
      { client_order_id: 'k3', request_fp: null },
    ]);
    const [saved] = await su<{ state: Record<string, unknown> }[]>`select state from mbt_states where account_id = ${account}`;
    expect(saved?.state).toEqual({ v: 1, orders: { [legacy]: open }, nextPriority: 4 });
    const forced = await su<{ relname: string; relforcerowsecurity: boolean }[]>`
      select relname, relforcerowsecurity from pg_class where relname in ('orders', 'mbt_states') order by relname`;
    expect(forced).toEqual([
      { relname: 'mbt_states', relforcerowsecurity: true },
      { relname: 'orders', relforcerowsecurity: true },
    ]);
  });
});
