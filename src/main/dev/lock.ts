// Lets only one `npm start` run per stack folder, and says which one holds it.
import { openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { DevstackError, isProcessAlive } from '../../devstack/index.js';

export interface DevLock {
  release(): void;
}

interface LockBody {
  pid: number;
  statusUrl: string;
  startedAt: string;
}

export function acquireDevLock(dir: string, statusUrl: string): DevLock {
  const path = join(dir, 'dev.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      const body: LockBody = { pid: process.pid, statusUrl, startedAt: new Date().toISOString() };
      writeSync(fd, JSON.stringify(body));
      closeSync(fd);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readLock(path);
      if (holder && holder.pid !== process.pid && isProcessAlive(holder.pid)) {
        throw new DevstackError(
          'already_running',
          `Raxx Stream is already running from this checkout (pid ${holder.pid}, started ${holder.startedAt}); open ${holder.statusUrl} or stop it with Ctrl-C first.`,
        );
      }
      rmSync(path, { force: true }); // stale: its owner died without cleaning up
    }
  }
  throw new DevstackError('already_running', `Could not take the lock ${path}`);
}

function readLock(path: string): LockBody | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockBody;
  } catch {
    return undefined;
  }
}
