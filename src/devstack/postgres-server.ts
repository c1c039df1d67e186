// Runs a local PostgreSQL 15 for development and tests, as the `postgres` user when we are root (it refuses root).
import { existsSync, mkdirSync, chmodSync, chownSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import postgres from 'postgres';
import { DevstackError } from './errors.js';
import { isPortFree, waitFor } from './ports.js';
import { aptInstall, isRoot, run } from './system.js';

export const PG_MAJOR = 15;
const BIN_DIR = `/usr/lib/postgresql/${PG_MAJOR}/bin`;
const PG_USER = 'postgres';

export interface LocalPostgres {
  /** Superuser URL to the `postgres` database. */
  adminUrl: string;
  port: number;
  dataDir: string;
  /** The postmaster's pid (pg_ctl daemonises it, so it is not our child). */
  pid: number;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  port: number;
  /** Parent folder: the cluster lives in `<dir>/data`, the socket and log beside it. */
  dir: string;
  /** Throw-away clusters skip fsync for speed; dev keeps its data safe. */
  durable: boolean;
  /** Extra server settings (`name=value`), e.g. a benchmark's statement statistics. */
  settings?: readonly string[];
  log?: (line: string) => void;
}

export async function ensurePostgresInstalled(log: (line: string) => void): Promise<string> {
  if (existsSync(join(BIN_DIR, 'postgres'))) return BIN_DIR;
  log(`PostgreSQL ${PG_MAJOR} not found: installing postgresql-${PG_MAJOR}`);
  await aptInstall([`postgresql-${PG_MAJOR}`], log);
  if (!existsSync(join(BIN_DIR, 'postgres'))) throw new DevstackError('install_failed', `postgresql-${PG_MAJOR} is still missing after apt-get install`);
  return BIN_DIR;
}

/** The uid/gid the server runs as: `postgres` when we are root, ourselves otherwise. */
function serverOwner(): { user: string | undefined; uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, PG_USER], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0) throw new DevstackError('missing_dependency', `The "${PG_USER}" system user is missing; reinstall postgresql-${PG_MAJOR}.`);
  return { user: PG_USER, uid, gid };
}

export async function startPostgres(opts: LocalPostgresOptions): Promise<LocalPostgres> {
  const log = opts.log ?? (() => {});
  const bin = await ensurePostgresInstalled(log);
  const owner = serverOwner();
  const user = owner?.user;
  const dataDir = join(opts.dir, 'data');
  const logFile = join(opts.dir, 'postgres.log');
  mkdirSync(opts.dir, { recursive: true });
  chmodSync(opts.dir, 0o755);
  if (owner) chownSync(opts.dir, owner.uid, owner.gid);

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`initialising a PostgreSQL ${PG_MAJOR} cluster in ${dataDir}`);
    await run(user, join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  } else {
    await stopStalePostgres(bin, user, dataDir, log);
  }
  if (!(await isPortFree(opts.port))) {
    throw new DevstackError('port_in_use', `Port ${opts.port} is already in use, so PostgreSQL cannot start there. Stop what listens on it or set DATABASE_*_URL to another port.`);
  }
  const settings = [
    `-p ${opts.port}`,
    `-c listen_addresses=127.0.0.1`,
    `-c unix_socket_directories=${opts.dir}`,
    '-c max_connections=200',
    ...(opts.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
    ...(opts.settings ?? []).map((s) => `-c ${s}`),
  ].join(' ');
  try {
    await run(user, join(bin, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-t', '30', '-o', settings, 'start']);
  } catch {
    throw new DevstackError('start_failed', `PostgreSQL did not start; see ${logFile}`);
  }
  const adminUrl = `postgres://postgres@127.0.0.1:${opts.port}/postgres`;
  await waitFor(() => canQuery(adminUrl), 15_000, 'PostgreSQL to accept queries');
  log(`PostgreSQL ${PG_MAJOR} ready on 127.0.0.1:${opts.port} (data in ${dataDir})`);

  let stopping: Promise<void> | undefined;
  return {
    adminUrl,
    port: opts.port,
    dataDir,
    pid: readPostmasterPid(dataDir),
    stop: () =>
      (stopping ??= run(user, join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']).then(
        () => undefined,
        () => undefined,
      )),
  };
}

async function canQuery(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** A previous run killed with SIGKILL leaves its postmaster running on our data dir: stop it first. */
async function stopStalePostgres(bin: string, user: string | undefined, dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  log(`stopping a PostgreSQL left over from an earlier run (pid ${readPostmasterPid(dataDir)})`);
  await run(user, join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
}

function readPostmasterPid(dataDir: string): number {
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}
