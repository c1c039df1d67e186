// The gateway's tier directory against a real PostgreSQL: concurrent reads share one query, a read never gets a row
// read before it was asked for (a tier change's refresh), unknown users are null, and a failed query fails its readers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { TierDirectory } from '../../../src/gateway/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

let t: TestDatabase;
let app: DbHandle;
let batch: postgres.Sql;
const statements: string[] = [];
const ids = Array.from({ length: 1200 }, (_, i) => `tierdir-${String(i).padStart(4, '0')}`);

beforeAll(async () => {
  t = await createTestDatabase('raxx_tierdir');
  app = createDb(t.appUrl, { max: 2, onStatement: (text) => statements.push(text) });
  batch = postgres(t.batchUrl, { max: 1, onnotice: () => {} });
  await batch`insert into users ${batch(ids.map((id, i) => ({ id, email: `${id}@test.invalid`, tier: i % 2 ? 'pro' : 'free', role: 'user' })))}`;
});

afterAll(async () => {
  await app?.close();
  await batch?.end();
  await t?.drop();
});

const selects = () => statements.filter((s) => /from "users"/i.test(s)).length;

describe('TierDirectory', () => {
  it('answers 1,200 concurrent lookups of distinct users with a few queries, each with its own user', async () => {
    const dir = new TierDirectory(app.db, { cacheMs: 60_000 });
    const before = selects();
    const records = await Promise.all([...ids, 'tierdir-nobody'].map((id) => dir.lookup(id)));
    expect(records.slice(0, -1)).toEqual(ids.map((id, i) => ({ id, tier: i % 2 ? 'pro' : 'free', role: 'user' })));
    expect(records.at(-1)).toBeNull();
    expect(selects() - before).toBe(3); // 500 users per query
    await dir.lookup(ids[7]!); // cached
    expect(selects() - before).toBe(3);
  });

  it('queries of every batch size share one statement text (prepared once per connection, not once per size)', async () => {
    const dir = new TierDirectory(app.db, { cacheMs: 60_000 });
    const before = statements.length;
    for (const size of [1, 2, 3, 7]) await Promise.all(ids.slice(100, 100 + size).map((id) => dir.refresh(id)));
    const texts = new Set(statements.slice(before).filter((s) => /from "users"/i.test(s)));
    expect(statements.slice(before).filter((s) => /from "users"/i.test(s))).toHaveLength(4);
    expect(texts.size).toBe(1);
  });

  it('a refresh asked for while a query is in flight waits for the next query: it sees a change made before it asked', async () => {
    const dir = new TierDirectory(app.db, { cacheMs: 60_000 });
    const id = ids[0]!;
    const first = dir.refresh(id); // sent at the next turn of the event loop
    await new Promise((r) => setImmediate(r));
    await batch`update users set tier = 'pro_plus' where id = ${id}`; // committed while (or after) the first read runs
    const second = dir.refresh(id);
    expect((await second)?.tier).toBe('pro_plus');
    expect(['free', 'pro_plus']).toContain((await first)?.tier);
    expect((await dir.lookup(id))?.tier).toBe('pro_plus');
  });

  it('a failed query rejects its readers, and the next read queries again', async () => {
    const broken = createDb(t.appUrl, { max: 1 });
    await broken.close(); // every query on it now fails
    const dir = new TierDirectory(broken.db, { cacheMs: 60_000 });
    await expect(Promise.all([dir.lookup(ids[1]!), dir.lookup(ids[2]!)])).rejects.toThrow();
    await expect(dir.lookup(ids[1]!)).rejects.toThrow();
    const ok = new TierDirectory(app.db, { cacheMs: 60_000 });
    expect((await ok.lookup(ids[1]!))?.tier).toBe('pro');
  });
});
