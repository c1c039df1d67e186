// Helpers for tests that run real role processes: spawn, read JSON log lines, wait for the ready line, stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface RoleProcess {
  child: ChildProcess;
  lines: string[];
  ready: Promise<{ url: string; note?: string }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnTsx(script: string, args: string[], env: Record<string, string | undefined>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', resolve(repoRoot, script), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function startRoleProcess(role: string, env: Record<string, string | undefined>, readyTimeoutMs = 20_000): RoleProcess {
  const child = spawnTsx('src/main/role.ts', [role], { PORT: '0', LOG_LEVEL: 'info', ...env });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('exit', (code, signal) => res({ code, signal })),
  );
  const ready = new Promise<{ url: string; note?: string }>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${role} not ready in ${readyTimeoutMs} ms:\n${lines.join('\n')}`)), readyTimeoutMs);
    const onLine = (line: string) => {
      lines.push(line);
      try {
        const rec = JSON.parse(line) as { ready?: boolean; url?: string; note?: string };
        if (rec.ready && rec.url) {
          clearTimeout(timer);
          res({ url: rec.url, ...(rec.note ? { note: rec.note } : {}) });
        }
      } catch {
        // non-JSON output is kept in `lines` for diagnostics
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
    void exited.then(() => {
      clearTimeout(timer);
      rej(new Error(`${role} exited before ready:\n${lines.join('\n')}`));
    });
  });
  ready.catch(() => {});
  return {
    child,
    lines,
    ready,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
