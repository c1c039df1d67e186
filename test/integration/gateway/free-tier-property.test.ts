// Property: a socket of a Free user never receives a real-time (`rt`) frame, whatever it sends — random sequences of
// subscribe / unsubscribe / resume / junk, interleaved with tier changes (DB + users:tier-changed) — while the real
// feed publish path (fenced Lua script, delay line) keeps real-time and delayed frames flowing on the same symbols.
// In-process gateway on real Redis (DB 10; symbols FTP*) and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { sql } from 'drizzle-orm';
import { loadConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/infra/logging/index.js';
import { createMetricsRegistry } from '../../../src/infra/metrics/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { DelayConsumer, LeaderLease, TickPublisher } from '../../../src/infra/market-data/index.js';
import { marketDataKeys } from '../../../src/contracts/index.js';
import { startGatewayRole } from '../../../src/main/roles/gateway.js';
import type { RoleContext } from '../../../src/main/role-context.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';

const SECRET = 'free-tier-property-secret-0123456789ab';
const ORIGIN = 'http://127.0.0.1:8720';
const SYMBOLS = ['FTPA', 'FTPB'] as const;
const RUNS = 60;
const redisUrl = testRedisUrl('free-tier-property');

let t: TestDatabase;
let batch: DbHandle;
let redis: Redis;
let wsUrl: string;
const shutdown: Array<() => Promise<void> | void> = [];
let stopFeed: () => Promise<void>;

/** The feed's real publish path, without an upstream: fenced batches of q/t/b ticks every 5 ms, delay line 300 ms. */
async function startFakeUpstream(): Promise<() => Promise<void>> {
  const lease = new LeaderLease(redis);
  const owner = `free-tier-property:${process.pid}`;
  const { epoch, leader } = await lease.acquireOrRenew(owner, 60_000);
  if (!leader) throw new Error('another feed holds the lease in Redis DB 10');
  const publisher = new TickPublisher(redis, { conflateMs: 100 });
  const delay = new DelayConsumer(redis, { delayMs: 300 });
  let n = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      n += 1;
      const t = new Date().toISOString().replace('Z', '000000Z');
      const ticks = SYMBOLS.flatMap((S) => [
        { kind: 'q' as const, symbol: S, body: `{"T":"q","S":"${S}","bx":"V","bp":${10 + n / 1000},"bs":1,"ax":"V","ap":${10.01 + n / 1000},"as":1,"c":["R"],"z":"C","t":"${t}"` },
        { kind: 't' as const, symbol: S, body: `{"T":"t","S":"${S}","i":${n},"x":"V","p":10,"s":1,"c":["@"],"z":"C","t":"${t}"` },
        { kind: 's' as const, symbol: S, body: `{"T":"s","S":"${S}","sc":"T","sm":"","rc":"","rm":"","z":"C","t":"${t}"` },
        { kind: 'b' as const, symbol: S, body: `{"T":"b","S":"${S}","o":1,"h":1,"l":1,"c":1,"v":1,"t":"${t}"` },
      ]);
      await publisher.publishTicks(epoch, ticks);
      if (n % 10 === 0) await delay.releaseDue(epoch);
      await sleep(5);
    }
  })();
  return async () => {
    running = false;
    await loop;
    await lease.release(owner, epoch);
  };
}

// ---- one socket and the property's bookkeeping ----

interface Session {
  ws: WebSocket;
  /** True while the server-side tier is Free: from the welcome, and from each `{"T":"tier","tier":"free"}` on. */
  strictFree: boolean;
  violations: string[];
  tiers: string[];
  counts: { rt: number; delayed: number; lkg: number };
  closed: boolean;
}

async function open(user: string): Promise<Session> {
  const token = await new SignJWT({ role: 'user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuer('raxx-dev-issuer')
    .setAudience('raxx-stream')
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
  const ws = new WebSocket(wsUrl, { headers: { Origin: ORIGIN, Authorization: `Bearer ${token}` } });
  const s: Session = { ws, strictFree: false, violations: [], tiers: [], counts: { rt: 0, delayed: 0, lkg: 0 }, closed: false };
  ws.on('close', () => (s.closed = true));
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as Record<string, unknown> | Array<Record<string, string>>;
    if (Array.isArray(msg)) {
      for (const f of msg) {
        s.counts[f.src as keyof Session['counts']] += 1;
        if (f.src === 'rt' && s.strictFree) s.violations.push(`${f.T}:${f.S}:${f.seq}`);
      }
    } else if (msg.T === 'welcome' || msg.T === 'tier') {
      s.tiers.push(msg.tier as string);
      if (msg.tier === 'free') s.strictFree = true;
    }
  });
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  await waitFor(() => s.tiers.length > 0, 3_000, 'welcome');
  return s;
}

// ---- actions ----

const CHANNELS = ['quotes', 'trades', 'statuses', 'bars', 'updatedBars', 'lulds', 'depth'] as const;
const KEYS = SYMBOLS.flatMap((S) => ['q', 't', 's', 'b'].map((k) => `${k}:${S}`));

