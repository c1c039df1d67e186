// A slow consumer: its outbox passes GATEWAY_MAX_BACKPRESSURE_BYTES, market data is skipped (socket not closed), and on
// drain it gets a fresh last-known-good snapshot (latest per symbol wins). Redis DB 6, symbol GWF.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createDb, seedDemoUsers } from '../../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { marketDataKeys } from '../../../src/contracts/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { metricValue, signSession, startTestGatewayRole, type TestGatewayRole } from '../../support/gateway.js';
import { testRedisUrl } from '../../support/redis.js';
import { sleep, waitFor } from '../../support/wait.js';

const SECRET = 'gateway-bp-secret-0123456789abcdef';
const ORIGIN = 'http://127.0.0.1:8720';
const redisUrl = () => testRedisUrl('server-backpressure');

let t: TestDatabase;
let redis: Redis;
let role: TestGatewayRole;

beforeAll(async () => {
  t = await createTestDatabase('raxx_gwbp');
  const app = createDb(t.appUrl, { max: 1 });
  await seedDemoUsers(app.db);
  await app.close();
  redis = createRedis(redisUrl(), 'gw-bp-test');
  role = await startTestGatewayRole({
    REDIS_URL: redisUrl(),
    DATABASE_URL: t.appUrl,
    SESSION_JWT_SECRET: SECRET,
    GATEWAY_ALLOWED_ORIGINS: ORIGIN,
    GATEWAY_HEARTBEAT_MS: '100',
    GATEWAY_MAX_BACKPRESSURE_BYTES: String(256 * 1024),
    GATEWAY_PACK_WINDOW_MS: '0',
  });
});

afterAll(async () => {
  await role?.stop();
  await closeRedis(redis);
  await t?.drop();
});

const pad = 'x'.repeat(60_000);
const frame = (seq: number) => `{"T":"q","S":"GWF","bp":1,"bs":1,"ap":2,"as":1,"pad":"${pad}","t":"2026-03-02T14:30:00Z","src":"rt","seq":${seq}}`;

describe('slow consumers', () => {
  it('skips a paused socket above maxBackpressure without closing it, then sends a fresh snapshot once it drains', async () => {
    const token = await signSession('demo-pro', SECRET);
    const ws = new WebSocket(role.wsUrl, { headers: { Origin: ORIGIN, Authorization: `Bearer ${token}` } });
    const arrays: Array<Array<{ src: string; seq: number }>> = [];
    let closedCode: number | undefined;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as unknown;
      if (Array.isArray(m)) arrays.push(m as Array<{ src: string; seq: number }>);
    });
    ws.on('close', (code) => (closedCode = code));
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    ws.send(JSON.stringify({ action: 'subscribe', quotes: ['GWF'] }));
    await sleep(200);

    // Stop reading: kernel buffers fill, then uWS's outbox, then publishes to this socket are skipped.
    const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const N = 400; // ~24 MB
    for (let seq = 1; seq <= N; seq++) {
      const f = frame(seq);
      await redis.multi().hset(marketDataKeys.lkg, 'q:GWF', f).publish('md:rt:q:GWF', f).exec();
    }
    await sleep(500);
    socket.resume();

    await waitFor(() => arrays.some((a) => a[0]!.src === 'lkg' && a[0]!.seq === N), 10_000, 'snapshot after drain');
    const rt = arrays.filter((a) => a[0]!.src === 'rt').length;
    expect(rt).toBeGreaterThan(0);
    expect(rt).toBeLessThan(N); // some were skipped while the outbox was full
    expect(closedCode).toBeUndefined();
    const text = await (await fetch(`${role.opsUrl}/metrics`)).text();
    expect(metricValue(text, 'raxx_gateway_drain_snapshots_total')).toBeGreaterThanOrEqual(1);
    ws.close();
  });
});
