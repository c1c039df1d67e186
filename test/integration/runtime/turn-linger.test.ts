// turnLingerMs: while one or two turns are in flight, commands that would start a small turn wait (up to the linger,
// counted from their read) to ride one turn together; a turn ending starts them at once; with nothing in flight, or
// more than two turns (the replica is behind), they start at once. Real Redis (DB 56) and PostgreSQL, the runtime's
// own scheduler; the first case has a control that fails without the linger.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { partitionOf, PartitionRuntime, runtimeKeys, type ActorHost, type Envelope, type TurnTiming } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';
import { resetToy, setupToy, toyHost, userId } from './toy.js';

const P = 4;
let tdb: TestDatabase;
let redis: Redis;
let app: DbHandle;

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_turn_linger');
  await setupToy(tdb.ownerUrl, 64);
  redis = createRedis(testRedisUrl('runtime-linger'), 'linger-test');
  app = createDb(tdb.appUrl, { max: 8, role: 'raxx_app', appName: 'linger-test' });
});
beforeEach(async () => {
  await redis.flushdb();
  await resetToy(tdb.ownerUrl);
});
afterAll(async () => {
  await app?.close();
  await closeRedis(redis);
  await tdb?.drop();
});

const env = (uid: string, type: string, seq = 0): Envelope => ({ id: randomUUID(), userId: uid, type, payload: { seq }, issuedAt: new Date().toISOString() });
const userIn = (p: number) => Array.from({ length: 64 }, (_, i) => userId(i)).find((u) => partitionOf(u, P) === p)!;
const append = (c: Envelope) => redis.xadd(runtimeKeys.stream(partitionOf(c.userId, P)), '*', 'e', JSON.stringify(c));

/** The toy host, plus `hold`: its turn stays in flight until the test releases it. */
function holdingHost() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = false;
  const host: ActorHost = {
    async handleBatch(ctx, commands) {
      const hold = commands.find((c) => c.type === 'hold');
      if (!hold) return toyHost.handleBatch(ctx, commands);
      held = true;
      await gate;
      return commands.map((c) => ({ id: c.id, outcome: 'accepted' as const }));
    },
  };
  return { host, release, isHeld: () => held };
}

async function startReplica(
  turnLingerMs: number,
  host: ActorHost,
  decided: Map<string, number>,
  turns: TurnTiming[],
  onCommandLatency?: (queuedMs: number, decidedMs: number) => void,
): Promise<PartitionRuntime> {
  const rt = new PartitionRuntime({
    redis,
    db: app.db,
    partitions: P,
    host,
    leaseTtlMs: 3000,
    turnLingerMs,
    onDecision: (e) => void decided.set(e.id, Date.now()),
    onTurn: (t) => void turns.push(t),
    onCommandLatency,
  });
  await rt.start();
  await waitFor(async () => rt.stats().owned.length === P, 5_000, 'every partition owned');
  return rt;
}

/** A turn held in flight (partition 0), then one command for each of partitions 1–3, 60 ms apart. */
async function heldTurnThenThree(turnLingerMs: number) {
  const { host, release, isHeld } = holdingHost();
  const decided = new Map<string, number>();
  const turns: TurnTiming[] = [];
  const rt = await startReplica(turnLingerMs, host, decided, turns);
  try {
    const hold = env(userIn(0), 'hold');
    await append(hold);
    await waitFor(async () => isHeld(), 5_000, 'the held turn started');
    const three = [1, 2, 3].map((p) => env(userIn(p), 'inc', 1));
    for (const c of three) {
      await append(c);
      await sleep(60);
    }
    await sleep(300);
    const decidedWhileHeld = three.filter((c) => decided.has(c.id)).length;
    const turnsBefore = turns.length;
    release();
    await waitFor(async () => decided.has(hold.id) && three.every((c) => decided.has(c.id)), 5_000, 'every command decided after the release');
    return { decidedWhileHeld, turnsAfterRelease: turns.slice(turnsBefore).filter((t) => t.kind === 'command' && t.outcome === 'committed') };
  } finally {
    release();
    await rt.stop();
  }
}

