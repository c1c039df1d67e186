// Runs each role as a child process, prefixes its logs, learns its URL from the ready line, restarts it if it crashes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { formatLine, prefixFor } from './log-format.js';

export type RoleState = 'starting' | 'ready' | 'crashed' | 'stopping' | 'stopped';

export interface RoleStatus {
  name: string;
  pid: number | undefined;
  state: RoleState;
  url: string | undefined;
  restarts: number;
  note: string | undefined;
}

export interface SupervisedRole {
  name: string;
  env: Record<string, string | undefined>;
}

export interface SupervisorOptions {
  cwd: string;
  /** Command and args that start one role, e.g. [node, --import, tsx, src/main/role.ts]. */
  command: string[];
  color: boolean;
  write: (line: string) => void;
}

const MAX_BACKOFF_MS = 30_000;
const STOP_GRACE_MS = 10_000;

export class Supervisor {
  private readonly children = new Map<string, Child>();

  constructor(private readonly opts: SupervisorOptions) {}

  start(role: SupervisedRole): void {
    const child = new Child(role, this.children.size, this.opts);
    this.children.set(role.name, child);
    child.spawn();
  }

  statuses(): RoleStatus[] {
    return [...this.children.values()].map((c) => c.status());
  }

  /** Resolves when every role has logged its ready line; rejects on timeout naming the laggards. */
  async waitAllReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.statuses().every((s) => s.state === 'ready')) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const late = this.statuses().filter((s) => s.state !== 'ready').map((s) => `${s.name} (${s.state})`);
    throw new Error(`roles not ready after ${timeoutMs} ms: ${late.join(', ')}`);
  }

  /**
   * Waits until every role's /readyz answers 200: a role prints its ready line when it serves, which can be before
   * its own dependencies are (the accounts runtime starts in the background), and "up" must mean usable.
   */
  async waitAllReadyz(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const notReady = async () => {
      const probes = this.statuses().map(async (s) => {
        if (!s.url) return null;
        const ok = await fetch(`${s.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
        return ok ? null : s.name;
      });
      return (await Promise.all(probes)).filter((n): n is string => n !== null);
    };
    for (;;) {
      const pending = await notReady();
      if (pending.length === 0) return;
      if (Date.now() >= deadline) throw new Error(`roles serving but not ready (/readyz) after ${timeoutMs} ms: ${pending.join(', ')} — the status page shows which check fails`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children.values()].map((c) => c.stop()));
  }

  killAll(): void {
    for (const c of this.children.values()) c.kill();
  }
}

class Child {
  private process: ChildProcess | undefined;
  private state: RoleState = 'starting';
  private url: string | undefined;
  private note: string | undefined;
  private restarts = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly prefix: string;

  constructor(
    private readonly role: SupervisedRole,
    index: number,
    private readonly opts: SupervisorOptions,
  ) {
    this.prefix = prefixFor(role.name, index, opts.color);
  }

  status(): RoleStatus {
    return { name: this.role.name, pid: this.process?.pid, state: this.state, url: this.url, restarts: this.restarts, note: this.note };
  }

  spawn(): void {
    const [cmd, ...args] = this.opts.command;
    this.state = 'starting';
    this.startedAt = Date.now();
    // The IPC channel is not used for messages: when the orchestrator dies, its closing tells the child to stop.
    const child = spawn(cmd!, [...args, this.role.name], {
      cwd: this.opts.cwd,
      env: this.role.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.opts.write(`${this.prefix} ${line}`));
    child.once('exit', (code, signal) => this.onExit(code, signal));
  }

  private onLine(line: string): void {
    this.opts.write(formatLine(this.prefix, line, this.opts.color));
    if (!line.includes('"ready":true')) return;
    try {
      const record = JSON.parse(line) as { ready?: boolean; url?: string; note?: string };
      if (record.ready && record.url) {
        this.url = record.url;
        this.note = record.note;
        if (this.state === 'starting') this.state = 'ready';
      }
    } catch {
      // not a ready line after all
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.state === 'stopping' || this.state === 'stopped') {
      this.state = 'stopped';
      return;
    }
    this.state = 'crashed';
    this.url = undefined;
    const ranLong = Date.now() - this.startedAt > MAX_BACKOFF_MS;
    if (ranLong) this.restarts = 0;
    const delay = Math.min(1000 * 2 ** this.restarts, MAX_BACKOFF_MS);
    this.restarts++;
    this.opts.write(`${this.prefix} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => this.spawn(), delay);
  }

  async stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    this.state = 'stopped';
  }

  kill(): void {
    clearTimeout(this.restartTimer);
    this.state = 'stopping';
    this.process?.kill('SIGKILL');
  }
}
