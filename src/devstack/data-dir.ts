// Where the dev stack keeps Redis and PostgreSQL data between runs.
import { createHash } from 'node:crypto';
import { mkdirSync, chmodSync, chownSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isRoot, userCanWrite } from './system.js';

export interface StackDirs {
  /** Lock file, Redis data, secrets for dev: always inside the chosen stack folder. */
  root: string;
  redis: string;
  /** PostgreSQL must be reachable by the `postgres` user, so it may live outside the checkout. */
  postgres: string;
}

/**
 * `<checkout>/.stack` (git-ignored) when the `postgres` user can reach it; otherwise the cluster goes to a
 * per-checkout folder under /var/tmp, so a checkout inside a 0700 home directory still works.
 */
export function chooseStackDirs(checkout: string, explicit?: string): StackDirs {
  const root = resolve(explicit ?? join(checkout, '.stack'));
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);
  const inside = join(root, 'postgres');
  let postgresDir = inside;
  if (isRoot() && !postgresCanUse(inside)) {
    const key = createHash('sha256').update(root).digest('hex').slice(0, 12);
    const outside = join(process.platform === 'linux' ? '/var/tmp' : tmpdir(), `raxx-stream-${key}`);
    mkdirSync(outside, { recursive: true });
    chmodSync(outside, 0o755);
    postgresDir = join(outside, 'postgres');
  }
  return { root, redis: join(root, 'redis'), postgres: postgresDir };
}

/** Hands the folder to `postgres` and checks it can really get there (every parent must let it through). */
function postgresCanUse(dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
  if (!ids || !gid) return false;
  chownSync(dir, Number(ids), Number(gid));
  return userCanWrite('postgres', dir);
}
