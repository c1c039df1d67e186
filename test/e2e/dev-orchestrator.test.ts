// `npm start` end to end: own Redis + PostgreSQL, migrations, seed, every role ready; a second start refused; SIGINT leaves nothing behind.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { freePort, isPortFree, isProcessAlive } from '../../src/devstack/index.js';
import { spawnTsx } from '../support/processes.js';

interface StatusJson {
  roles: Array<{ name: string; pid: number; state: string; url: string; healthz: number; readyz: number; checks: Record<string, string> }>;
  services: Array<{ name: string; url: string; pid?: number; managed: boolean }>;
}

const dataDir = mkdtempSync(join(tmpdir(), 'raxx-dev-'));
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function listenerPids(port: number): number[] {
  const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

function environOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return '';
  }
}

async function devEnv(): Promise<Record<string, string>> {
  const [redisPort, pgPort, statusPort] = await Promise.all([freePort(), freePort(), freePort()]);
  return {
    DEV_DATA_DIR: dataDir,
    DEV_STATUS_PORT: String(statusPort),
    DEV_SIM_PORT: '0',
    SIM_KMS_PORT: '0',
    DEV_GATEWAY_PORT: '0',
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    DATABASE_URL: `postgres://raxx_app@127.0.0.1:${pgPort}/raxx`,
    DATABASE_BATCH_URL: `postgres://raxx_batch@127.0.0.1:${pgPort}/raxx`,
    DATABASE_MIGRATION_URL: `postgres://postgres@127.0.0.1:${pgPort}/raxx`,
  };
}

describe('npm start (dev orchestrator)', () => {
  it('starts everything, refuses a second instance, and stops cleanly on SIGINT', { timeout: 120_000 }, async () => {
    const env = await devEnv();
    const dev = spawnTsx('src/main/dev.ts', [], env);
    const output: string[] = [];
    const exited = new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code)));
    const up = new Promise<string>((resolve, reject) => {
      createInterface({ input: dev.stdout! }).on('line', (line) => {
        output.push(line);
        const m = /Raxx Stream is up\. Open (\S+)/.exec(line);
        if (m) resolve(m[1]!);
      });
      createInterface({ input: dev.stderr! }).on('line', (line) => output.push(line));
      void exited.then((code) => reject(new Error(`npm start exited (${code}) before it was up:\n${output.join('\n')}`)));
    });

    try {
      const statusUrl = await up;
      expect(statusUrl).toBe(`http://127.0.0.1:${env.DEV_STATUS_PORT}/`);

      const status = (await (await fetch(`${statusUrl}status.json`)).json()) as StatusJson;
      expect(status.roles.map((r) => r.name).sort()).toEqual(['accounts', 'feed', 'gateway', 'sim', 'workers']);
      for (const role of status.roles) {
        expect(role.state, role.name).toBe('ready');
        expect(role.healthz, role.name).toBe(200);
        expect(role.readyz, role.name).toBe(200);
        const ready = await fetch(`${role.url}/readyz`);
        expect(ready.status, role.name).toBe(200);
      }
      expect(status.roles.find((r) => r.name === 'gateway')!.checks).toEqual({ redis: 'ok', postgres: 'ok' });
      const page = await (await fetch(statusUrl)).text();
      expect(page).toContain('Raxx Stream');
      expect(page).toContain('README.md');
      expect(output.some((l) => l.startsWith('[workers]') && l.includes('BullMQ workers: settle fan-out'))).toBe(true);

      // Migrations ran and the demo users of each tier exist.
      const pgUrl = env.DATABASE_MIGRATION_URL!;
      const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
      try {
        const tiers = await sql<{ id: string; tier: string }[]>`select id, tier::text from users order by id`;
        expect(tiers.map((u) => u.tier).sort()).toEqual(expect.arrayContaining(['free', 'pro', 'pro_plus']));
      } finally {
        await sql.end();
      }

      // A second start with the same data dir is refused with a clear message and leaves the first alone.
      const second = spawnTsx('src/main/dev.ts', [], env);
      let secondOut = '';
      second.stdout!.on('data', (d) => (secondOut += String(d)));
      second.stderr!.on('data', (d) => (secondOut += String(d)));
      const secondCode = await new Promise<number | null>((resolve) => second.once('exit', (code) => resolve(code)));
      expect(secondCode).toBe(1);
      expect(secondOut).toMatch(/already running .*pid \d+/);
      expect((await fetch(`${statusUrl}status.json`)).status).toBe(200);

      // Everything that must be gone after Ctrl-C.
      const pids = [...status.roles.map((r) => r.pid), ...status.services.map((s) => s.pid!).filter(Boolean)];
      expect(pids.length).toBe(7); // five roles, Redis, PostgreSQL
      const ports = [
        Number(env.DEV_STATUS_PORT),
        Number(new URL(env.REDIS_URL!).port),
        Number(new URL(env.DATABASE_URL!).port),
        ...status.roles.map((r) => Number(new URL(r.url).port)),
      ];

      dev.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const pid of pids) expect(isProcessAlive(pid), `pid ${pid} survived`).toBe(false);
      for (const port of ports) {
        if (await isPortFree(port)) continue;
        // Other test files run in parallel and the kernel hands out freed ports again: a bound port only
        // counts against us if its listener belongs to this stack (carries our DEV_DATA_DIR).
        for (const pid of listenerPids(port)) expect(environOf(pid), `port ${port} held by a leftover of this stack (pid ${pid})`).not.toContain(dataDir);
      }
      expect(output.join('\n')).toContain('stopped.');
    } finally {
      if (dev.exitCode === null) dev.kill('SIGKILL');
    }
  });
});
