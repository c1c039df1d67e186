// The native open-loop HTTP POST generator (bench/shared/native/http-load.c): built at run time, one process per
// generator, configured by files and arguments (tokens never go on the command line: the process list is
// world-readable), driven by `run` lines on stdin, answering one JSON report line per run.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { compileC } from './native-build.js';
import type { GeneratorCounts } from './open-loop.js';

const source = resolve(import.meta.dirname, 'native', 'http-load.c');

export function buildHttpLoad(dir: string, bench: string): string {
  return compileC(source, join(dir, 'http-load'), bench, ['-lm']);
}

export interface HttpLoadConfig {
  url: URL;
  path: string;
  /** Bearer tokens: request i goes as user i % tokens.length. */
  tokens: readonly string[];
  /** JSON bodies: request i sends body floor(i / tokens.length) % bodies.length. */
  bodies: readonly string[];
  maxConns: number;
  timeoutMs: number;
  /** Where the token and body files are written (a directory the bench removes). */
  dir: string;
}

/** One run's figures, as the generator counted them (latencies and dispatch lags in µs, one per request). */
export interface HttpLoadReport extends GeneratorCounts {
  type: 'report';
  /** Requests (of the window) that fell due while every connection was busy: they waited for the server (latency), and
   *  their dispatch lag is not the generator's, so it is not in `lagUs`. */
  connWaits: number;
  /** Fraction of the measured window the generator spent outside epoll_wait (its own saturation signal). */
  busy: number;
  latencyUs: number[];
  lagUs: number[];
}

export interface HttpLoad {
  child: ChildProcess;
  /** The scheduling priority it got ('nice −10', or 'normal priority' without the privilege). */
  priority: string;
  exited: Promise<unknown>;
  ready: Promise<void>;
  /** Runs one open-loop schedule (epoch ms) and resolves with its report once every request ended. */
  run(rate: number, firstMs: number, windowStartMs: number, endMs: number): Promise<HttpLoadReport>;
  quit(): void;
}

let spawned = 0;

export function spawnHttpLoad(binary: string, cfg: HttpLoadConfig): HttpLoad {
  const tag = `${process.pid}-${spawned++}`;
  const tokensFile = join(cfg.dir, `http-load-tokens-${tag}`);
  const bodiesFile = join(cfg.dir, `http-load-bodies-${tag}`);
  writeFileSync(tokensFile, cfg.tokens.join('\n') + '\n', { mode: 0o600 });
  writeFileSync(bodiesFile, cfg.bodies.join('\n') + '\n');
  const args = [`host=${cfg.url.hostname}`, `port=${cfg.url.port}`, `path=${cfg.path}`, `tokens=${tokensFile}`, `bodies=${bodiesFile}`, `max_conns=${cfg.maxConns}`, `timeout_ms=${cfg.timeoutMs}`];
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  // A higher scheduling priority (nice −10, where allowed): on a machine the system under test keeps 180–190 % busy,
  // the generator (≤ 5 % of a core) is otherwise often runnable but not running when a request falls due, and that
  // lateness is its own, not the server's. What it sends and when is unchanged; latency still runs from the intended
  // time. Without the privilege it runs at normal priority and says so.
  let priority = 'normal priority';
  try {
    setPriority(child.pid!, -10);
    priority = 'nice −10';
  } catch {
    /* not permitted: normal priority */
  }
  const exited = new Promise((r) => child.once('exit', r));
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else lines.push(line);
  });
  child.stdin!.on('error', () => {});
  const nextLine = (timeoutMs: number) =>
    new Promise<string>((res, rej) => {
      if (lines.length) return res(lines.shift()!);
      const timer = setTimeout(() => rej(new Error(`http-load ${child.pid}: no answer in ${timeoutMs} ms`)), timeoutMs);
      waiting.push((l) => (clearTimeout(timer), res(l)));
      void exited.then(() => (clearTimeout(timer), rej(new Error(`http-load ${child.pid} exited`))));
    });
  const ready = nextLine(10_000).then((l) => {
    if ((JSON.parse(l) as { type?: string }).type !== 'ready') throw new Error(`http-load: unexpected first line ${l.slice(0, 200)}`);
  });
  ready.catch(() => undefined);
  return {
    child,
    exited,
    ready,
    priority,
    async run(rate, firstMs, windowStartMs, endMs) {
      child.stdin!.write(`run ${rate} ${Math.round(firstMs * 1000)} ${Math.round(windowStartMs * 1000)} ${Math.round(endMs * 1000)}\n`);
      const line = await nextLine(endMs - Date.now() + cfg.timeoutMs + 60_000);
      return JSON.parse(line) as HttpLoadReport;
    },
    quit() {
      if (child.exitCode === null && child.stdin!.writable) child.stdin!.write('quit\n');
    },
  };
}