describe('turn linger', () => {
  it('while a turn is in flight, commands read apart wait for it and then ride one turn together', async () => {
    const r = await heldTurnThenThree(10_000);
    expect(r.decidedWhileHeld).toBe(0);
    // The held turn, then ONE turn carrying the three partitions.
    const shared = r.turnsAfterRelease.filter((t) => t.messages > 0 && t.partitions > 1);
    expect(shared).toHaveLength(1);
    expect(shared[0]).toMatchObject({ partitions: 3, messages: 3 });
  });

  it('control, no linger: the same commands each start a turn while the other is in flight', async () => {
    const r = await heldTurnThenThree(0);
    expect(r.decidedWhileHeld).toBe(3);
  });

  it('the wait is bounded by the linger, even while the other turn stays in flight', async () => {
    const { host, release, isHeld } = holdingHost();
    const decided = new Map<string, number>();
    const rt = await startReplica(400, host, decided, []);
    try {
      await append(env(userIn(0), 'hold'));
      await waitFor(async () => isHeld(), 5_000, 'the held turn started');
      const c = env(userIn(1), 'inc', 1);
      const t0 = Date.now();
      await append(c);
      await waitFor(async () => decided.has(c.id), 5_000, 'the command decided while the other turn is held');
      const waited = decided.get(c.id)! - t0;
      expect(waited).toBeGreaterThanOrEqual(380); // counted from its read, which follows the append
      expect(waited).toBeLessThan(2_500);
    } finally {
      release();
      await rt.stop();
    }
  });

  it('with more than two turns in flight (the replica is behind) a command starts at once', async () => {
    const { host, release, isHeld } = holdingHost();
    const decided = new Map<string, number>();
    const linger = 1_500;
    const rt = await startReplica(linger, host, decided, []);
    try {
      await append(env(userIn(0), 'hold'));
      await waitFor(async () => isHeld(), 5_000, 'the first held turn started');
      await append(env(userIn(1), 'hold')); // lingers behind the first, then holds too
      await waitFor(async () => rt.stats().turns === 2, linger + 3_000, 'the second held turn started');
      /** Appends one command and returns how long it took to be decided. */
      const decide = async (c: Envelope) => {
        const t0 = Date.now();
        await append(c);
        await waitFor(async () => decided.has(c.id), linger + 3_000, 'decided');
        return decided.get(c.id)! - t0;
      };
      // Two turns in flight: a command lingers.
      expect(await decide(env(userIn(3), 'inc', 1))).toBeGreaterThanOrEqual(linger - 50);
      await append(env(userIn(2), 'hold'));
      await waitFor(async () => rt.stats().turns === 4, linger + 3_000, 'the third held turn started');
      // Three turns in flight: the next command starts at once.
      expect(await decide(env(userIn(3), 'inc', 2))).toBeLessThan(linger - 300);
    } finally {
      release();
      await rt.stop();
    }
  });

  it("reports each decided command's wait before its turn and its time until decided (onCommandLatency)", async () => {
    const { host, release, isHeld } = holdingHost();
    const decided = new Map<string, number>();
    const latency: Array<{ queued: number; decided: number }> = [];
    const rt = await startReplica(400, host, decided, [], (queued, d) => void latency.push({ queued, decided: d }));
    try {
      const hold = env(userIn(0), 'hold');
      await append(hold);
      await waitFor(async () => isHeld(), 5_000, 'the held turn started');
      await sleep(200);
      const c = env(userIn(1), 'inc', 1);
      await append(c);
      await waitFor(async () => decided.has(c.id), 5_000, 'the lingering command decided');
      // The command behind the held turn waited out the linger before its turn began.
      expect(latency).toHaveLength(1);
      expect(latency[0]!.queued).toBeGreaterThanOrEqual(380);
      expect(latency[0]!.queued).toBeLessThan(2_500);
      expect(latency[0]!.decided).toBeGreaterThanOrEqual(latency[0]!.queued);
      release();
      await waitFor(async () => decided.has(hold.id) && latency.length === 2, 5_000, 'the held command decided');
      // The held command's turn began at once; its decision came after the hold (200 ms + the other's linger).
      expect(latency[1]!.queued).toBeLessThan(300);
      expect(latency[1]!.decided).toBeGreaterThanOrEqual(580);
    } finally {
      release();
      await rt.stop();
    }
  });

  it('with no turn in flight a command starts at once, however long the linger', async () => {
    const decided = new Map<string, number>();
    const rt = await startReplica(10_000, toyHost, decided, []);
    try {
      const c = env(userIn(2), 'inc', 1);
      const t0 = Date.now();
      await append(c);
      await waitFor(async () => decided.has(c.id), 5_000, 'decided');
      expect(decided.get(c.id)! - t0).toBeLessThan(2_000);
    } finally {
      await rt.stop();
    }
  });
});
