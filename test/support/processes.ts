// Helpers for tests that run real role processes: spawn, read JSON log lines, wait for the ready line, stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { ROLE_NODE_FLAGS } from '../../src/main/node-flags.js';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface RoleProcess {
  child: ChildProcess;
  lines: string[];
  ready: Promise<{ url: string; note?: string }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; with `graceMs`, SIGKILLs a process still running then. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnTsx(script: string, args: string[], env: Record<string, string | undefined>, nodeFlags: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeFlags, '--import', 'tsx', resolve(repoRoot, script), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs a CLI (`src/main/…`) as a child process to completion, with its whole output. */
export function runCli(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawnTsx(script, args, env);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  // 'close', not 'exit': 'exit' can come before the last of the child's output has been read (seen under load: an
  // export that exited 0 with its output still in the pipe).
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

export function startRoleProcess(role: string, env: Record<string, string | undefined>, readyTimeoutMs = 20_000): RoleProcess {
  return watchRoleProcess(role, spawnTsx('src/main/role.ts', [role], { PORT: '0', LOG_LEVEL: 'info', ...env }, ROLE_NODE_FLAGS), readyTimeoutMs);
}

/** A spawned role process (stdout/stderr piped): its JSON log lines, the ready line, and stop. */
export function watchRoleProcess(role: string, child: ChildProcess, readyTimeoutMs = 20_000): RoleProcess {
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('close', (code, signal) => res({ code, signal })), // after its last log line was read
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
    const out = createInterface({ input: child.stdout! }).on('line', onLine);
    const err = createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
    // The last lines (the reason it died) arrive after 'exit': wait for both pipes to close before reporting.
    const drained = Promise.all([new Promise((r) => out.once('close', r)), new Promise((r) => err.once('close', r))]);
    void exited.then(async ({ code, signal }) => {
      clearTimeout(timer);
      await Promise.race([drained, new Promise((r) => setTimeout(r, 1000))]);
      rej(new Error(`${role} exited (code ${code}, signal ${signal}) before ready:\n${lines.join('\n')}`));
    });
  });
  ready.catch(() => {});
  return {
    child,
    lines,
    ready,
    exited,
    stop: async (signal = 'SIGTERM', graceMs?: number) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      if (graceMs === undefined) return exited;
      const timer = setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), graceMs);
      return exited.finally(() => clearTimeout(timer));
    },
  };
}
