// Small helpers for running system programs (apt, runuser, servers) from the dev stack.
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { DevstackError } from './errors.js';

const execFileAsync = promisify(execFile);

export const isRoot = (): boolean => process.getuid?.() === 0;

export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

let aptUpdated = false;

/** Installs Debian packages when running as root; otherwise explains what to install. */
export async function aptInstall(packages: string[], log: (line: string) => void): Promise<void> {
  if (!isRoot() || !findExecutable('apt-get')) {
    throw new DevstackError(
      'missing_dependency',
      `Missing ${packages.join(', ')}. Install it with: sudo apt-get install -y ${packages.join(' ')} (or run as root and it is installed for you).`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    if (!aptUpdated) {
      log('apt-get update');
      await execFileAsync('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
      aptUpdated = true;
    }
    log(`apt-get install -y ${packages.join(' ')}`);
    await execFileAsync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    throw new DevstackError('install_failed', `apt-get could not install ${packages.join(' ')}: ${stderr || (err as Error).message}`);
  }
}

/** Runs a command as another user (root only); as a normal user runs it directly. */
export function asUser(user: string | undefined, command: string, args: string[]): [string, string[]] {
  if (!user || !isRoot()) return [command, args];
  return ['runuser', ['-u', user, '--', command, ...args]];
}

export async function run(user: string | undefined, command: string, args: string[]): Promise<string> {
  const [cmd, argv] = asUser(user, command, args);
  const { stdout } = await execFileAsync(cmd, argv, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** True when `user` can create files in `dir` (it must reach every parent). */
export function userCanWrite(user: string, dir: string): boolean {
  if (!isRoot()) return true;
  return spawnSync('runuser', ['-u', user, '--', 'test', '-w', dir]).status === 0;
}

/** True while the process runs; an exited process its parent has not reaped yet (a zombie) counts as gone. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; the comm may contain spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill(0) is the best we know
  }
}
