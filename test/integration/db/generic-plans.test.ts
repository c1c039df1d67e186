// createDb({ genericPlans: true }): the pool's prepared statements are planned once per connection, not on every
// execution (the account actors' fence `partition = any($1)` was re-planned each time with custom plans).
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { testAdminUrl } from '../../support/database.js';

describe('createDb genericPlans', () => {
  const handles: DbHandle[] = [];
  afterAll(() => Promise.all(handles.map((h) => h.close())));

  it('sets plan_cache_mode on every connection of that pool only', async () => {
    const generic = createDb(testAdminUrl(), { max: 2, genericPlans: true });
    const plain = createDb(testAdminUrl(), { max: 2 });
    handles.push(generic, plain);
    const mode = async (h: DbHandle) => (await h.db.execute<{ m: string }>(sql`select current_setting('plan_cache_mode') as m`))[0]!.m;
    expect(await Promise.all([mode(generic), mode(generic), mode(generic)])).toEqual(['force_generic_plan', 'force_generic_plan', 'force_generic_plan']);
    expect(await mode(plain)).toBe('auto');
  });

  it('a prepared statement with an array parameter runs on its generic plan from the first execution', async () => {
    const plans = async (h: DbHandle) => {
      const c = await h.sql.reserve();
      try {
        await c.unsafe('prepare gp_probe(oid[]) as select relname from pg_class where oid = any($1)');
        return String((await c.unsafe(`explain execute gp_probe('{1259,1247}')`)).map((r) => r['QUERY PLAN']).join('\n'));
      } finally {
        await c.unsafe('deallocate gp_probe').catch(() => {});
        c.release();
      }
    };
    const generic = createDb(testAdminUrl(), { max: 1, genericPlans: true });
    const plain = createDb(testAdminUrl(), { max: 1 });
    handles.push(generic, plain);
    // A generic plan keeps the parameter; a custom plan has the value folded in.
    expect(await plans(generic)).toContain('$1');
    expect(await plans(plain)).not.toContain('$1');
  });
});
