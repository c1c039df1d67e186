// The feed role end to end: simulator → feed replicas (real processes) → Redis, observed by plain Redis subscribers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { marketDataKeys } from '../../src/contracts/index.js';
import { DemandLease } from '../../src/infra/market-data/index.js';
import type { RunningSimulator } from '../../src/sim/server.js';
import { startTestSimulator } from '../support/simulator.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startRoleProcess, type RoleProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { testRedisUrl } from '../support/redis.js';

// Own Redis database for keys; pub/sub is server-wide, so this file also uses symbols no other test publishes.
const REDIS_URL = testRedisUrl('feed-actor');
const SYMBOLS = ['QQQ', 'AMZN'];

let sim: RunningSimulator;
let db: TestDatabase;
let redis: Redis;
let keyDir: string;
const feeds: RoleProcess[] = [];

beforeAll(async () => {
  sim = await startTestSimulator({
      SIM_RATE: '600',
      SIM_SYMBOLS: '60',
      SIM_KEYS: 'feed-key-1:feed-secret-1:algo_trader_plus,feed-key-2:feed-secret-2:basic',
      SIM_PING_INTERVAL_MS: '300',
      SIM_PONG_TIMEOUT_MS: '700',
  });
  db = await createTestDatabase('raxx_feed_e2e');
  redis = new Redis(REDIS_URL);
  await redis.flushdb();
  keyDir = mkdtempSync(join(tmpdir(), 'raxx-feed-keys-'));
  writeFileSync(join(keyDir, 'id'), 'feed-key-1');
  writeFileSync(join(keyDir, 'secret'), 'feed-secret-1');
});

