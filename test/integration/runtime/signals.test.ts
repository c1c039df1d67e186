// Runtime signals (`deliver`) on real Redis (DB 40) and PostgreSQL: applied in order per partition, never at the same
// time as a command turn of that partition, fenced, dropped when not owned, oldest dropped on overflow, effects handed
// on only after COMMIT, a host error drops its batch.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { appendCommand, partitionOf, PartitionRuntime, type ActorHost, type Envelope, type RuntimeOptions, type Signal, type TurnTiming } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';
import { resetToy, setupToy, toyHost, userId } from './toy.js';


let tdb: TestDatabase;
let su: postgres.Sql;
let redis: Redis;
let app: DbHandle;

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_rt_sig');
  await setupToy(tdb.ownerUrl, 64);
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  await su.unsafe(`
    create table sig_applied (ord bigserial primary key, user_id text not null, seq int not null, epoch bigint not null, part int not null);
    grant select, insert on sig_applied to raxx_app;
    grant usage on sequence sig_applied_ord_seq to raxx_app;`);
  redis = createRedis(testRedisUrl('signals'), 'rt-sig-test');
  app = createDb(tdb.appUrl, { max: 10, role: 'raxx_app', appName: 'rt-sig-test' });
});
afterAll(async () => {
  await app?.close();
  await closeRedis(redis);
  await su?.end();
  await tdb?.drop();
});

async function reset(): Promise<void> {
  await redis.flushdb();
  await resetToy(tdb.ownerUrl);
  await su`truncate sig_applied`;
}

const inc = (uid: string, seq: number): Envelope => ({ id: randomUUID(), userId: uid, type: 'inc', payload: { seq }, issuedAt: new Date().toISOString() });
const sig = (uid: string, seq: number, kind = 'tick'): Signal => ({ userId: uid, kind, payload: { seq } });
const seqOf = (s: Signal) => (s.payload as { seq: number }).seq;

/**
 * The toy host plus signals: each signal of kind `tick` inserts a sig_applied row; `boom` throws. Every turn (command
 * or signal) marks its partition busy for a few ms and records any overlap, and can be held at a gate.
 */
function signalHost(opts: { gate?: () => Promise<void>; holdMs?: number } = {}) {
  const busy = new Set<number>();
  const overlaps: string[] = [];
  let commandTurns = 0;
  let signalTurns = 0;
  const enter = async (partition: number, what: string) => {
    if (busy.has(partition)) overlaps.push(`${what} on p${partition} while another turn ran`);
    busy.add(partition);
    await sleep(Math.random() * (opts.holdMs ?? 3));
  };
  const host: ActorHost = {
    async handleBatch(ctx, commands) {
      await enter(ctx.partition, 'command turn');
      try {
        commandTurns++;
        await opts.gate?.();
        return await toyHost.handleBatch(ctx, commands);
      } finally {
        busy.delete(ctx.partition);
      }
    },
    async handleSignals(ctx, signals) {
      await enter(ctx.partition, 'signal turn');
      try {
        signalTurns++;
        if (signals.some((s) => s.kind === 'boom')) throw new Error('boom: signal handler failure');
        const rows = JSON.stringify(signals.map((s) => ({ u: s.userId, s: seqOf(s) })));
        const insert = ctx.tx.execute(sql`insert into sig_applied (user_id, seq, epoch, part)
          select x.j->>'u', (x.j->>'s')::int, ${ctx.epoch}, ${ctx.partition}
          from jsonb_array_elements(${rows}::jsonb) with ordinality as x(j, o) order by x.o`);
        // `defer`: the insert is handed to the runtime unawaited; `defer-fail` also a write that fails, followed by a
        // statement of the handler's own (which then meets an aborted transaction).
        if (signals.some((s) => s.kind === 'defer' || s.kind === 'defer-fail')) {
          ctx.defer!(insert);
          if (signals.some((s) => s.kind === 'defer-fail')) {
            ctx.defer!(ctx.tx.execute(sql`select 1 / 0`));
            await ctx.tx.execute(sql`select 1`);
          }
        } else await insert;
        return signals.map((s) => ({ userId: s.userId, seq: seqOf(s) }));
      } finally {
        busy.delete(ctx.partition);
      }
    },
  };
  return { host, overlaps, turns: () => ({ commandTurns, signalTurns }) };
}

