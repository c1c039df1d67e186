// commitFencedBatch's deferred writes (TurnContext.defer): a write the handler sent without awaiting commits with the
// turn's processed_commands rows (COMMIT sent behind them, in their round trip), and a failing one fails the whole turn — with its own error, not the "transaction is
// aborted" that the statements after it get — leaving neither the decision nor any other write behind. And its
// prefetch (ActorHost.prefetch): reads sent with the fence, inside the turn's scope, handed to the handler only when
// the fence held. Real PostgreSQL.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../../src/infra/audit/index.js';
import { createDb, DbError, type DbHandle } from '../../../src/infra/db/index.js';
import { claimPartitionEpoch, commitFencedBatch, FencedOutError, type Envelope, type TurnPhases } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { waitFor } from '../../support/wait.js';

const PARTITION = 3;
const user = `defer-${randomUUID().slice(0, 8)}`;

let tdb: TestDatabase;
let su: postgres.Sql;
let app: DbHandle;
let epoch: number;

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_deferred_writes');
  su = postgres(tdb.batchUrl, { max: 2, onnotice: () => {} });
  await su`insert into users (id) values (${user})`;
  app = createDb(tdb.appUrl, { max: 2, role: 'raxx_app', appName: 'deferred-writes-test' });
  epoch = await claimPartitionEpoch(app.db, PARTITION, 1, 'deferred-writes-test');
});
afterAll(async () => {
  await app?.close();
  await su?.end();
  await tdb?.drop();
});

const cmd = (): Envelope => ({ id: randomUUID(), userId: user, type: 'test.deferred', payload: {}, issuedAt: new Date().toISOString() });
const audit = (correlationId: string) => ({ actor: user, subject: user, action: 'test.deferred', outcome: 'success' as const, correlationId });
const stored = async (id: string) => ({
  decisions: Number((await su<{ n: string }[]>`select count(*)::text as n from processed_commands where command_id = ${id}`)[0]!.n),
  audits: Number((await su<{ n: string }[]>`select count(*)::text as n from audit_log where correlation_id = ${id}`)[0]!.n),
});

