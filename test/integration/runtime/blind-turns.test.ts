// Blind turns (commitFencedGroup `blind`): the handler decides before the fence has answered and no ids are looked
// up, so a turn whose state is in memory sends everything, fence to COMMIT, without waiting for any answer. A moved
// epoch or a command already applied still lands nothing: PostgreSQL refuses the turn (40001 from the fence, 23505
// from processed_commands), and the same turn run again, not blind, tells them apart. Real PostgreSQL.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../../src/infra/audit/index.js';
import { createDb, DbError, type DbHandle, type Tx } from '../../../src/infra/db/index.js';
import { claimPartitionEpoch, commitFencedBatch, commitFencedGroup, FencedOutError, type Envelope } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { waitFor } from '../../support/wait.js';

const user = `blind-${randomUUID().slice(0, 8)}`;
const other = `blind-${randomUUID().slice(0, 8)}`;

let tdb: TestDatabase;
let su: postgres.Sql;
let owner: postgres.Sql; // partition_epochs is not the batch role's
let app: DbHandle;
const epochs = new Map<number, number>();

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_blind_turns');
  su = postgres(tdb.batchUrl, { max: 2, onnotice: () => {} });
  owner = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  await su`insert into users (id) values (${user}), (${other})`;
  app = createDb(tdb.appUrl, { max: 2, role: 'raxx_app', appName: 'blind-turns-test' });
  for (const p of [1, 2]) epochs.set(p, await claimPartitionEpoch(app.db, p, 1, 'blind-turns-test'));
});
afterAll(async () => {
  await app?.close();
  await su?.end();
  await owner?.end();
  await tdb?.drop();
});

const cmd = (userId = user): Envelope => ({ id: randomUUID(), userId, type: 'test.blind', payload: {}, issuedAt: new Date().toISOString() });
const audit = (userId: string, correlationId: string) => ({ actor: userId, subject: userId, action: 'test.blind', outcome: 'success' as const, correlationId });
const processed = async (ids: string[]) => Number((await su`select count(*)::int as n from processed_commands where command_id = any(${ids})`)[0]!.n);
const audited = async (ids: string[]) => Number((await su`select count(*)::int as n from audit_log where correlation_id = any(${ids})`)[0]!.n);

/** A handler that defers one audit row per command and accepts them all. */
const accept = async (_i: number, tx: Tx, fresh: Envelope[], defer: (w: PromiseLike<unknown>) => void) => {
  for (const e of fresh) defer(appendAudit(tx, audit(e.userId, e.id)));
  return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
};