type Action =
  | { type: 'subscribe' | 'unsubscribe'; channels: string[]; symbols: string[]; resume: Record<string, number> }
  | { type: 'tier'; tier: 'free' | 'pro' | 'pro_plus' }
  | { type: 'junk'; text: string }
  | { type: 'pause'; ms: number };

const symbolsArb = fc.subarray([...SYMBOLS, 'ftpa', 'NOPE!'], { minLength: 1 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('subscribe' as const), channels: fc.subarray([...CHANNELS], { minLength: 1 }), symbols: symbolsArb, resume: fc.dictionary(fc.constantFrom(...KEYS), fc.integer({ min: 0, max: 1_000_000 }), { maxKeys: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('unsubscribe' as const), channels: fc.subarray([...CHANNELS], { minLength: 1 }), symbols: symbolsArb, resume: fc.constant({}) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('tier' as const), tier: fc.constantFrom('free' as const, 'pro' as const, 'pro_plus' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('junk' as const), text: fc.constantFrom('{nope', '{"action":"launch"}', '{"action":"subscribe","quotes":"FTPA"}', '[]', '{"action":"ping"}') }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('pause' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);

/** Resume seqs near the real ones, so a resume would replay real-time frames if the gateway let it. */
async function nearRealSeqs(resume: Record<string, number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [key, offset] of Object.entries(resume)) {
    const seq = Number((await redis.hget(marketDataKeys.seq, key)) ?? 0);
    out[key] = Math.max(0, seq - (offset % 50));
  }
  return out;
}

async function run(s: Session, user: string, actions: Action[]): Promise<void> {
  let tier: 'free' | 'pro' | 'pro_plus' = 'free';
  for (const a of actions) {
    if (s.closed) return; // a flood close (1008) is a legal answer to junk
    if (a.type === 'pause') await sleep(a.ms);
    else if (a.type === 'junk') s.ws.send(a.text);
    else if (a.type === 'tier') {
      if (a.tier === tier) continue;
      // Leaving Free: from the moment the row changes, real-time frames are the user's right.
      if (tier === 'free') s.strictFree = false;
      const seen = s.tiers.length;
      await batch.db.execute(sql`update users set tier = ${a.tier} where id = ${user}`);
      await redis.publish('users:tier-changed', user);
      tier = a.tier;
      await waitFor(() => s.tiers.length > seen || s.closed, 3_000, `the tier change to ${a.tier} to reach the socket`);
    } else {
      const msg: Record<string, unknown> = { action: a.type };
      for (const c of a.channels) msg[c] = a.symbols;
      if (a.type === 'subscribe' && Object.keys(a.resume).length > 0) msg.resume = await nearRealSeqs(a.resume);
      s.ws.send(JSON.stringify(msg));
    }
  }
  await sleep(150); // frames already on their way still count
}

// ---- set-up ----

beforeAll(async () => {
  t = await createTestDatabase('raxx_ftp');
  batch = createDb(t.batchUrl, { max: 2 });
  const ids = Array.from({ length: RUNS * 15 }, (_, i) => `ftp-${i}`);
  await batch.db.execute(sql`insert into users (id, tier) values ${sql.join(ids.map((id) => sql`(${id}, 'free')`), sql`, `)}`);
  redis = createRedis(redisUrl, 'ftp-test');
  await redis.flushdb(); // DB 10 belongs to this file
  const config = loadConfig({
    RAXX_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    REDIS_URL: redisUrl,
    DATABASE_URL: t.appUrl,
    SESSION_JWT_SECRET: SECRET,
    GATEWAY_ALLOWED_ORIGINS: ORIGIN,
    GATEWAY_PACK_WINDOW_MS: '1',
  });
  const { logger, redactor } = createLogger({ role: 'gateway', level: 'silent' });
  const ctx: RoleContext = { role: 'gateway', config, logger, redactor, metrics: createMetricsRegistry('gateway'), onShutdown: (step) => shutdown.push(step) };
  wsUrl = `${(await startGatewayRole(ctx)).url.replace(/^http/, 'ws')}/ws`;
  stopFeed = await startFakeUpstream();
});

afterAll(async () => {
  await stopFeed?.();
  for (const step of shutdown.reverse()) await step();
  await closeRedis(redis);
  await batch?.close();
  await t?.drop();
});

describe('Free tier, property-based', () => {
  it(`a Free socket never receives a real-time frame, whatever it sends (${RUNS} random sessions)`, { timeout: 45_000 }, async () => {
    let next = 0;
    const totals = { rt: 0, delayed: 0, lkg: 0, retiers: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 1, maxLength: 14 }), async (actions) => {
        const user = `ftp-${next++}`;
        const s = await open(user);
        try {
          await run(s, user, actions);
          totals.rt += s.counts.rt;
          totals.delayed += s.counts.delayed;
          totals.lkg += s.counts.lkg;
          totals.retiers += s.tiers.length - 1;
          expect(s.violations).toEqual([]);
        } finally {
          s.ws.terminate();
        }
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: Free sockets did get delayed data, paid ones real-time, and tiers did change under open sockets.
    expect(totals.delayed).toBeGreaterThan(0);
    expect(totals.rt).toBeGreaterThan(0);
    expect(totals.retiers).toBeGreaterThan(0);
  });
});
