// Processes a benchmark starts: load-generator children forked with tsx and an IPC channel (messages in order, one
// awaited at a time), and one registry of everything to stop — in reverse order, also on Ctrl-C or an error.
import { fork, type ChildProcess } from 'node:child_process';
import { sleep } from './util.js';

export interface ForkedChild<In, Out> {
  child: ChildProcess;
  /** The next message from the child (queued if it came earlier); rejects after `timeoutMs` or when it exits. */
  next(timeoutMs: number): Promise<Out>;
  send(m: In): void;
  exited: Promise<unknown>;
}

/** Forks `script` (a .ts file) under tsx with an IPC channel; its stdout and stderr go to ours. */
export function forkChild<In, Out>(script: string, env: Record<string, string> = {}): ForkedChild<In, Out> {
  const child = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  const exited = new Promise((r) => child.once('exit', r));
  const queue: Out[] = [];
  const waiting: Array<(m: Out) => void> = [];
  child.on('message', (m: Out) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return {
    child,
    exited,
    send: (m) => void (child.connected && child.send(m as object)),
    next: (timeoutMs) => {
      const p = new Promise<Out>((res, rej) => {
        if (queue.length) return res(queue.shift()!);
        const timer = setTimeout(() => rej(new Error(`child ${child.pid}: no message in ${timeoutMs} ms`)), timeoutMs);
        waiting.push((m) => (clearTimeout(timer), res(m)));
        void exited.then(() => (clearTimeout(timer), rej(new Error(`child ${child.pid} exited`))));
      });
      // A step that fails before it awaits its reports abandons them; when cleanup then stops the children, an unhandled
      // rejection would kill the bench halfway through its cleanup and leave Redis, PostgreSQL and roles running.
      p.catch(() => undefined);
      return p;
    },
  };
}

/** Asks every child to stop (`stopMessage`), waits up to 3 s, then SIGKILLs those still running. */
export async function stopChildren<In>(children: ReadonlyArray<ForkedChild<In, unknown>>, stopMessage: In): Promise<void> {
  for (const c of children) c.send(stopMessage);
  await Promise.race([Promise.all(children.map((c) => c.exited)), sleep(3_000)]);
  for (const c of children) if (c.child && c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
}

/** Everything a benchmark started, stopped in reverse order by `cleanup` (errors ignored: stop as much as possible). */
export class Started {
  private readonly items: Array<{ name: string; stop(): Promise<unknown> }> = [];

  add(name: string, stop: () => Promise<unknown>): void {
    this.items.push({ name, stop });
  }

  async cleanup(): Promise<void> {
    for (const s of this.items.splice(0).reverse()) await s.stop().catch(() => undefined);
  }
}

/**
 * Runs a benchmark's `main` and always cleans up: on success, on an error (printed, exit code 1) and on SIGINT/SIGTERM
 * (exit 130). Exits when done, so a forgotten handle cannot keep the process alive.
 */
export async function runBench(name: string, started: Pick<Started, 'cleanup'>, main: () => Promise<void>): Promise<never> {
  let interrupted = false;
  // Any other forgotten rejection is reported, not fatal: dying here would skip the cleanup below.
  process.on('unhandledRejection', (err) => {
    console.error('unhandled rejection:', err);
    process.exitCode = 1;
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      console.error(`\n${sig}: stopping everything ${name} started`);
      void started.cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (err) {
    if (!interrupted) {
      console.error(err);
      process.exitCode = 1;
    }
  } finally {
    await started.cleanup();
  }
  process.exit();
}