function runtime(host: ActorHost, opts: Partial<RuntimeOptions> = {}): PartitionRuntime {
  return new PartitionRuntime({ redis, db: app.db, partitions: 4, host, leaseTtlMs: 3000, wakeups: true, ...opts });
}

const applied = async () => su<{ user_id: string; seq: number; epoch: string }[]>`select user_id, seq, epoch::text from sig_applied order by ord`;

describe('runtime signals', () => {
  it('applied in delivery order per user, batched, never concurrently with a command turn; effects only after COMMIT', async () => {
    await reset();
    const { host, overlaps, turns } = signalHost();
    const effects: { userId: string; seq: number }[] = [];
    const notVisible: number[] = [];
    const rt = runtime(host, {
      onSignalEffects: async (list) => {
        // A separate connection sees the turn's rows: onSignalEffects runs after COMMIT.
        const seqs = (list as { userId: string; seq: number }[]).map((e) => e.seq);
        const seen = new Set((await su<{ seq: number }[]>`select seq from sig_applied where seq = any(${seqs}::int[])`).map((r) => r.seq));
        for (const s of seqs) if (!seen.has(s)) notVisible.push(s);
        effects.push(...(list as { userId: string; seq: number }[]));
      },
    });
    await rt.start();
    try {
      expect(rt.ownedPartitions()).toEqual([0, 1, 2, 3]);
      const users = Array.from({ length: 12 }, (_, i) => userId(i));
      const sent = new Map<string, number[]>();
      let seq = 0;
      const cmds: Envelope[] = [];
      // Commands and signals interleaved on the same partitions, in bursts.
      for (let round = 0; round < 40; round++) {
        const appends: Promise<string>[] = [];
        for (const u of users) {
          const s = ++seq; // globally unique: the per-user order is the order of delivery
          expect(rt.deliver(sig(u, s))).toBe(true);
          sent.set(u, [...(sent.get(u) ?? []), s]);
          if (round % 4 === 0) {
            const c = inc(u, round);
            cmds.push(c);
            appends.push(appendCommand(redis, c, 4));
          }
        }
        await Promise.all(appends);
        await sleep(5);
      }
      await waitFor(async () => (await applied()).length === seq, 20_000, 'every signal applied');
      await waitFor(async () => Number((await su`select count(*)::int as n from rt_applied`)[0]!.n) === cmds.length, 20_000, 'every command applied');
      await waitFor(() => effects.length === seq, 5_000, 'every effect handed on');

      const rows = await applied();
      for (const u of users) expect(rows.filter((r) => r.user_id === u).map((r) => r.seq), u).toEqual(sent.get(u));
      for (const r of rows) expect(partitionOf(r.user_id, 4)).toBeLessThan(4);
      expect(overlaps).toEqual([]);
      expect(notVisible).toEqual([]);
      const s = rt.stats().signals;
      expect(s).toMatchObject({ delivered: seq, applied: seq, droppedNotOwned: 0, droppedOverflow: 0, droppedFailed: 0 });
      // Batched: fewer signal turns than signals; and both kinds of turn really ran interleaved.
      expect(s.turns).toBeLessThan(seq);
      expect(turns().commandTurns).toBeGreaterThan(0);
      // A signal turn carries every partition with signals due: one handleSignals call per partition in it.
      expect(turns().signalTurns).toBeGreaterThanOrEqual(s.turns);
      expect(turns().signalTurns).toBeLessThanOrEqual(s.turns * 4);
    } finally {
      await rt.stop();
    }
  });

  it('a signal turn waits for the command turn in progress; overflow drops the OLDEST signals and counts them', async () => {
    await reset();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let held = false;
    const { host, overlaps } = signalHost({ gate: () => ((held = true), gate) });
    const rt = runtime(host, { maxSignals: 5 });
    await rt.start();
    try {
      const u = userId(20);
      await appendCommand(redis, inc(u, 1), 4);
      await waitFor(() => held, 10_000, 'the command turn to be held at the gate');
      for (let s = 1; s <= 20; s++) rt.deliver(sig(u, s));
      await sleep(300);
      expect(await applied()).toEqual([]); // nothing ran beside the held command turn
      expect(rt.stats().signals).toMatchObject({ delivered: 20, droppedOverflow: 15, applied: 0 });
      open();
      await waitFor(async () => (await applied()).length === 5, 10_000, 'the kept signals applied');
      expect((await applied()).map((r) => r.seq)).toEqual([16, 17, 18, 19, 20]);
      expect(Number((await su`select count(*)::int as n from rt_applied`)[0]!.n)).toBe(1);
      expect(overlaps).toEqual([]);
    } finally {
      open();
      await rt.stop();
    }
  });

  it('keyed signals conflate while queued: the newest of a user+key is applied, after everything delivered before it', async () => {
    await reset();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let held = false;
    const { host } = signalHost({ gate: () => ((held = true), gate) });
    const rt = runtime(host);
    await rt.start();
    try {
      const u = userId(21);
      await appendCommand(redis, inc(u, 1), 4);
      await waitFor(() => held, 10_000, 'the command turn to be held at the gate');
      // Quotes of one symbol (key Q) with an unkeyed signal (a clock tick) between them, and another key (R).
      rt.deliver({ ...sig(u, 1), key: 'Q' });
      rt.deliver({ ...sig(u, 2), key: 'R' });
      rt.deliver(sig(u, 3));
      rt.deliver({ ...sig(u, 4), key: 'Q' });
      rt.deliver({ ...sig(u, 5), key: 'Q' });
      // The same key of another user is its own.
      const v = userId(22);
      rt.deliver({ ...sig(v, 6), key: 'Q' });
      open();
      await waitFor(async () => (await applied()).length === 4, 10_000, 'the live signals applied');
      await sleep(200);
      const rows = await applied();
      expect(rows.filter((r) => r.user_id === u).map((r) => r.seq)).toEqual([2, 3, 5]);
      expect(rows.filter((r) => r.user_id === v).map((r) => r.seq)).toEqual([6]);
      expect(rt.stats().signals).toMatchObject({ delivered: 6, conflated: 2, applied: 4, droppedOverflow: 0 });
    } finally {
      open();
      await rt.stop();
    }
  });

  it('dropped when this replica does not own the partition (or is not running)', async () => {
    await reset();
    const a = runtime(signalHost().host, { owner: 'sig-a' });
    const b = runtime(signalHost().host, { owner: 'sig-b' });
    expect(a.deliver(sig(userId(1), 1))).toBe(false); // not started
    await a.start();
    await b.start();
    try {
      await waitFor(() => a.ownedPartitions().length === 2 && b.ownedPartitions().length === 2, 15_000, 'two partitions each');
      const ofB = Array.from({ length: 64 }, (_, i) => userId(i)).find((u) => b.ownedPartitions().includes(partitionOf(u, 4)))!;
      const ofA = Array.from({ length: 64 }, (_, i) => userId(i)).find((u) => a.ownedPartitions().includes(partitionOf(u, 4)))!;
      expect(a.deliver(sig(ofB, 100))).toBe(false);
      expect(a.deliver(sig(ofA, 101))).toBe(true);
      await waitFor(async () => (await applied()).length === 1, 10_000, 'the owned signal applied');
      expect((await applied()).map((r) => [r.user_id, r.seq])).toEqual([[ofA, 101]]);
      expect(a.stats().signals).toMatchObject({ delivered: 3, applied: 1, droppedNotOwned: 2 });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('fenced: after the PostgreSQL epoch moved behind its back, a signal turn cannot commit; a host error drops its batch', async () => {
    await reset();
    const effects: unknown[] = [];
    const timings: TurnTiming[] = [];
    const rt = runtime(signalHost().host, { partitions: 1, onSignalEffects: (list) => void effects.push(...list), onTurn: (t) => void timings.push(t) });
    await rt.start();
    try {
      const u = userId(30);
      rt.deliver(sig(u, 1));
      await waitFor(async () => (await applied()).length === 1, 10_000, 'first signal applied');
      const before = Number((await su`select epoch from partition_epochs where partition = 0`)[0]!.epoch);
      const bumped = before + 100; // a "newer owner" in PostgreSQL; Redis still says the lease is ours
      await su`update partition_epochs set epoch = ${bumped}, owner = 'intruder' where partition = 0`;
      rt.deliver(sig(u, 2));
      await waitFor(() => rt.stats().fencedOut >= 1, 10_000, 'the signal turn fenced out');
      expect(rt.stats().signals.droppedFailed).toBe(1);
      // The runtime takes the partition again above the intruder's epoch; new signals land under the new epoch.
      await waitFor(() => rt.ownedPartitions().length === 1, 10_000, 'partition taken again');
      rt.deliver(sig(u, 3));
      await waitFor(async () => (await applied()).length === 2, 10_000, 'third signal applied');
      const rows = await applied();
      expect(rows.map((r) => r.seq)).toEqual([1, 3]);
      expect(Number(rows[1]!.epoch)).toBeGreaterThan(bumped);

      // A host error: that batch is dropped (nothing of it lands, no effects), later signals flow.
      const effectsBefore = effects.length;
      rt.deliver(sig(u, 4, 'boom'));
      await waitFor(() => rt.stats().signals.droppedFailed >= 2, 10_000, 'the failing batch dropped');
      rt.deliver(sig(u, 5));
      await waitFor(async () => (await applied()).length === 3, 10_000, 'the next signal applied');
      expect((await applied()).map((r) => r.seq)).toEqual([1, 3, 5]);
      expect(effects.slice(effectsBefore)).toEqual([{ userId: u, seq: 5 }]);
      // onTurn saw each signal turn once, with its outcome: 3 committed, 1 fenced out, 1 failed (the host error).
      const signalTurns = timings.filter((t) => t.kind === 'signal');
      expect(signalTurns.map((t) => t.outcome).sort()).toEqual(['committed', 'committed', 'committed', 'failed', 'fenced_out']);
      for (const t of signalTurns) expect(t).toMatchObject({ partitions: 1, messages: 1 });
      for (const t of signalTurns) expect(t.ms).toBeGreaterThan(0);
      // Phases as far as each got: a committed turn has all four; a fenced-out or failed one stops after the fence.
      const phaseNames = (o: string) => signalTurns.filter((t) => t.outcome === o).map((t) => Object.keys(t.phases).sort());
      expect(phaseNames('committed')).toEqual(Array(3).fill(['begin', 'commit', 'fence', 'work']));
      expect(phaseNames('fenced_out')).toEqual([['begin', 'fence']]);
      expect(phaseNames('failed')).toEqual([['begin', 'fence']]);
      for (const t of signalTurns) for (const ms of Object.values(t.phases)) expect(ms).toBeGreaterThanOrEqual(0);
    } finally {
      await rt.stop();
    }
  });

  it("a signal turn's deferred writes commit with it; a failing one drops the batch with its own error, nothing of it lands", async () => {
    await reset();
    const effects: unknown[] = [];
    const warnings: string[] = [];
    const logger = { info: () => undefined, warn: (obj: object, msg: string) => void warnings.push(`${msg} ${JSON.stringify(obj)}`) };
    const rt = runtime(signalHost().host, { partitions: 1, logger, onSignalEffects: (list) => void effects.push(...list) });
    await rt.start();
    try {
      const u = userId(31);
      rt.deliver(sig(u, 1, 'defer'));
      await waitFor(async () => (await applied()).length === 1, 10_000, 'the deferred insert committed');
      await waitFor(() => effects.length === 1, 5_000, 'effects handed on after COMMIT');

      rt.deliver(sig(u, 2, 'defer-fail'));
      await waitFor(() => rt.stats().signals.droppedFailed >= 1, 10_000, 'the failing batch dropped');
      const failure = warnings.find((w) => w.startsWith('signal turn failed'));
      expect(failure).toContain('22012'); // division_by_zero: the deferred write's error, not 25P02 ("transaction is aborted")
      expect(failure).not.toContain('25P02');
      rt.deliver(sig(u, 3));
      await waitFor(async () => (await applied()).length === 2, 10_000, 'the next signal applied');
      expect((await applied()).map((r) => r.seq)).toEqual([1, 3]);
      expect(effects).toEqual([
        { userId: u, seq: 1 },
        { userId: u, seq: 3 },
      ]);
    } finally {
      await rt.stop();
    }
  });
});