afterAll(async () => {
  await Promise.all(feeds.map((f) => f.stop('SIGKILL')));
  redis?.disconnect();
  await sim?.close();
  await db?.drop();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

function startFeed(): RoleProcess {
  const p = startRoleProcess('feed', {
    RAXX_ENV: 'test',
    REDIS_URL,
    DATABASE_URL: db.appUrl,
    ALPACA_DATA_STREAM_URL: sim.url.replace('http', 'ws'),
    ALPACA_TRADING_URL: sim.url,
    ALPACA_KEY_ID_FILE: join(keyDir, 'id'),
    ALPACA_SECRET_KEY_FILE: join(keyDir, 'secret'),
    FEED_LEASE_TTL_MS: '1500',
    FEED_LEASE_RENEW_MS: '300',
    FEED_DEMAND_GRACE_MS: '0',
    FEED_SLOT_BACKOFF_MS: '400',
    FREE_TIER_DELAY_MS: '1500',
    LOG_LEVEL: 'info',
  });
  feeds.push(p);
  return p;
}

interface Seen {
  frames: Array<{ at: number; channel: string; seq: number; src: string; T: string; S: string }>;
  close(): void;
}

async function watch(pattern: string): Promise<Seen> {
  const sub = new Redis(REDIS_URL);
  const seen: Seen = { frames: [], close: () => sub.disconnect() };
  sub.on('pmessage', (_p, channel, message) => {
    const f = JSON.parse(message) as { seq: number; src: string; T: string; S: string };
    seen.frames.push({ at: Date.now(), channel, seq: f.seq, src: f.src, T: f.T, S: f.S });
  });
  await sub.psubscribe(pattern);
  return seen;
}


/** Seqs per (kind, symbol) must be strictly contiguous: a gap means loss, a repeat means a double publish. */
function expectContiguous(frames: Seen['frames']): void {
  const byKey = new Map<string, number[]>();
  for (const f of frames) byKey.set(`${f.T}:${f.S}`, [...(byKey.get(`${f.T}:${f.S}`) ?? []), f.seq]);
  expect(byKey.size).toBeGreaterThan(0);
  for (const [key, seqs] of byKey) {
    for (let i = 1; i < seqs.length; i++) expect(seqs[i], `${key} at ${i}: ${seqs.slice(Math.max(0, i - 3), i + 2).join(',')}`).toBe(seqs[i - 1]! + 1);
  }
}

async function leaderPid(): Promise<number | undefined> {
  const value = await redis.get(marketDataKeys.lease);
  const match = value && /^\d+:[^:]+:(\d+):/.exec(value);
  return match ? Number(match[1]) : undefined;
}

describe('feed replicas', () => {
  let demand: DemandLease;
  let demandRedis: Redis;

  it('one leader publishes every tick once, in seq order; SIGKILL fails over within 5 s with seq continuing', { timeout: 60_000 }, async () => {
    const seen = await watch('md:rt:q:*');
    try {
      const [a, b] = [startFeed(), startFeed()];
      await Promise.all([a.ready, b.ready]);
      demandRedis = new Redis(REDIS_URL);
      demand = new DemandLease(demandRedis, 'gateway-test');
      await demand.set(SYMBOLS);
      await waitFor(() => seen.frames.length > 20, 15_000, 'first quotes');
      expect(new Set(seen.frames.map((f) => f.S))).toEqual(new Set(SYMBOLS));
      expect(seen.frames.every((f) => f.src === 'rt')).toBe(true);

      const pid = await leaderPid();
      const leader = [a, b].find((p) => p.child.pid === pid)!;
      expect(leader).toBeDefined();
      const killedAt = Date.now();
      await leader.stop('SIGKILL');
      const before = seen.frames.length;
      const took = await waitFor(() => seen.frames.length > before + 5, 8_000, 'quotes from the standby');
      expect(Date.now() - killedAt).toBeLessThan(5_000);
      expect(took).toBeLessThan(5_000);
      expect(await leaderPid()).not.toBe(pid);
      expectContiguous(seen.frames);
    } finally {
      seen.close();
    }
  });

  it('a frozen leader (SIGSTOP) is replaced, and once woken (SIGCONT) publishes nothing', { timeout: 60_000 }, async () => {
    const standby = startFeed();
    await standby.ready;
    const seen = await watch('md:rt:q:*');
    try {
      await waitFor(() => seen.frames.length > 10, 10_000, 'quotes');
      const pid = (await leaderPid())!;
      const frozen = feeds.find((p) => p.child.pid === pid)!;
      frozen.child.kill('SIGSTOP');
      const stoppedAt = seen.frames.length;
      await waitFor(async () => (await leaderPid()) === standby.child.pid, 10_000, 'the standby to take the lease');
      await waitFor(() => seen.frames.length > stoppedAt + 10, 10_000, 'quotes from the new leader (the simulator dropped the frozen socket)');
      const statusBefore = await redis.get(marketDataKeys.status);
      frozen.child.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 2_500));
      expect(await leaderPid()).toBe(standby.child.pid);
      expectContiguous(seen.frames);
      // Nor does it touch the banner: it finds its upstream socket gone, but its status write is fenced.
      expect(await redis.get(marketDataKeys.status)).toBe(statusBefore);
      expect(frozen.lines.some((l) => l.includes('"msg":"hub status"') && l.includes('upstream_unavailable'))).toBe(false);
      const health = (await (await fetch(`${(await frozen.ready).url}/healthz`)).json()) as { leader: boolean };
      expect(health.leader).toBe(false);
    } finally {
      seen.close();
    }
  });

  it('unions demand from several gateways and drops a dead gateway’s symbols when its lease expires', { timeout: 30_000 }, async () => {
    const other = new Redis(REDIS_URL);
    const short = new DemandLease(other, 'gateway-dying', { leaseMs: 1200 });
    await short.set(['NVDA']);
    const subscribed = async () => {
      const state = (await (await fetch(`${sim.url}/_control/stream/state`)).json()) as { connections: Array<{ subscription: { quotes: string[] } }> };
      return new Set(state.connections.flatMap((c) => c.subscription.quotes));
    };
    await waitFor(async () => (await subscribed()).has('NVDA'), 10_000, 'NVDA subscribed');
    expect([...(await subscribed())]).toEqual(expect.arrayContaining([...SYMBOLS, 'NVDA']));
    other.disconnect(); // the gateway dies: nobody renews its lease
    await waitFor(async () => !(await subscribed()).has('NVDA'), 10_000, 'NVDA dropped after the lease expired');
    expect([...(await subscribed())]).toEqual(expect.arrayContaining(SYMBOLS));
  });

  it('republishes on the delay line never earlier than the configured delay, with original seqs', { timeout: 30_000 }, async () => {
    const rt = await watch('md:rt:q:QQQ');
    const dl = await watch('md:dl:q:QQQ');
    try {
      await waitFor(() => dl.frames.length >= 3, 15_000, 'delayed frames');
      for (const d of dl.frames) {
        expect(d.src).toBe('delayed');
        const original = rt.frames.find((f) => f.seq === d.seq);
        if (original) expect(d.at - original.at).toBeGreaterThanOrEqual(1_400);
      }
      expect(dl.frames.some((d) => rt.frames.some((f) => f.seq === d.seq))).toBe(true);
    } finally {
      rt.close();
      dl.close();
    }
  });

  it('the runtime kill switch drops live data and flags degraded; lifting it restores live data', { timeout: 30_000 }, async () => {
    const seen = await watch('md:rt:q:*');
    const status = await watch('md:status*');
    const statusSub = new Redis(REDIS_URL);
    const statuses: string[] = [];
    statusSub.on('message', (_c, m) => statuses.push(m));
    await statusSub.subscribe('md:status');
    try {
      await redis.set(marketDataKeys.killSwitch, '1');
      await waitFor(async () => JSON.parse((await redis.get(marketDataKeys.status)) ?? '{}').state === 'degraded', 5_000, 'degraded status');
      await new Promise((r) => setTimeout(r, 500));
      const frozenCount = seen.frames.length;
      await new Promise((r) => setTimeout(r, 1_500));
      expect(seen.frames.length).toBe(frozenCount);
      expect(statuses.some((s) => JSON.parse(s).state === 'degraded')).toBe(true);

      await redis.del(marketDataKeys.killSwitch);
      await waitFor(() => seen.frames.length > frozenCount + 5, 10_000, 'live data after lifting the kill switch');
      expect(JSON.parse((await redis.get(marketDataKeys.status))!).state).toBe('live');
      expectContiguous(seen.frames);
    } finally {
      seen.close();
      status.close();
      statusSub.disconnect();
    }
  });

  it('reconnects with a rotated key file without a restart; a key without SIP falls back to delayed_sip and says so', { timeout: 30_000 }, async () => {
    const plans = async () => {
      const state = (await (await fetch(`${sim.url}/_control/stream/state`)).json()) as { connections: Array<{ plan: string | null }> };
      return state.connections.map((c) => c.plan);
    };
    expect(await plans()).toEqual(['algo_trader_plus']);
    writeFileSync(join(keyDir, 'secret'), 'feed-secret-2');
    writeFileSync(join(keyDir, 'id'), 'feed-key-2');
    await waitFor(async () => (await plans()).includes('basic'), 15_000, 'the connection on the rotated key');
    // The new key's plan has no SIP: 409, then delayed_sip, and the hub tells every client its data is delayed.
    await waitFor(async () => JSON.parse((await redis.get(marketDataKeys.status)) ?? '{}').state === 'delayed', 10_000, 'delayed hub status');
    const state = (await (await fetch(`${sim.url}/_control/stream/state`)).json()) as { connections: Array<{ feed: string }> };
    expect(state.connections.map((c) => c.feed)).toEqual(['delayed_sip']);
    demand.stop();
    demandRedis.disconnect();
  });
});
