// Account actors on the real runtime (in-process), Redis DB 2 and PostgreSQL: open/reset/adjust, rejections,
// redelivery, batching across users, and the private per-user event log (contiguous seq, pub/sub per user).
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { testRedisUrl } from '../../support/redis.js';
import { accountEvents, createAccountHost } from '../../../src/actors/account/index.js';
import { pgTimestamp } from '../../../src/actors/account/known-accounts.js';
import { userEventChannel, userEventKeys, userEventSchema, type UserEvent } from '../../../src/contracts/index.js';
import { createDb, seedDemoUsers, users, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { USER_EVENT_DEDUPE_WINDOW, UserEventLog, userEventDedupeKey } from '../../../src/infra/user-events/index.js';
import { appendCommand, PartitionRuntime, runtimeKeys, type Envelope, type StoredDecision } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { startRoleProcess } from '../../support/processes.js';
import { waitFor } from '../../support/wait.js';

const redisUrl = () => testRedisUrl('accounts');

let tdb: TestDatabase;
let su: postgres.Sql;
let redis: Redis;
let sub: Redis;
let app: DbHandle;
const received = new Map<string, UserEvent[]>(); // channel → frames

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_acc');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  redis = createRedis(redisUrl(), 'acc-test');
  sub = createRedis(redisUrl(), 'acc-test-sub');
  app = createDb(tdb.appUrl, { max: 10, role: 'raxx_app', appName: 'acc-test' });
  await seedDemoUsers(app.db);
  const fresh = ['acc-a', 'acc-b', 'acc-c', 'acc-d', 'acc-e'];
  await withTenant(app.db, fresh, (tx) => tx.insert(users).values(fresh.map((id) => ({ id, email: `${id}@example.com`, displayName: id }))));
  await redis.flushdb();
  await sub.psubscribe('user-events:*');
  sub.on('pmessage', (_p, channel, message) => {
    received.set(channel, [...(received.get(channel) ?? []), userEventSchema.parse(JSON.parse(message))]);
  });
});
afterAll(async () => {
  await app?.close();
  await closeRedis(sub);
  await closeRedis(redis);
  await su?.end();
  await tdb?.drop();
});

const P = 4;
const cmd = (userId: string, type: string, payload: unknown = {}): Envelope => ({ id: randomUUID(), userId, type, payload, issuedAt: new Date().toISOString() });

/** A runtime with the account host whose decisions go to the private log, as the role wires it. */
function startRuntime(partitions = P, db: DbHandle = app) {
  const events = new UserEventLog(redis);
  const decisions: { env: Envelope; d: StoredDecision }[] = [];
  const rt = new PartitionRuntime({
    redis,
    db: db.db,
    partitions,
    leaseTtlMs: 2000,
    host: createAccountHost({ startingCash: '25000' }),
    onDecision: (env, d) => {
      decisions.push({ env, d });
      void events.submit(env.userId, accountEvents(env, d), env.id);
    },
  });
  return { rt, events, decisions };
}

async function logOf(userId: string): Promise<UserEvent[]> {
  const entries = await redis.xrange(userEventKeys.log(userId), '-', '+');
  return entries.map(([, f]) => {
    const ev = userEventSchema.parse(JSON.parse(f[f.indexOf('f') + 1]!));
    expect(Number(f[f.indexOf('s') + 1])).toBe(ev.seq);
    return ev;
  });
}

const account = async (userId: string) =>
  (
    await su.begin(async (tx) => {
      await tx`set local role raxx_batch`; // the owner has no policy on tenant tables under FORCE RLS
      return tx`select cash::text, reserved_cash::text, starting_cash::text, account_type, version::int from paper_accounts where user_id = ${userId}`;
    })
  )[0] as { cash: string; reserved_cash: string; starting_cash: string; account_type: string; version: number } | undefined;

const auditOf = async (userId: string) =>
  su.begin(async (tx) => {
    await tx`set local role raxx_batch`;
    return tx<{ action: string; actor: string; correlation_id: string }[]>`select action, actor, correlation_id from audit_log where chain = ${userId} order by seq`;
  });