describe('commitFencedBatch deferred writes', () => {
  it('a deferred write commits with the decision', async () => {
    const env = cmd();
    const [d] = await commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
      defer(appendAudit(tx, audit(env.id)));
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
    });
    expect(d).toMatchObject({ id: env.id, outcome: 'accepted', replayed: false });
    expect(await stored(env.id)).toEqual({ decisions: 1, audits: 1 });
  });

  it('a failing deferred write fails the turn with its own error; nothing of the turn is kept', async () => {
    const env = cmd();
    const turn = commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
      defer(appendAudit(tx, audit(env.id)));
      defer(tx.execute(sql`select 1 / 0`));
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
    });
    const err = await turn.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbError);
    expect((err as DbError).sqlstate).toBe('22012'); // division_by_zero, not 25P02 from the processed_commands insert
    expect(await stored(env.id)).toEqual({ decisions: 0, audits: 0 });
  });

  it('a deferred write refused before its statement was sent fails the turn; nothing of it is kept', async () => {
    const env = cmd();
    const turn = commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
      defer(appendAudit(tx, audit(env.id)));
      defer(Promise.reject(new Error('refused before sending')));
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
    });
    await expect(turn).rejects.toThrow('refused before sending');
    expect(await stored(env.id)).toEqual({ decisions: 0, audits: 0 });
  });

  it('a deferred write that fails a few microtasks after it was handed over, before any statement, still fails the turn before COMMIT', async () => {
    const env = cmd();
    const turn = commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
      defer(appendAudit(tx, audit(env.id)));
      defer(
        (async () => {
          for (let i = 0; i < 20; i++) await Promise.resolve();
          throw new Error('refused on the way to PostgreSQL');
        })(),
      );
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
    });
    await expect(turn).rejects.toThrow('refused on the way to PostgreSQL');
    expect(await stored(env.id)).toEqual({ decisions: 0, audits: 0 });
  });

  it('COMMIT leaves in the same socket write as the last writes, also when the handler awaited after deferring them', async () => {
    const sent: string[] = [];
    const write = net.Socket.prototype.write;
    const spy = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
      sent.push(Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk));
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    };
    const run = (marker: string) => {
      const env = cmd();
      return commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
        defer(tx.execute(sql`select ${sql.raw(`'${marker}'`)}`));
        for (let i = 0; i < 20; i++) await Promise.resolve(); // the handler goes on with other work
        return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
      });
    };
    await run('warm-up'); // the turn's statements prepared on this connection
    net.Socket.prototype.write = spy as typeof write;
    try {
      await run('marker-of-the-last-writes');
    } finally {
      net.Socket.prototype.write = write;
    }
    // Nothing after the write that carries the deferred write: the processed_commands insert and COMMIT went with it.
    const at = sent.findIndex((chunk) => chunk.includes('marker-of-the-last-writes'));
    expect(at).toBeGreaterThan(0);
    expect(sent.slice(at + 1)).toEqual([]);
  });

  it('COMMIT goes out behind the deferred writes: the turn does not wait for their answers first', async () => {
    const env = cmd();
    const phases: TurnPhases = {};
    let answered = false;
    const [d] = await commitFencedBatch(
      app.db,
      PARTITION,
      epoch,
      [env],
      async (tx, fresh, defer) => {
        defer(appendAudit(tx, audit(env.id)));
        defer(tx.execute(sql`select pg_sleep(0.3)`).then(() => (answered = true)));
        return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
      },
      { phases },
    );
    expect(d).toMatchObject({ id: env.id, outcome: 'accepted', replayed: false });
    expect(answered).toBe(true);
    // The slow write's 300 ms fall in COMMIT's round trip, none in the work before it.
    expect(phases.work).toBeLessThan(150);
    expect(phases.commit).toBeGreaterThanOrEqual(280);
    expect(await stored(env.id)).toEqual({ decisions: 1, audits: 1 });
  });

  it('a turn whose session is ended while its last writes and COMMIT are in flight fails at once: nothing waits on them', async () => {
    const admin = postgres(tdb.adminUrl, { max: 1, onnotice: () => {} });
    try {
      const env = cmd();
      const turn = commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
        defer(appendAudit(tx, audit(env.id)));
        defer(tx.execute(sql`select pg_sleep(30)`));
        return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
      });
      const outcome = turn.then(
        () => 'committed',
        (e: unknown) => e,
      );
      const sleeping = () => admin<{ pid: number }[]>`
        select pid from pg_stat_activity where datname = ${tdb.name} and application_name like ${`raxx-turn:p${PARTITION}:%`} and query like '%pg_sleep%'`;
      await waitFor(async () => (await sleeping()).length === 1, 5_000, 'the turn to sleep in its deferred write');
      const ended = Date.now();
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${tdb.name} and application_name like ${`raxx-turn:p${PARTITION}:%`}`;
      const err = await outcome;
      expect(err).not.toBe('committed');
      expect(err).toBeInstanceOf(Error);
      expect(Date.now() - ended).toBeLessThan(2_000);
      expect(await stored(env.id)).toEqual({ decisions: 0, audits: 0 });
    } finally {
      await admin.end({ timeout: 5 });
    }
  });

  it('a conditional write checked in its SQL (raxx_expect_rows) fails with 40001 and nothing of the turn is kept', async () => {
    const env = cmd();
    const turn = commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
      defer(appendAudit(tx, audit(env.id)));
      defer(tx.execute(sql`select raxx_expect_rows(0, 1, 'nothing matched')`));
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
    });
    const err = await turn.catch((e: unknown) => e);
    expect((err as DbError).sqlstate).toBe('40001');
    expect(await stored(env.id)).toEqual({ decisions: 0, audits: 0 });
  });

  it('when the handler fails because a deferred write aborted the transaction, the deferred failure is reported', async () => {
    const env = cmd();
    const turn = commitFencedBatch(app.db, PARTITION, epoch, [env], async (tx, fresh, defer) => {
      defer(tx.execute(sql`select 1 / 0`));
      await tx.execute(sql`select 1`); // sent after the failure: "current transaction is aborted"
      return fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));
    });
    const err = await turn.catch((e: unknown) => e);
    expect((err as DbError).sqlstate).toBe('22012');
    expect(await stored(env.id)).toEqual({ decisions: 0, audits: 0 });
    // The partition still works afterwards (the connection went back clean).
    const next = cmd();
    expect((await commitFencedBatch(app.db, PARTITION, epoch, [next], async (_tx, fresh) => fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }))))[0]).toMatchObject({
      outcome: 'accepted',
    });
  });
});

describe('commitFencedBatch prefetch', () => {
  const accept = (fresh: Envelope[]) => fresh.map((e) => ({ id: e.id, outcome: 'accepted' as const }));

  it("reads in the turn's transaction, under its scope, before the handler; sees replayed envelopes; its result reaches the handler", async () => {
    const done = cmd();
    await commitFencedBatch(app.db, PARTITION, epoch, [done], async (_tx, fresh) => accept(fresh));
    const next = cmd();
    const seen: string[][] = [];
    let got: unknown;
    const decisions = await commitFencedBatch(
      app.db,
      PARTITION,
      epoch,
      [done, next],
      async (_tx, fresh, _defer, prefetched) => {
        got = prefetched;
        return accept(fresh);
      },
      {
        prefetch: (tx, envelopes) => {
          seen.push(envelopes.map((e) => e.id));
          return tx.execute<{ scope: string; xid: string }>(sql`select current_setting('raxx.user_ids', true) as scope, txid_current()::text as xid`).then((r) => r[0]);
        },
      },
    );
    expect(decisions.map((d) => [d.id, d.replayed])).toEqual([
      [done.id, true],
      [next.id, false],
    ]);
    expect(seen).toEqual([[done.id, next.id]]); // every envelope, the replayed one too
    expect(got).toMatchObject({ scope: `{"${user}"}` }); // sent after the scope statement, in the same transaction
  });

  it('a fenced-out turn never reaches the handler with what was prefetched', async () => {
    const env = cmd();
    let prefetches = 0;
    let handled = false;
    const err = await commitFencedBatch(
      app.db,
      PARTITION,
      epoch - 1, // an older owner's epoch
      [env],
      async (_tx, fresh) => {
        handled = true;
        return accept(fresh);
      },
      { prefetch: (tx) => (prefetches++, tx.execute(sql`select 1`)) },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedOutError);
    expect(prefetches).toBe(1);
    expect(handled).toBe(false);
    expect(await stored(env.id)).toEqual({ decisions: 0, audits: 0 });
  });
});
