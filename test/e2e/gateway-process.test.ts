// The gateway as a real process (`role.ts gateway`): native uWS, ready line, dev token → live frames, SIGTERM → 1001.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../support/redis.js';
import WebSocket from 'ws';
import { createDb, seedDemoUsers } from '../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../src/infra/redis/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startRoleProcess, type RoleProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const ORIGIN = 'http://localhost:8720';
const redisUrl = () => testRedisUrl('gateway-process');

let t: TestDatabase;
let redis: Redis;
let gw: RoleProcess;

beforeAll(async () => {
  t = await createTestDatabase('raxx_gwp');
  const app = createDb(t.appUrl, { max: 1 });
  await seedDemoUsers(app.db);
  await app.close();
  redis = createRedis(redisUrl(), 'gw-e2e');
  gw = startRoleProcess('gateway', {
    RAXX_ENV: 'test',
    REDIS_URL: redisUrl(),
    DATABASE_URL: t.appUrl,
    SESSION_JWT_SECRET: 'gateway-e2e-secret-0123456789abcdef',
    GATEWAY_ALLOWED_ORIGINS: ORIGIN,
  });
});

afterAll(async () => {
  await gw?.stop('SIGKILL');
  await closeRedis(redis);
  await t?.drop();
});

describe('gateway process', () => {
  it('loads the native uWS addon, serves a dev-token session end to end, and closes sockets with 1001 on SIGTERM', async () => {
    const { url, note } = await gw.ready;
    expect(note).toContain('/ws');
    expect(readFileSync(`/proc/${gw.child.pid}/maps`, 'utf8')).toContain('uws_linux_x64_115.node');
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    const res = await fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"demo-pro-plus"}' });
    const { token, tier } = (await res.json()) as { token: string; tier: string };
    expect(tier).toBe('pro_plus');

    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { headers: { Origin: ORIGIN, Authorization: `Bearer ${token}` } });
    const messages: unknown[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    await new Promise<void>((r, j) => {
      ws.once('open', () => r());
      ws.once('error', j);
    });
    // Functional deadlines with room for a loaded CI machine (a 3 s one was missed there once); a miss says what the
    // client got and what the gateway logged.
    const within = async (what: string, cond: () => boolean): Promise<void> => {
      await waitFor(cond, 10_000, what).catch((err: Error) => {
        throw new Error(`${err.message}\nclient got: ${JSON.stringify(messages)}\ngateway logged:\n${gw.lines.slice(-30).join('\n')}`);
      });
    };
    ws.send(JSON.stringify({ action: 'subscribe', trades: ['GWP'] }));
    await within('ack', () => messages.some((m) => (m as { T?: string }).T === 'subscription'));
    const frame = '{"T":"t","S":"GWP","p":1.5,"s":10,"i":1,"x":"V","c":["@"],"z":"C","t":"2026-03-02T14:30:00.000000001Z","src":"rt","seq":1}';
    await redis.publish('md:rt:t:GWP', frame);
    await within('live frame', () => messages.some((m) => Array.isArray(m) && (m[0] as { S?: string }).S === 'GWP'));
    expect(messages.find(Array.isArray)).toEqual([JSON.parse(frame)]);

    const stopped = gw.stop('SIGTERM');
    expect(await closed).toBe(1001);
    expect((await stopped).code).toBe(0);
    expect(gw.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});
