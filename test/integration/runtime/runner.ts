// A runtime replica hosting the toy actor, for the process tests: `node --import tsx runner.ts`.
// Env: RT_REDIS_URL, RT_PG_URL (raxx_app), RT_PARTITIONS, RT_LEASE_MS, RT_OWNER. Prints JSON lines (ready, stats).
import { createDb } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis } from '../../../src/infra/redis/index.js';
import { PartitionRuntime } from '../../../src/runtime/index.js';
import type { ActorHost } from '../../../src/runtime/index.js';
import { toyHost } from './toy.js';

// RT_TURN_DELAY_MS: extra work per turn inside the transaction, so a SIGKILL finds turns in flight.
const delay = Number(process.env.RT_TURN_DELAY_MS ?? 0);
const host: ActorHost = {
  blindSafe: () => true,
  handleBatch: async (ctx, cmds) => {
    const out = await toyHost.handleBatch(ctx, cmds);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    return out;
  },
};

const redis = createRedis(process.env.RT_REDIS_URL!, 'rt-runner');
const pg = createDb(process.env.RT_PG_URL!, { max: 20, role: 'raxx_app', appName: 'rt-runner' });
const runtime = new PartitionRuntime({
  redis,
  db: pg.db,
  partitions: Number(process.env.RT_PARTITIONS ?? 16),
  host,
  owner: process.env.RT_OWNER!,
  leaseTtlMs: Number(process.env.RT_LEASE_MS ?? 2000),
});
const print = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
await runtime.start();
print({ ready: true, url: 'none', owner: runtime.owner });
const timer = setInterval(() => print({ stats: runtime.stats() }), 200);
process.on('SIGTERM', () => {
  clearInterval(timer);
  void (async () => {
    await runtime.stop();
    print({ stopped: true, stats: runtime.stats() });
    await closeRedis(redis);
    await pg.close();
    process.exit(0);
  })();
});
