// Runtime reads with wake-ups on real Redis (DB 54) and PostgreSQL, with the fallback poll far away (60 s), so each
// path below is the only one that can pick a command up: the wake-up itself, the full read on the wake-up
// subscriber's reconnect (pub/sub loses messages only while disconnected), and the timer of a backed-off retry.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, DbError, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { appendCommand, ENVELOPE_FIELD, partitionOf, PartitionRuntime, runtimeKeys, type ActorHost, type Envelope } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';
import { resetToy, setupToy, toyHost, userId } from './toy.js';

const PARTITIONS = 4;
const NAME = `rt-wake-${randomUUID().slice(0, 8)}`;
let tdb: TestDatabase;
let redis: Redis;
let admin: Redis;
let app: DbHandle;

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_rt_wake');
  await setupToy(tdb.ownerUrl, 8);
  redis = createRedis(testRedisUrl('runtime-wakeups'), NAME);
  admin = createRedis(testRedisUrl('runtime-wakeups'), `${NAME}-admin`);
  app = createDb(tdb.appUrl, { max: 6, role: 'raxx_app', appName: 'rt-wake-test' });
});
afterAll(async () => {
  await app?.close();
  await closeRedis(redis);
  await closeRedis(admin);
  await tdb?.drop();
});

const inc = (i: number, seq: number): Envelope => ({ id: randomUUID(), userId: userId(i), type: 'inc', payload: { seq }, issuedAt: new Date().toISOString() });

/** The runtime under test: wake-ups on, the fallback poll a minute away; `decided` collects command ids. */
async function started(host: ActorHost = toyHost) {
  await redis.flushdb();
  await resetToy(tdb.ownerUrl);
  const decided: string[] = [];
  const rt = new PartitionRuntime({ redis, db: app.db, partitions: PARTITIONS, host, leaseTtlMs: 3000, wakeups: true, idlePollMs: 60_000, onDecision: (env) => void decided.push(env.id) });
  await rt.start();
  expect(rt.ownedPartitions()).toEqual([0, 1, 2, 3]);
  return { rt, decided };
}

/** Appends without the wake-up (what a PUBLISH lost while the subscriber was away leaves behind). */
const appendSilently = (env: Envelope) => redis.xadd(runtimeKeys.stream(partitionOf(env.userId, PARTITIONS)), '*', ENVELOPE_FIELD, JSON.stringify(env));

describe('runtime wake-ups', () => {
  it('a wake-up reads the command at once; an entry whose wake-up was lost waits for the poll — or for the subscriber to reconnect', async () => {
    const { rt, decided } = await started();
    try {
      const woken = inc(0, 1);
      const t0 = Date.now();
      await appendCommand(redis, woken, PARTITIONS);
      await waitFor(() => decided.includes(woken.id), 2000, 'woken command decided');
      expect(Date.now() - t0).toBeLessThan(1000);

      const lost = inc(1, 1);
      await appendSilently(lost);
      await sleep(1500);
      expect(decided).not.toContain(lost.id); // nothing reads it before the 60 s poll...

      // ...until the wake-up subscriber's connection drops and comes back: that reconnect reads every partition.
      const clients = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      const ids = clients
        .split('\n')
        .filter((l) => l.includes(`name=${NAME} `))
        .map((l) => /\bid=(\d+)/.exec(l)?.[1])
        .filter((id): id is string => id !== undefined);
      expect(ids).toHaveLength(1);
      await admin.client('KILL', 'ID', ids[0]!);
      await waitFor(() => decided.includes(lost.id), 5000, 'lost wake-up recovered by the reconnect');
    } finally {
      await rt.stop();
    }
  });

  it('a turn that failed with a transient error is retried after its back-off, not at the next poll', async () => {
    let failures = 0;
    const flaky: ActorHost = {
      async handleBatch(ctx, commands) {
        if (failures === 0) {
          failures += 1;
          throw new DbError('40001', { table: 'rt_applied' }); // serialization failure: retried
        }
        return toyHost.handleBatch(ctx, commands);
      },
    };
    const { rt, decided } = await started(flaky);
    try {
      const cmd = inc(2, 1);
      const t0 = Date.now();
      await appendCommand(redis, cmd, PARTITIONS);
      await waitFor(() => decided.includes(cmd.id), 5000, 'retried command decided');
      expect(failures).toBe(1);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(rt.stats().turnErrors).toBe(1);
    } finally {
      await rt.stop();
    }
  });
});
