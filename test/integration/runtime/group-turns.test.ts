// commitFencedGroup: the commands of several partitions in ONE fenced transaction. Each partition's handler sees only
// its own commands, every processed_commands row carries its own partition, a redelivered id is replayed, and one
// partition whose epoch moved aborts the whole turn with that partition's FencedOutError: nothing of any lands.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { claimPartitionEpoch, commitFencedGroup, FencedOutError, type Envelope } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

const users = [`grp-a-${randomUUID().slice(0, 8)}`, `grp-b-${randomUUID().slice(0, 8)}`, `grp-c-${randomUUID().slice(0, 8)}`];

let tdb: TestDatabase;
let su: postgres.Sql;
let app: DbHandle;
const epochs = new Map<number, number>();

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_group_turns');
  su = postgres(tdb.batchUrl, { max: 2, onnotice: () => {} });
  for (const u of users) await su`insert into users (id) values (${u})`;
  app = createDb(tdb.appUrl, { max: 2, role: 'raxx_app', appName: 'group-turns-test' });
  for (const p of [1, 2, 3]) epochs.set(p, await claimPartitionEpoch(app.db, p, 1, 'group-turns-test'));
});
afterAll(async () => {
  await app?.close();
  await su?.end();
  await tdb?.drop();
});

const cmd = (userId: string): Envelope => ({ id: randomUUID(), userId, type: 'test.group', payload: {}, issuedAt: new Date().toISOString() });
const rows = async (ids: string[]) =>
  su<{ command_id: string; partition: number; user_id: string }[]>`select command_id, partition, user_id from processed_commands where command_id = any(${ids}) order by partition`;

describe('commitFencedGroup', () => {
  it('commits several partitions in one transaction, each handler with its own commands, each row with its partition', async () => {
    const batches = [
      { partition: 3, epoch: epochs.get(3)!, envelopes: [cmd(users[2]!), cmd(users[2]!)] },
      { partition: 1, epoch: epochs.get(1)!, envelopes: [cmd(users[0]!)] },
      { partition: 2, epoch: epochs.get(2)!, envelopes: [cmd(users[1]!)] },
    ];
    const seen: Array<{ index: number; users: string[]; txid: string }> = [];
    const out = await commitFencedGroup(app.db, batches, async (index, tx, fresh) => {
      const [r] = await tx.execute<{ txid: string }>(sql`select txid_current()::text as txid`);
      seen.push({ index, users: fresh.map((e) => e.userId), txid: r!.txid });
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const, result: { partition: batches[index]!.partition } }));
    });
    expect(seen.map((s) => s.index).sort()).toEqual([0, 1, 2]);
    expect(new Set(seen.map((s) => s.txid)).size).toBe(1); // one transaction
    for (const s of seen) expect(s.users.every((u) => u === batches[s.index]!.envelopes[0]!.userId)).toBe(true);
    expect(out.map((d) => d.map((x) => x.result))).toEqual(batches.map((b) => b.envelopes.map(() => ({ partition: b.partition }))));
    const ids = batches.flatMap((b) => b.envelopes.map((e) => e.id));
    const stored = await rows(ids);
    expect(stored).toHaveLength(4);
    for (const r of stored) expect(batches.find((b) => b.envelopes.some((e) => e.id === r.command_id))!.partition).toBe(r.partition);

    // Redelivered together with a new command: the old ones are replayed, only the new one reaches its handler.
    const fresh = cmd(users[0]!);
    const handled: string[] = [];
    const again = await commitFencedGroup(
      app.db,
      [
        { ...batches[1]!, envelopes: [...batches[1]!.envelopes, fresh] },
        { ...batches[2]! },
      ],
      async (_i, _tx, list) => {
        handled.push(...list.map((e) => e.id));
        return list.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
      },
    );
    expect(handled).toEqual([fresh.id]);
    expect(again[0]!.map((d) => d.replayed)).toEqual([true, false]);
    expect(again[1]!.map((d) => d.replayed)).toEqual([true]);
  });

  it('whole: one prefetch and one handler call take every partition\'s new commands; each row keeps its partition', async () => {
    const batches = [
      { partition: 3, epoch: epochs.get(3)!, envelopes: [cmd(users[2]!), cmd(users[2]!)] },
      { partition: 1, epoch: epochs.get(1)!, envelopes: [cmd(users[0]!)] },
      { partition: 2, epoch: epochs.get(2)!, envelopes: [cmd(users[1]!)] },
    ];
    const all = batches.flatMap((b) => b.envelopes);
    // A redelivered id among them: the prefetch still sees it, the handler does not.
    await commitFencedGroup(app.db, [batches[1]!], async (_i, _tx, list) => list.map((e) => ({ id: e.id, outcome: 'accepted' as const })));
    const prefetches: string[][] = [];
    const calls: Array<{ index: number; ids: string[]; prefetched: unknown }> = [];
    const out = await commitFencedGroup(
      app.db,
      batches,
      async (index, _tx, fresh, _defer, prefetched) => {
        calls.push({ index, ids: fresh.map((e) => e.id), prefetched });
        return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const, result: { n: fresh.length } }));
      },
      {
        whole: true,
        prefetch: (_tx, envs) => {
          prefetches.push(envs.map((e) => e.id));
          return Promise.resolve('read once');
        },
      },
    );
    expect(prefetches).toEqual([all.map((e) => e.id)]);
    expect(calls).toEqual([{ index: 0, ids: [...batches[0]!.envelopes, ...batches[2]!.envelopes].map((e) => e.id), prefetched: 'read once' }]);
    expect(out.map((d) => d.map((x) => x.replayed))).toEqual([[false, false], [true], [false]]);
    const stored = await rows(all.map((e) => e.id));
    expect(stored).toHaveLength(4);
    for (const r of stored) expect(batches.find((b) => b.envelopes.some((e) => e.id === r.command_id))!.partition).toBe(r.partition);
  });

  it('one partition fenced out aborts the whole turn with that partition named; nothing of any partition lands', async () => {
    // A newer owner takes partition 2 behind our back.
    await claimPartitionEpoch(app.db, 2, epochs.get(2)! + 5, 'someone-else');
    const batches = [
      { partition: 1, epoch: epochs.get(1)!, envelopes: [cmd(users[0]!)] },
      { partition: 2, epoch: epochs.get(2)!, envelopes: [cmd(users[1]!)] },
    ];
    let called = 0;
    const err = await commitFencedGroup(app.db, batches, async (_i, _tx, fresh) => {
      called++;
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedOutError);
    expect(err).toMatchObject({ partition: 2, epoch: epochs.get(2)!, currentEpoch: epochs.get(2)! + 5 });
    expect(called).toBe(0);
    expect(await rows(batches.flatMap((b) => b.envelopes.map((e) => e.id)))).toEqual([]);
  });

  it('a handler failing in one partition rolls back every partition of the turn', async () => {
    const batches = [
      { partition: 1, epoch: epochs.get(1)!, envelopes: [cmd(users[0]!)] },
      { partition: 3, epoch: epochs.get(3)!, envelopes: [cmd(users[2]!)] },
    ];
    await expect(
      commitFencedGroup(app.db, batches, async (i, _tx, fresh) => {
        if (i === 1) throw new Error('boom in partition 3');
        return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
      }),
    ).rejects.toThrow('boom in partition 3');
    expect(await rows(batches.flatMap((b) => b.envelopes.map((e) => e.id)))).toEqual([]);
  });
});
