// Feed hot path: N ticks in batches of BATCH through TickPublisher.publishTicks (one fenced Lua call per batch),
// against a LOCAL Redis only. Prints ticks/s and Redis CPU (INFO cpu delta). WARNING: writes the {md} keys of the
// chosen database; use a throw-away server or database number.
// Usage: REDIS_URL=redis://127.0.0.1:6379/9 npx tsx bench/feed-publish.ts [ticks=500000] [batch=200] [symbols=500] [inflight=4]
import { randomBytes } from 'node:crypto';
import { createRedis, closeRedis } from '../src/infra/redis/index.js';
import { DelayConsumer, LeaderLease, TickPublisher, type TickInput } from '../src/infra/market-data/index.js';

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname)) {
  console.error(`refusing ${url.hostname}: this benchmark writes feed keys and only runs against a loopback Redis`);
  process.exit(2);
}
const total = Number(process.argv[2] ?? 500_000);
const batchSize = Number(process.argv[3] ?? 200);
const symbolCount = Number(process.argv[4] ?? 500);
const inflight = Number(process.argv[5] ?? 4);

const redis = createRedis(url.toString(), 'bench-feed-publish');
const owner = `bench-${process.pid}-${randomBytes(3).toString('hex')}`;
const lease = new LeaderLease(redis);
const state = await lease.acquireOrRenew(owner, 60_000);
if (!state.leader) {
  console.error(`the feed lease is held by ${state.holder}: not benchmarking against a live feed`);
  await closeRedis(redis);
  process.exit(2);
}

const symbols = Array.from({ length: symbolCount }, (_, i) => `B${i.toString(36).toUpperCase().padStart(4, 'X')}`);
function makeTick(i: number): TickInput {
  const symbol = symbols[i % symbolCount]!;
  const t = new Date().toISOString().replace('Z', '000000Z');
  return i % 3 === 0
    ? { kind: 't', symbol, body: `{"T":"t","S":"${symbol}","i":${i},"x":"V","p":${(100 + (i % 1000) / 100).toFixed(2)},"s":100,"c":["@"],"z":"C","t":"${t}"` }
    : { kind: 'q', symbol, body: `{"T":"q","S":"${symbol}","bx":"V","bp":${(100 + (i % 1000) / 100).toFixed(2)},"bs":3,"ax":"V","ap":${(100.01 + (i % 1000) / 100).toFixed(2)},"as":2,"c":["R"],"z":"C","t":"${t}"` };
}
// Pre-build the batches: the benchmark measures the publish path, not JSON building.
const batches: TickInput[][] = [];
for (let i = 0; i < total; i += batchSize) batches.push(Array.from({ length: Math.min(batchSize, total - i) }, (_, j) => makeTick(i + j)));

const cpu = async () => {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return get('used_cpu_sys') + get('used_cpu_user');
};

const publisher = new TickPublisher(redis);
const consumer = new DelayConsumer(redis, { delayMs: 0 });
const cpu0 = await cpu();
const t0 = process.hrtime.bigint();
let next = 0;
let published = 0;
// A few calls in flight on the one connection (scripts still run in order), as the feed's batcher does.
await Promise.all(
  Array.from({ length: inflight }, async () => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const r = await publisher.publishTicks(state.epoch, batch);
      if (!r.ok) throw new Error('fenced during the benchmark');
      published += r.seqs.length;
    }
  }),
);
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu1 = await cpu();
await publisher.flushDelay(state.epoch);
let released = 0;
for (;;) {
  const r = await consumer.releaseDue(state.epoch, Date.now(), 2000);
  if (!r.ok || r.released === 0) break;
  released += r.released;
}
const memory = /used_memory_human:(\S+)/.exec(await redis.info('memory'))?.[1];
await lease.release(owner, state.epoch);
await closeRedis(redis);

console.log(
  JSON.stringify(
    {
      ticks: published,
      batchSize,
      symbols: symbolCount,
      inflight,
      seconds: Number(elapsed.toFixed(3)),
      ticksPerSecond: Math.round(published / elapsed),
      redisCpuSeconds: Number((cpu1 - cpu0).toFixed(3)),
      redisCpuPercentOfOneCore: Math.round(((cpu1 - cpu0) / elapsed) * 100),
      delayEntriesReleasedAfterwards: released,
      redisUsedMemory: memory,
    },
    null,
    2,
  ),
);
