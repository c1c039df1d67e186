// Each role runs alone as a process: port 0 picks a free port, one JSON ready line, health/readiness/metrics, clean stop.
import { afterAll, describe, expect, it } from 'vitest';
import { startRoleProcess, type RoleProcess } from '../../support/processes.js';
import { testRedisUrl } from '../../support/redis.js';

const started: RoleProcess[] = [];
afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
});

function run(role: string, env: Record<string, string | undefined> = {}): RoleProcess {
  const p = startRoleProcess(role, {
    REDIS_URL: testRedisUrl('role-process'),
    DATABASE_URL: process.env.RAXX_TEST_PG_ADMIN_URL,
    DATABASE_BATCH_URL: process.env.RAXX_TEST_PG_ADMIN_URL,
    ...env,
  });
  started.push(p);
  return p;
}

describe('role processes', () => {
  it('two replicas of one role start side by side on free ports, each logging one ready line', async () => {
    const [a, b] = [run('workers'), run('workers')];
    const [ra, rb] = await Promise.all([a.ready, b.ready]);
    expect(ra.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ra.url).not.toBe(rb.url);
    expect(ra.note).toMatch(/BullMQ workers: settle fan-out/);
    const readyLines = a.lines.filter((l) => l.includes('"ready":true'));
    expect(readyLines).toHaveLength(1);
    expect(JSON.parse(readyLines[0]!)).toMatchObject({ role: 'workers', level: 'info', msg: 'ready', url: ra.url });
  });

  it('serves /healthz, /readyz with real Redis and PostgreSQL checks, and /metrics', async () => {
    const p = run('workers');
    const { url } = await p.ready;
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', role: 'workers' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', role: 'workers', checks: { redis: 'ok', postgres: 'ok' } });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/process_cpu_user_seconds_total\{role="workers"\}/);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('reports not ready (503) when a dependency is unreachable, without leaking the connection string', async () => {
    const p = run('accounts', { DATABASE_URL: 'postgres://app:leaky-password@127.0.0.1:1/raxx' });
    const { url } = await p.ready;
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { checks: Record<string, string> };
    expect(body.checks.redis).toBe('ok');
    expect(body.checks.postgres).toMatch(/^failed/);
    expect(JSON.stringify(body)).not.toContain('leaky-password');
  });

  it('the simulator needs neither Redis nor PostgreSQL', async () => {
    const p = run('sim', { SIM_KMS_PORT: '0', REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: 'postgres://x@127.0.0.1:1/x' });
    const { url } = await p.ready;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('stops cleanly on SIGTERM and frees its port', async () => {
    const p = run('workers');
    const { url } = await p.ready;
    const { code } = await p.stop('SIGTERM');
    expect(code).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(p.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });

  it('refuses to start the feed without its market-data key, saying which variables to set', async () => {
    const p = run('feed', { ALPACA_KEY_ID: undefined, ALPACA_SECRET_KEY: undefined, ALPACA_KEY_ID_FILE: undefined, ALPACA_SECRET_KEY_FILE: undefined });
    await expect(p.ready).rejects.toThrow(/ALPACA_KEY_ID_FILE and ALPACA_SECRET_KEY_FILE/);
    expect((await p.exited).code).toBe(1);
  });

  it('rejects an unknown role and a bad variable with clear messages', async () => {
    const unknown = run('frobnicator');
    await expect(unknown.ready).rejects.toThrow(/Unknown role "frobnicator"/);
    expect((await unknown.exited).code).toBe(2);

    const bad = run('gateway', { PORT: 'eighty' });
    await expect(bad.ready).rejects.toThrow(/PORT/);
    expect((await bad.exited).code).not.toBe(0);
  });
});
