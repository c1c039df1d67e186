// bench:feed — upstream msgs/s one feed leader ingests and republishes, with CPU per message and Redis CPU.
// Simulator (own process, full rate, every symbol) → feed (own process) → throw-away Redis on loopback.
// Usage: npx tsx bench/feed-throughput.ts [RATE=60000] [SECONDS=10] [SYMBOLS=500]
import { mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startRedis } from '../src/devstack/index.js';
import { startRoleProcess, type RoleProcess } from '../test/support/processes.js';

const rate = Number(process.argv[2] ?? 60_000);
const seconds = Number(process.argv[3] ?? 10);
const symbolCount = Number(process.argv[4] ?? 500);
const WARMUP_MS = 4_000;
const TICKS_PER_SEC = 100; // Linux USER_HZ for /proc/<pid>/stat

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC; // utime + stime
}

async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_sys') + get('used_cpu_user');
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) sum += Number(line.split(' ').pop());
  return sum;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'raxx-bench-feed-'));
  chmodSync(dir, 0o755);
  const redisServer = await startRedis({ port: await freePort(), dir: join(dir, 'redis'), persistent: false });
  const redis = new Redis(redisServer.url);
  const processes: RoleProcess[] = [];
  try {
    const sim = startRoleProcess('sim', {
      PORT: '0',
      SIM_KMS_PORT: '0',
      SIM_RATE: String(rate),
      SIM_SYMBOLS: String(symbolCount),
      SIM_KEYS: 'bench-key:bench-secret:algo_trader_plus',
      SIM_SLOW_CLIENT_BYTES: String(256 * 1024 * 1024),
    });
    processes.push(sim);
    const simUrl = (await sim.ready).url;
    const assets = (await (await fetch(`${simUrl}/v2/assets`, { headers: { 'APCA-API-KEY-ID': 'bench-key', 'APCA-API-SECRET-KEY': 'bench-secret' } })).json()) as Array<{ symbol: string }>;
    const symbols = assets.map((a) => a.symbol).slice(0, symbolCount);

    const feed = startRoleProcess('feed', {
      RAXX_ENV: 'test',
      REDIS_URL: redisServer.url,
      DATABASE_URL: 'postgres://bench@127.0.0.1:1/none', // no rules: the registry being down must not matter
      ALPACA_DATA_STREAM_URL: simUrl.replace('http', 'ws'),
      ALPACA_TRADING_URL: simUrl,
      ALPACA_KEY_ID: 'bench-key',
      ALPACA_SECRET_KEY: 'bench-secret',
      FEED_SYMBOLS: symbols.join(','),
      LOG_LEVEL: 'warn',
    });
    processes.push(feed);
    const feedUrl = (await feed.ready).url;
    await new Promise((r) => setTimeout(r, WARMUP_MS));

    const start = {
      at: Date.now(),
      upstream: await metric(feedUrl, 'raxx_feed_upstream_messages_total'),
      published: await metric(feedUrl, 'raxx_feed_published_total'),
      feedCpu: cpuSeconds(feed.child.pid!),
      simCpu: cpuSeconds(sim.child.pid!),
      redisCpu: await redisCpu(redis),
    };
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (Date.now() - start.at) / 1000;
    const upstream = (await metric(feedUrl, 'raxx_feed_upstream_messages_total')) - start.upstream;
    const published = (await metric(feedUrl, 'raxx_feed_published_total')) - start.published;
    const feedCpu = cpuSeconds(feed.child.pid!) - start.feedCpu;
    const simCpu = cpuSeconds(sim.child.pid!) - start.simCpu;
    const rCpu = (await redisCpu(redis)) - start.redisCpu;

    const perSec = published / elapsed;
    console.log(`feed-throughput: simulator at ${rate.toLocaleString()} msgs/s over ${symbols.length} symbols, ${seconds}s measured after ${WARMUP_MS / 1000}s warm-up`);
    console.log(`  upstream in : ${(upstream / elapsed).toLocaleString(undefined, { maximumFractionDigits: 0 })} msgs/s (quotes, trades, bars, statuses)`);
    console.log(`  published   : ${perSec.toLocaleString(undefined, { maximumFractionDigits: 0 })} ticks/s (fenced script: seq + PUBLISH + LKG + replay XADD + delay line)`);
    console.log(`  feed CPU    : ${((feedCpu / elapsed) * 100).toFixed(0)} % of one core, ${((feedCpu / Math.max(published, 1)) * 1e6).toFixed(1)} µs per message`);
    console.log(`  Redis CPU   : ${((rCpu / elapsed) * 100).toFixed(0)} % of one core, ${((rCpu / Math.max(published, 1)) * 1e6).toFixed(1)} µs per message`);
    console.log(`  sim CPU     : ${((simCpu / elapsed) * 100).toFixed(0)} % of one core (shares the 2 cores)`);
    console.log(`  verdict     : ${perSec >= 50_000 && feedCpu / elapsed < 1 ? 'PASS' : 'BELOW'} target 50,000 msgs/s with the leader under one core`);
  } finally {
    await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    redis.disconnect();
    await redisServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