describe('account actor', () => {
  it('open, open again, reset, adjust: balances, audit rows, contiguous private-log seq, published per user', async () => {
    const { rt, events } = startRuntime();
    await rt.start();
    try {
      const u = 'acc-a';
      const cmds = [
        cmd(u, 'account.open', { accountType: 'margin' }),
        cmd(u, 'account.open'),
        cmd(u, 'account.reset', { startingCash: '50000.50' }),
        cmd(u, 'account.adjust_cash', { amount: '-100.25', reason: 'fee' }),
        cmd(u, 'account.adjust_cash', { amount: '0.75', reason: 'rebate' }),
      ];
      for (const c of cmds) await appendCommand(redis, c, P);
      await waitFor(async () => (await logOf(u)).length === 9, 10_000, 'nine events');
      await events.drain();

      const acc = await account(u);
      expect(acc).toMatchObject({ cash: '49901.00', reserved_cash: '0', starting_cash: '50000.50', account_type: 'margin', version: 3 });

      const log = await logOf(u);
      expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(log.map((e) => [e.kind, e.outcome ?? null, e.code ?? null])).toEqual([
        ['decision', 'accepted', null],
        ['account.opened', null, null],
        ['decision', 'rejected', 'account_exists'],
        ['decision', 'accepted', null],
        ['account.reset', null, null],
        ['decision', 'accepted', null],
        ['account.cash_adjusted', null, null],
        ['decision', 'accepted', null],
        ['account.cash_adjusted', null, null],
      ]);
      expect(log[1]!.data).toMatchObject({ cash: '25000', startingCash: '25000', accountType: 'margin', reservedCash: '0' });
      expect(log[6]!.data).toMatchObject({ cash: '49900.25', amount: '-100.25', reason: 'fee', buyingPower: '49900.25' });
      expect(log[0]!.commandId).toBe(cmds[0]!.id);

      const audit = await auditOf(u);
      expect(audit.map((a) => a.action)).toEqual(['account.open', 'account.reset', 'account.adjust_cash', 'account.adjust_cash']);
      expect(audit.every((a) => a.actor === u)).toBe(true);
      expect(audit.map((a) => a.correlation_id)).toEqual([cmds[0]!.id, cmds[2]!.id, cmds[3]!.id, cmds[4]!.id]);

      await waitFor(() => (received.get(userEventChannel(u))?.length ?? 0) === 9, 2000, 'published frames');
      expect(received.get(userEventChannel(u))).toEqual(log);
    } finally {
      await rt.stop();
    }
  });

  it('rejects insufficient_cash, invalid_payload, unknown_command; a redelivered command changes nothing and appends nothing', async () => {
    const { rt, events, decisions } = startRuntime();
    await rt.start();
    try {
      const u = 'demo-pro'; // seeded with 100000
      const before = (await logOf(u)).length;
      const adjust = cmd(u, 'account.adjust_cash', { amount: '10', reason: 'bonus' });
      const bad = [
        cmd(u, 'account.adjust_cash', { amount: '-100010.01', reason: 'too much' }),
        cmd(u, 'account.adjust_cash', { amount: '12.3.4', reason: 'x' }),
        cmd(u, 'account.reset', { startingCash: '-5' }),
        cmd(u, 'account.adjust_cash', { amount: 10, reason: 'number' }),
        cmd(u, 'account.close'),
        cmd('acc-d', 'account.reset'), // has no account yet
      ];
      await appendCommand(redis, adjust, P);
      for (const c of bad) await appendCommand(redis, c, P);
      await appendCommand(redis, adjust, P); // the same envelope id again, probably in the same batch
      await waitFor(() => decisions.length === 8, 10_000, 'eight decisions');
      await appendCommand(redis, adjust, P); // and once more after it was committed: a replayed decision
      await waitFor(() => decisions.length === 9, 10_000, 'nine decisions');
      await events.drain();

      const byId = new Map(decisions.filter((x) => !x.d.replayed).map((x) => [x.env.id, x.d]));
      expect(bad.map((c) => byId.get(c.id)!.code)).toEqual([
        'insufficient_cash',
        'invalid_payload',
        'invalid_payload',
        'invalid_payload',
        'unknown_command',
        'account_not_found',
      ]);
      expect((byId.get(bad[1]!.id)!.result as { message: string }).message).toMatch(/^amount: must be a decimal string/);
      expect((byId.get(bad[2]!.id)!.result as { message: string }).message).toMatch(/startingCash/);
      expect((byId.get(bad[0]!.id)!.result as Record<string, string>)).toMatchObject({ cash: '100010', reservedCash: '0' });
      // A duplicate inside one batch gets the batch's decision again (replayed: false); one arriving later is replayed.
      expect(decisions.filter((x) => x.env.id === adjust.id).map((x) => x.d.replayed).at(-1)).toBe(true);
      expect(rt.stats().replayed).toBe(1);

      expect(await account(u)).toMatchObject({ cash: '100010', version: 1 });
      const audit = await auditOf(u);
      expect(audit.map((a) => a.action)).toEqual(['account.adjust_cash']);

      const log = (await logOf(u)).slice(before);
      expect(log.map((e) => e.seq)).toEqual(Array.from({ length: 7 }, (_, i) => before + i + 1));
      expect(log.filter((e) => e.kind === 'decision' && e.commandId === adjust.id)).toHaveLength(1);
      expect(log.filter((e) => e.kind === 'account.cash_adjusted')).toHaveLength(1);
      expect((await logOf('acc-d')).map((e) => e.code)).toEqual(['account_not_found']);
    } finally {
      await rt.stop();
    }
  });

  it('a replayed decision whose events never landed (crash before the append) is appended exactly once', async () => {
    const events = new UserEventLog(redis);
    const env = cmd('acc-c', 'account.adjust_cash', { amount: '1', reason: 'x' });
    const d: StoredDecision = { id: env.id, outcome: 'rejected', code: 'account_not_found', result: { message: 'm' }, replayed: true };
    expect(await events.append('acc-c', accountEvents(env, d), env.id)).toEqual({ appended: true, firstSeq: 1 });
    expect(await events.append('acc-c', accountEvents(env, d), env.id)).toEqual({ appended: false, firstSeq: 1 });
    expect((await logOf('acc-c')).map((e) => e.seq)).toEqual([1]);
  });

  it("dedupe ids live in one bounded set per user (its user's recent ids, never a key per command), with the set's TTL", async () => {
    const events = new UserEventLog(redis, { dedupeWindow: 3, dedupeTtlMs: 60_000 });
    const user = 'acc-window';
    const draft = (n: number) => {
      const env = { ...cmd(user, 'account.adjust_cash', { amount: '1', reason: 'x' }), id: `c${n}` };
      return accountEvents(env, { id: env.id, outcome: 'rejected', code: 'account_not_found', result: { message: 'm' }, replayed: false });
    };
    for (let n = 1; n <= 5; n++) expect(await events.append(user, draft(n), `c${n}`)).toEqual({ appended: true, firstSeq: n });
    // The three most recent are recognised (with the seq of their append); older ones have left the window.
    for (const n of [3, 4, 5]) expect(await events.append(user, draft(n), `c${n}`)).toEqual({ appended: false, firstSeq: n });
    expect(await events.append(user, draft(1), 'c1')).toEqual({ appended: true, firstSeq: 6 });
    expect((await logOf(user)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await redis.keys(`{u:${user}}:*`)).sort()).toEqual([userEventDedupeKey(user), userEventKeys.log(user), userEventKeys.seq(user)].sort());
    expect(await redis.zrange(userEventDedupeKey(user), '0', '-1')).toEqual(['c4', 'c5', 'c1']);
    const ttl = await redis.pttl(userEventDedupeKey(user));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // Appends without a dedupe id leave the set alone.
    expect(await events.append(user, draft(9))).toEqual({ appended: true, firstSeq: 7 });
    expect(await redis.zcard(userEventDedupeKey(user))).toBe(3);
    expect(() => new UserEventLog(redis, { dedupeWindow: 0 })).toThrow(RangeError);
  });

  it('at the default window a busy user’s dedupe set stays in the compact encoding', async () => {
    const events = new UserEventLog(redis);
    const user = 'acc-busy';
    const env = cmd(user, 'account.adjust_cash', { amount: '1', reason: 'x' });
    const drafts = accountEvents(env, { id: env.id, outcome: 'rejected', code: 'account_not_found', result: { message: 'm' }, replayed: false });
    for (let n = 0; n < USER_EVENT_DEDUPE_WINDOW + 20; n++) await events.append(user, drafts, randomUUID());
    expect(await redis.zcard(userEventDedupeKey(user))).toBe(USER_EVENT_DEDUPE_WINDOW);
    expect(await redis.call('OBJECT', 'ENCODING', userEventDedupeKey(user))).toBe('listpack');
  });

  it('a row kept from the last turn spares the next its read and round trips, and counts only at its version', async () => {
    const texts: string[] = [];
    const traced = createDb(tdb.appUrl, { max: 4, role: 'raxx_app', appName: 'acc-test-traced', onStatement: (t) => texts.push(t) });
    const { rt, decisions } = startRuntime(P, traced);
    await rt.start();
    try {
      const u = 'acc-e';
      const run = async (c: Envelope) => {
        texts.length = 0;
        await appendCommand(redis, c, P);
        await waitFor(() => decisions.some((x) => x.env.id === c.id), 10_000, c.type);
        return decisions.find((x) => x.env.id === c.id)!.d;
      };
      await run(cmd(u, 'account.open'));
      const opened = (await account(u))!.version;
      await run(cmd(u, 'account.adjust_cash', { amount: '1', reason: 'first' }));
      const kept = await run(cmd(u, 'account.adjust_cash', { amount: '2', reason: 'second' }));
      expect(kept.outcome).toBe('accepted');
      expect(texts.some((t) => t.includes('from paper_accounts') || t.includes('from processed_commands'))).toBe(false); // no read at all
      expect(rt.stats().blindTurns).toBeGreaterThanOrEqual(1);
      const retriesBefore = rt.stats().blindRetries;
      // Reported as PostgreSQL prints it in the turns that read (to_json(now()) in a UTC session).
      expect((kept.result as { at: string }).at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00$/);

      // Changed behind the actor's back: the kept copy is stale. Its adjustment matches no row (40001), nothing of it
      // lands, and the turn runs again from a fresh read.
      await su.begin(async (tx) => {
        await tx`set local role raxx_batch`;
        await tx`update paper_accounts set cash = cash + 1000, version = version + 1 where user_id = ${u}`;
      });
      const after = await run(cmd(u, 'account.adjust_cash', { amount: '3', reason: 'third: after the change' }));
      expect(after.outcome).toBe('accepted');
      expect(rt.stats().blindRetries).toBeGreaterThan(retriesBefore);
      expect(texts.some((t) => t.includes('from paper_accounts'))).toBe(true);
      const stored = await account(u);
      expect(stored).toMatchObject({ cash: '26006', version: opened + 4 });
      expect(after.result).toMatchObject({ cash: stored!.cash, version: stored!.version });
    } finally {
      await rt.stop();
      await traced.close();
    }
  });

  it('pgTimestamp prints a time as PostgreSQL does in a UTC session', async () => {
    for (const iso of ['2026-11-24T14:33:05.123Z', '2026-11-24T14:33:05.120Z', '2026-11-24T14:33:05.100Z', '2026-11-24T14:33:05.000Z', '1999-12-31T23:59:59.009Z']) {
      const [row] = await app.db.execute<{ t: string }>(sql`select to_json(${iso}::timestamptz)#>>'{}' as t`);
      expect(pgTimestamp(Date.parse(iso))).toBe(row!.t);
    }
  });

  it("two users' commands in one batch touch only their own accounts; A's events never reach B's channel", async () => {
    // Everything appended before the runtime starts, to one partition: the first turn takes them as one batch.
    const [a, b] = ['demo-free', 'demo-pro-plus'];
    const cmds = [
      cmd(a, 'account.adjust_cash', { amount: '500', reason: 'a1' }),
      cmd(b, 'account.adjust_cash', { amount: '-40000', reason: 'b1' }),
      cmd(a, 'account.adjust_cash', { amount: '-100500.01', reason: 'a2 too much' }),
      cmd(b, 'account.reset', { startingCash: '1000' }),
      cmd(a, 'account.adjust_cash', { amount: '-0.5', reason: 'a3' }),
    ];
    for (const c of cmds) await appendCommand(redis, c, 1);
    const { rt, events, decisions } = startRuntime(1);
    await rt.start();
    try {
      await waitFor(() => decisions.length === 5, 10_000, 'five decisions');
      await events.drain();
      expect(rt.stats().turns).toBe(1);
      expect(decisions.map((x) => x.d.code ?? x.d.outcome)).toEqual(['accepted', 'accepted', 'insufficient_cash', 'accepted', 'accepted']);
      expect(await account(a)).toMatchObject({ cash: '100499.5', starting_cash: '100000', version: 2 });
      expect(await account(b)).toMatchObject({ cash: '1000', starting_cash: '1000', version: 2 });

      const idsOf = (u: string) => new Set(cmds.filter((c) => c.userId === u).map((c) => c.id));
      for (const [u, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const log = await logOf(u);
        expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
        await waitFor(() => (received.get(userEventChannel(u))?.length ?? 0) === log.length, 2000, `frames of ${u}`);
        const frames = received.get(userEventChannel(u))!;
        expect(frames).toEqual(log);
        expect(frames.every((f) => idsOf(u).has(f.commandId!))).toBe(true);
        expect(frames.some((f) => idsOf(other).has(f.commandId!))).toBe(false);
      }
    } finally {
      await rt.stop();
    }
  });

  it('the accounts role: owns the partitions (/healthz), ready, applies commands to the private log, stops cleanly', async () => {
    const role = startRoleProcess('accounts', { REDIS_URL: redisUrl(), DATABASE_URL: tdb.appUrl, ACCOUNTS_PARTITIONS: String(P), PAPER_STARTING_CASH: '5000' });
    try {
      const { url, note } = await role.ready;
      expect(note).toMatch(/account actors over 4 partitions/);
      await waitFor(async () => ((await (await fetch(`${url}/healthz`)).json()) as { owned: number[] }).owned.length === P, 10_000, 'owns all partitions');
      expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok', role: 'accounts', started: true, owned: [0, 1, 2, 3] });
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ checks: { redis: 'ok', postgres: 'ok', runtime: 'ok' } });

      const before = (await logOf('acc-b')).length;
      await appendCommand(redis, cmd('acc-b', 'account.open'), P);
      await waitFor(async () => (await logOf('acc-b')).length === before + 2, 10_000, 'open events');
      expect((await logOf('acc-b')).at(-1)).toMatchObject({ kind: 'account.opened', data: { cash: '5000' } });
      const exposed = await (await fetch(`${url}/metrics`)).text();
      expect(exposed).toMatch(/raxx_accounts_decisions_total\{[^}]*outcome="accepted"/);
      // The turn that decided it is in the turn histogram (one committed command turn at least, carrying 1+ commands).
      expect(Number(/raxx_accounts_turn_seconds_count\{[^}]*kind="command",outcome="committed"\} (\d+)/.exec(exposed)?.[1])).toBeGreaterThanOrEqual(1);
      expect(Number(/raxx_accounts_turn_messages_sum\{[^}]*kind="command"\} (\d+)/.exec(exposed)?.[1])).toBeGreaterThanOrEqual(1);
      // The command's own wait and its time until decided (stream append → turn start / → decision handed on).
      for (const stage of ['queued', 'decided']) {
        const re = new RegExp(`raxx_accounts_command_seconds_count\\{[^}]*stage="${stage}"\\} (\\d+)`);
        expect(Number(re.exec(exposed)?.[1]), stage).toBeGreaterThanOrEqual(1);
      }
      for (const phase of ['begin', 'fence', 'work', 'commit']) {
        const re = new RegExp(`raxx_accounts_turn_phase_seconds_count\\{[^}]*kind="command",phase="${phase}"\\} (\\d+)`);
        expect(Number(re.exec(exposed)?.[1]), phase).toBeGreaterThanOrEqual(1);
      }

      const { code } = await role.stop('SIGTERM');
      expect(code).toBe(0);
      expect(await redis.zrange(runtimeKeys.members, '0', '-1')).toEqual([]);
      expect(await redis.exists(...Array.from({ length: P }, (_, p) => runtimeKeys.lease(p)))).toBe(0);
    } finally {
      await role.stop('SIGKILL').catch(() => undefined);
    }
  });
});
