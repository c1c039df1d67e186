// The accounts' quote router on a real Redis: a symbol no open order needs any more lingers in the subscriptions and
// the feed's demand (short-lived orders must not churn the feed's demand), then leaves; a symbol needed again within
// the linger never left.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QuoteRouter } from '../../../src/actors/account/index.js';
import { marketDataKeys } from '../../../src/contracts/index.js';
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