describe('blind turns', () => {
  /**
   * Runs a turn whose fence waits for a lock another session holds, and reports what had happened by the time the
   * lock was let go: whether the handler had run, and whether the turn's connection wrote anything afterwards.
   */
  async function fenceHeldBack(blind: boolean) {
    // One connection, its statements prepared by a first turn (as on a running replica): postgres.js sends a new
    // statement's parameters only once PostgreSQL has described it, which it does not while the fence waits.
    const one = createDb(tdb.appUrl, { max: 1, role: 'raxx_app', appName: 'blind-turns-one' });
    await commitFencedBatch(one.db, 1, epochs.get(1)!, [cmd(), cmd()], (tx, fresh, defer) => accept(0, tx, fresh, defer), { blind });
    const envs = [cmd(), cmd()];
    const sent: Array<{ socket: net.Socket; text: string }> = [];
    const write = net.Socket.prototype.write;
    net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
      sent.push({ socket: this, text: Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk) });
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof write;
    const locker = await owner.reserve();
    try {
      await locker`begin`;
      await locker`select epoch from partition_epochs where partition = 1 for update`;
      let handled = false;
      const turn = commitFencedBatch(
        one.db,
        1,
        epochs.get(1)!,
        envs,
        (tx, fresh, defer) => {
          handled = true;
          return accept(0, tx, fresh, defer);
        },
        { blind },
      );
      // The fence is waiting in PostgreSQL (the locker holds the row): give the turn time to send what it would.
      const isFence = (text: string) => text.includes('raxx-turn:'); // its tag, a parameter of the fence statement
      await waitFor(() => sent.some((s) => isFence(s.text)), 5_000, 'the fence sent');
      await new Promise((r) => setTimeout(r, 200));
      const socket = sent.find((s) => isFence(s.text))!.socket;
      const writesBefore = sent.filter((s) => s.socket === socket).length;
      const handledBefore = handled;
      const idsSent = sent.some((s) => s.socket === socket && s.text.includes('outcome')); // the processed_commands rows
      await locker`rollback`;
      const out = await turn;
      return { envs, out, handledBefore, idsSent, writesAfter: sent.filter((s) => s.socket === socket).length - writesBefore };
    } finally {
      net.Socket.prototype.write = write;
      locker.release();
      await one.close();
    }
  }

  it('send everything, COMMIT included, before the fence answers; the turn commits once it does', async () => {
    const r = await fenceHeldBack(true);
    expect(r.handledBefore).toBe(true);
    expect(r.idsSent).toBe(true);
    expect(r.writesAfter).toBe(0); // COMMIT had gone out too
    expect(r.out.map((d) => [d.id, d.outcome, d.replayed])).toEqual(r.envs.map((e) => [e.id, 'accepted', false]));
    expect(await processed(r.envs.map((e) => e.id))).toBe(2);
    expect(await audited(r.envs.map((e) => e.id))).toBe(2);

    // Control: a turn that is not blind decides only once its fence has answered.
    const c = await fenceHeldBack(false);
    expect(c.handledBefore).toBe(false);
    expect(c.idsSent).toBe(false);
    expect(c.writesAfter).toBeGreaterThan(0);
    expect(await processed(c.envs.map((e) => e.id))).toBe(2);
  });

  it('a moved epoch refuses the turn in PostgreSQL (40001) and nothing lands; not blind, the same turn is fenced out', async () => {
    const envs = [cmd()];
    const stale = epochs.get(2)!;
    await owner`update partition_epochs set epoch = ${stale + 10} where partition = 2`;
    try {
      let handled = 0;
      const blind = commitFencedBatch(
        app.db,
        2,
        stale,
        envs,
        (tx, fresh, defer) => {
          handled += fresh.length;
          return accept(0, tx, fresh, defer);
        },
        { blind: true },
      );
      await expect(blind).rejects.toBeInstanceOf(DbError);
      await expect(blind).rejects.toMatchObject({ sqlstate: '40001' });
      expect(handled).toBe(1); // it decided before the fence answered
      expect(await processed(envs.map((e) => e.id))).toBe(0);
      expect(await audited(envs.map((e) => e.id))).toBe(0);
      await expect(commitFencedBatch(app.db, 2, stale, envs, (tx, fresh, defer) => accept(0, tx, fresh, defer))).rejects.toBeInstanceOf(FencedOutError);
    } finally {
      await owner`update partition_epochs set epoch = ${stale} where partition = 2`;
    }
  });

  it('over several partitions, one moved epoch refuses the whole turn', async () => {
    const batches = [
      { partition: 1, epoch: epochs.get(1)!, envelopes: [cmd(user)] },
      { partition: 2, epoch: epochs.get(2)! - 1, envelopes: [cmd(other)] },
    ];
    await expect(commitFencedGroup(app.db, batches, accept, { blind: true })).rejects.toMatchObject({ sqlstate: '40001' });
    expect(await processed(batches.flatMap((b) => b.envelopes.map((e) => e.id)))).toBe(0);
  });

  it('a command already applied refuses the turn (23505) with the new one beside it; not blind, it is replayed and the new one applied', async () => {
    const old = cmd();
    await commitFencedBatch(app.db, 1, epochs.get(1)!, [old], (tx, fresh, defer) => accept(0, tx, fresh, defer));
    const fresh = cmd();
    const blind = commitFencedBatch(app.db, 1, epochs.get(1)!, [old, fresh], (tx, list, defer) => accept(0, tx, list, defer), { blind: true });
    await expect(blind).rejects.toMatchObject({ sqlstate: '23505' });
    expect(await processed([fresh.id])).toBe(0);
    expect(await audited([old.id])).toBe(1); // the first time only
    const again = await commitFencedBatch(app.db, 1, epochs.get(1)!, [old, fresh], (tx, list, defer) => accept(0, tx, list, defer));
    expect(again.map((d) => d.replayed)).toEqual([true, false]);
    expect(await audited([old.id, fresh.id])).toBe(2);
  });
});
