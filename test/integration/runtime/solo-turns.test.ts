// Solo turns (RuntimeOptions.solo): a command that waits on something outside the database (a broker) runs in a turn
// of its own, in slots of its own. While one hangs, the other partitions' commands — ready at the same moment, so a
// shared turn would have carried them — and the commands before it in its own partition are decided; the ones after
// it wait for it (a partition is serialised). Real Redis (DB 55) and PostgreSQL, the runtime's own scheduler.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { partitionOf, PartitionRuntime, runtimeKeys, type ActorHost, type Envelope } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';
import { setupToy, toyHost, userId } from './toy.js';

const P = 4;
let tdb: TestDatabase;
let redis: Redis;
let app: DbHandle;

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_solo_turns');
  await setupToy(tdb.ownerUrl, 64);
  redis = createRedis(testRedisUrl('runtime-solo'), 'solo-test');
  await redis.flushdb();
  app = createDb(tdb.appUrl, { max: 12, role: 'raxx_app', appName: 'solo-test' });
});
afterAll(async () => {
  await app?.close();
  await closeRedis(redis);
  await tdb?.drop();
});

const env = (uid: string, type: string, seq = 0): Envelope => ({ id: randomUUID(), userId: uid, type, payload: { seq }, issuedAt: new Date().toISOString() });

/** The toy host, plus `broker.call`: waits until the test releases it (a broker that does not answer), then accepted. */
function hangingHost() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const entered: string[] = [];
  const host: ActorHost = {
    async handleBatch(ctx, commands) {
      const slow = commands.filter((c) => c.type === 'broker.call');
      if (slow.length === 0) return toyHost.handleBatch(ctx, commands);
      // A solo turn carries exactly the one command.
      if (commands.length !== 1) throw new Error(`a broker call shared its batch with ${commands.length - 1} other command(s)`);
      entered.push(slow[0]!.id);
      await gate;
      return [{ id: slow[0]!.id, outcome: 'accepted' as const }];
    },
  };
  return { host, release, entered };
}

/** Users (from the toy's u0000…) in partition `p` of P. */
const usersIn = (p: number, n: number) =>
  Array.from({ length: 64 }, (_, i) => userId(i))
    .filter((u) => partitionOf(u, P) === p)
    .slice(0, n);

/** A replica on the test's partitions in which `broker.call` is solo, with one solo slot. */
async function startReplica(host: ActorHost, onDecision: (e: Envelope) => void, more: { maxConcurrentTurns?: number } = {}): Promise<PartitionRuntime> {
  const rt = new PartitionRuntime({ redis, db: app.db, partitions: P, host, leaseTtlMs: 3000, solo: (type) => type === 'broker.call', maxSoloTurns: 1, onDecision, ...more });
  await rt.start();
  return rt;
}

async function appendAll(cmds: Envelope[]): Promise<void> {
  const pipe = redis.pipeline();
  for (const c of cmds) pipe.xadd(runtimeKeys.stream(partitionOf(c.userId, P)), '*', 'e', JSON.stringify(c));
  await pipe.exec();
}

describe('solo turns', () => {
  it('a hanging broker call holds back only what follows it in its own partition', async () => {
    const [a1, a2] = usersIn(0, 2) as [string, string];
    const others = [1, 2, 3].flatMap((p) => usersIn(p, 2));
    const before = env(a1, 'inc', 1);
    const call = env(a1, 'broker.call');
    const after = env(a2, 'inc', 1);
    const elsewhere = others.map((u) => env(u, 'inc', 1));
    // All appended before the replica starts: its first read fills every mailbox at once, so one shared turn would
    // carry every partition (and, without solo turns, the broker call with them).
    await appendAll([before, call, after, ...elsewhere]);

    const { host, release, entered } = hangingHost();
    const decided = new Map<string, number>();
    const t0 = Date.now();
    const rt = await startReplica(host, (e) => void decided.set(e.id, Date.now() - t0));
    try {
      await waitFor(async () => entered.length === 1, 10_000, 'the broker call entered its turn');
      // Every other partition's commands, and the one before the call in its own, are decided while it hangs.
      await waitFor(async () => [before, ...elsewhere].every((e) => decided.has(e.id)), 5_000, 'the commands not behind the call decided');
      await sleep(300);
      expect(decided.has(call.id)).toBe(false);
      expect(decided.has(after.id)).toBe(false); // serialised behind the call in its partition

      // More commands for other partitions while it still hangs: still decided (the shared turns keep their slots).
      const later = others.map((u) => env(u, 'inc', 2));
      await appendAll(later);
      await waitFor(async () => later.every((e) => decided.has(e.id)), 5_000, 'later commands decided while the call hangs');
      expect(decided.has(after.id)).toBe(false);

      release();
      await waitFor(async () => decided.has(call.id) && decided.has(after.id), 5_000, 'the call, then what followed it');
      expect(decided.get(after.id)!).toBeGreaterThanOrEqual(decided.get(call.id)!);
      expect(rt.stats().applied).toBe(3 + 2 * elsewhere.length);
    } finally {
      release();
      await rt.stop();
    }
  });

  it('solo slots are a budget of their own: a second broker call waits for the first, ordinary turns do not', async () => {
    await redis.flushdb();
    const [x] = usersIn(1, 1) as [string];
    const [y] = usersIn(2, 1) as [string];
    const [z] = usersIn(3, 1) as [string];
    const first = env(x, 'broker.call');
    const second = env(y, 'broker.call');
    const plain = env(z, 'inc', 10);
    await appendAll([first, second, plain]);

    const { host, release, entered } = hangingHost();
    const decided = new Set<string>();
    // One ordinary slot: a solo turn must not take it.
    const rt = await startReplica(host, (e) => void decided.add(e.id), { maxConcurrentTurns: 1 });
    try {
      await waitFor(async () => decided.has(plain.id), 5_000, 'the ordinary command decided beside a hanging call');
      expect(entered).toHaveLength(1);
      await sleep(300);
      expect(entered).toHaveLength(1); // the second call waits for the one solo slot
      release();
      await waitFor(async () => decided.has(first.id) && decided.has(second.id), 5_000, 'both calls decided once released');
      expect(entered).toHaveLength(2);
    } finally {
      release();
      await rt.stop();
    }
  });
});
