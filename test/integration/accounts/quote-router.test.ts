// The accounts' quote router on a real Redis: a symbol no open order needs any more lingers in the subscriptions and
// the feed's demand (short-lived orders must not churn the feed's demand), then leaves; a symbol needed again within
// the linger never left.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QuoteRouter } from '../../../src/actors/account/index.js';
import { marketDataChannels, marketDataKeys } from '../../../src/contracts/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';

const P = 4;
const OWNER = `qr-${Date.now()}`;
let redis: Redis;
let router: QuoteRouter;
const symbols = new Map<string, string[]>([['qr-user', ['QRSYMA']]]);
const demandOf = () => redis.smembers(marketDataKeys.demand(`accounts-${OWNER}`));

beforeAll(async () => {
  redis = createRedis(testRedisUrl('quote-router'), 'quote-router-test');
  await redis.flushdb();
  router = new QuoteRouter({
    redis,
    partitions: P,
    deliver: () => true,
    loadOpenOrders: async () => new Map(symbols),
    openSymbolsOf: (u) => symbols.get(u) ?? [],
    demandOwner: `accounts-${OWNER}`,
    lingerMs: 1500,
  });
});
afterAll(async () => {
  await router?.stop();
  await closeRedis(redis);
});

it('a released symbol lingers in the demand, then leaves; one needed again meanwhile never leaves', async () => {
  router.partitionsChanged([0, 1, 2, 3]);
  await waitFor(async () => (await demandOf()).includes('QRSYMA'), 5000, 'QRSYMA in the demand');
  // The order filled: no open order needs QRSYMA.
  symbols.set('qr-user', []);
  router.touched(['qr-user']);
  await sleep(500);
  expect(await demandOf()).toContain('QRSYMA');
  expect(router.symbols()).not.toContain('QRSYMA'); // no user is routed its quotes any more
  await waitFor(async () => !(await demandOf()).includes('QRSYMA'), 5000, 'QRSYMA out after the linger');

  // Needed, released, needed again within the linger: it stays throughout.
  symbols.set('qr-user', ['QRSYMB']);
  router.touched(['qr-user']);
  await waitFor(async () => (await demandOf()).includes('QRSYMB'), 5000, 'QRSYMB in the demand');
  symbols.set('qr-user', []);
  router.touched(['qr-user']);
  await sleep(700);
  symbols.set('qr-user', ['QRSYMB']);
  router.touched(['qr-user']);
  await sleep(1500);
  expect(await demandOf()).toContain('QRSYMB');
});

it('quotes of a symbol that arrive together reach each user as one signal, the newest', async () => {
  const got: Array<{ userId: string; seq: number }> = [];
  const owner = `${OWNER}-burst`;
  const users = new Map<string, string[]>([
    ['qr-burst-1', ['QRBURST']],
    ['qr-burst-2', ['QRBURST']],
  ]);
  const burst = new QuoteRouter({
    redis,
    partitions: P,
    deliver: (s) => {
      got.push({ userId: s.userId, seq: (s.payload as { seq: number }).seq });
      return true;
    },
    loadOpenOrders: async () => new Map(users),
    openSymbolsOf: (u) => users.get(u) ?? [],
    demandOwner: `accounts-${owner}`,
  });
  try {
    burst.partitionsChanged([0, 1, 2, 3]);
    await waitFor(() => burst.symbols().includes('QRBURST'), 5000, 'subscribed to QRBURST');
    await waitFor(async () => (await redis.pubsub('NUMSUB', marketDataChannels.tick('rt', 'q', 'QRBURST')))[1] === 1, 5000, 'subscription live');
    // 200 quotes in one pipeline: they reach the router in a few socket reads, not 200 turns of its event loop.
    const pipe = redis.pipeline();
    for (let seq = 1; seq <= 200; seq++) pipe.publish(marketDataChannels.tick('rt', 'q', 'QRBURST'), JSON.stringify({ T: 'q', S: 'QRBURST', seq }));
    await pipe.exec();
    await waitFor(() => burst.stats().quotes === 200, 5000, 'all 200 quotes received');
    await waitFor(() => got.filter((g) => g.userId === 'qr-burst-1').at(-1)?.seq === 200, 5000, 'the newest quote delivered');
    const stats = burst.stats();
    for (const u of users.keys()) {
      const seqs = got.filter((g) => g.userId === u).map((g) => g.seq);
      expect(seqs.at(-1)).toBe(200); // the newest always reaches every user
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs); // never an older quote after a newer one
    }
    expect(stats.conflated).toBeGreaterThan(0);
    expect(stats.delivered).toBe(2 * (200 - stats.conflated));
    expect(stats.delivered).toBeLessThan(2 * 200);
  } finally {
    await burst.stop();
  }
});
