// Dev-stack placement rules: PostgreSQL data moves out of a checkout the `postgres` user cannot reach; stale locks are taken over.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseStackDirs, DevstackError } from '../../../src/devstack/index.js';
import { acquireDevLock } from '../../../src/main/dev/lock.js';

const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

const isRoot = process.getuid?.() === 0;

describe('chooseStackDirs', () => {
  it('keeps PostgreSQL data in the checkout when the postgres user can reach it', () => {
    const home = mkdtempSync(join(tmpdir(), 'raxx-open-'));
    chmodSync(home, 0o755);
    cleanup.push(home);
    const dirs = chooseStackDirs(home, join(home, '.stack'));
    expect(dirs.postgres).toBe(join(home, '.stack', 'postgres'));
    expect(dirs.redis).toBe(join(home, '.stack', 'redis'));
  });

  it.runIf(isRoot)('moves PostgreSQL data outside a checkout under a 0700 home directory', () => {
    const home = mkdtempSync(join(tmpdir(), 'raxx-closed-')); // mkdtemp makes it 0700
    expect(statSync(home).mode & 0o777).toBe(0o700);
    cleanup.push(home);
    const dirs = chooseStackDirs(home, join(home, '.stack'));
    expect(dirs.postgres.startsWith('/var/tmp/raxx-stream-')).toBe(true);
    expect(existsSync(dirs.postgres.replace(/\/postgres$/, ''))).toBe(true);
    cleanup.push(dirs.postgres.replace(/\/postgres$/, ''));
    // Same checkout, same place: data survives between runs.
    expect(chooseStackDirs(home, join(home, '.stack')).postgres).toBe(dirs.postgres);
  });
});

describe('acquireDevLock', () => {
  it('refuses while the holder lives and takes over a stale lock', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raxx-lock-'));
    cleanup.push(dir);
    // A lock held by a live process (the test runner's parent stands in for a running `npm start`).
    writeFileSync(join(dir, 'dev.lock'), JSON.stringify({ pid: process.ppid, statusUrl: 'http://127.0.0.1:1/', startedAt: 'earlier' }));
    expect(() => acquireDevLock(dir, 'http://127.0.0.1:2/')).toThrow(DevstackError);
    expect(() => acquireDevLock(dir, 'http://127.0.0.1:2/')).toThrow(/already running .*pid \d+.*http:\/\/127\.0\.0\.1:1\//);

    // A lock whose holder died (pid beyond pid_max) is stale.
    writeFileSync(join(dir, 'dev.lock'), JSON.stringify({ pid: 2 ** 30, statusUrl: 'x', startedAt: 'earlier' }));
    const lock = acquireDevLock(dir, 'http://127.0.0.1:2/');
    expect(existsSync(join(dir, 'dev.lock'))).toBe(true);
    lock.release();
    expect(existsSync(join(dir, 'dev.lock'))).toBe(false);
  });
});
