// Runs a local redis-server for development and tests (installed with apt when missing and running as root).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DevstackError } from './errors.js';
import { isPortFree, waitFor } from './ports.js';
import { aptInstall, findExecutable, isProcessAlive } from './system.js';

export interface LocalRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface LocalRedisOptions {
  port: number;
  dir: string;
  /** AOF with fsync every second (dev keeps its streams across restarts); off for throw-away test servers. */
  persistent: boolean;
  /** Number of logical databases (Redis default 16); the test suite gives each test file its own. */
  databases?: number;
  log?: (line: string) => void;
}

export async function ensureRedisInstalled(log: (line: string) => void): Promise<string> {
  const found = findExecutable('redis-server');
  if (found) return found;
  log('redis-server not found: installing it');
  await aptInstall(['redis-server'], log);
  const installed = findExecutable('redis-server');
  if (!installed) throw new DevstackError('install_failed', 'redis-server is still missing after apt-get install');
  return installed;
}

export async function startRedis(opts: LocalRedisOptions): Promise<LocalRedis> {
  const log = opts.log ?? (() => {});
  const binary = await ensureRedisInstalled(log);
  mkdirSync(opts.dir, { recursive: true });
  await stopStaleRedis(opts.dir, log);
  if (!(await isPortFree(opts.port))) {
    throw new DevstackError('port_in_use', `Port ${opts.port} is already in use, so Redis cannot start there. Stop what listens on it or set REDIS_URL to another port.`);
  }
  const args = [
    '--bind', '127.0.0.1',
    '--port', String(opts.port),
    '--dir', opts.dir,
    '--daemonize', 'no',
    '--pidfile', join(opts.dir, 'redis.pid'),
    '--logfile', join(opts.dir, 'redis.log'),
    '--save', '',
    '--protected-mode', 'yes',
    ...(opts.databases ? ['--databases', String(opts.databases)] : []),
    ...(opts.persistent ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
  ];
  const child = spawn(binary, args, { stdio: 'ignore', detached: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `redis://127.0.0.1:${opts.port}`;
  try {
    await Promise.race([
      waitFor(() => ping(url), 15_000, 'Redis to answer PING'),
      exited.then((code) => {
        throw new DevstackError('start_failed', `redis-server exited with code ${code}; see ${join(opts.dir, 'redis.log')}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  log(`Redis ready on ${url} (${opts.persistent ? 'AOF everysec' : 'no persistence'}, data in ${opts.dir})`);

  let stopping: Promise<void> | undefined;
  return {
    url,
    pid: child.pid!,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM'); // redis flushes the AOF on SIGTERM
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

async function ping(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}

/** A previous run killed with SIGKILL leaves its redis-server behind; it owns our data dir, so stop it. */
async function stopStaleRedis(dir: string, log: (line: string) => void): Promise<void> {
  const pidFile = join(dir, 'redis.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return;
  const cmdline = readCmdline(pid);
  if (!cmdline.includes('redis-server')) return;
  log(`stopping a redis-server left over from an earlier run (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  await waitFor(async () => !isProcessAlive(pid), 10_000, `old redis-server ${pid} to exit`);
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
