// bench:fanout native load client (bench/fanout/native/client.c): built at run time with the system C compiler into a
// temp dir, spawned once per client process, driven by words on stdin, answering JSON lines on stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import * as hdr from 'hdr-histogram-js';
import { compileC } from '../shared/native-build.js';
import type { ClientConfig, ClientReport } from './ipc.js';

const source = resolve(import.meta.dirname, 'native', 'client.c');

/** Compiles the client into `dir`; throws a clear error when there is no C compiler. */
export function buildNativeClient(dir: string): string {
  return compileC(source, join(dir, 'fanout-client'), 'bench:fanout');
}

/** The Node client's configuration (ipc.ts), with the server as host/port/path instead of a URL. */
export type NativeConfig = Omit<ClientConfig, 'type' | 'url'> & {
  host: string;
  port: number;
  path: string;
  /** Handshakes in flight during a storm's reconnect (default: `concurrency`). */
  reconnectConcurrency?: number;
  /** One session token per line; connection i uses line i mod lines (instead of `token`). */
  tokenFile?: string;
};

export interface NativeConnected {
  type: 'connected';
  open: number;
  failed: number;
  ms: number;
  errors: string[];
  failedIndices: number[];
}
/** The Node client's report (ipc.ts) with the native client's own saturation signal and histogram form. */
export type NativeReport = Omit<ClientReport, 'histogram' | 'loopP99Ms' | 'loopMaxMs'> & {
  /** Fraction of the window the client spent outside epoll_wait (its own saturation signal). */
  busy: number;
  errorsRx: number;
  /** [highest value of the bucket (µs), count] pairs of the client's log-bucket histogram. */
  histogram: Array<[number, number]>;
};
export interface NativeResumed {
  type: 'resumed';
  dropped: number;
  /** Reconnects started (all of `dropped` unless the report came on the 60 s timeout). */
  started: number;
  reconnected: number;
  failed: number;
  outstanding: number;
  /** From the drop to the last connection's last resume answer. */
  ms: number;
  recovered: number;
  notRecovered: number;
  replayed: number;
  gaps: number;
  errors: string[];
}
export type NativeMessage = NativeConnected | NativeReport | NativeResumed;

export interface NativeClient {
  child: ChildProcess;
  exited: Promise<unknown>;
  next<T extends NativeMessage['type']>(type: T, timeoutMs: number): Promise<Extract<NativeMessage, { type: T }>>;
  command(word: 'reset' | 'report' | 'drop' | 'stop'): void;
}

export function spawnNativeClient(binary: string, cfg: NativeConfig): NativeClient {
  const args = [
    `host=${cfg.host}`,
    `port=${cfg.port}`,
    `path=${cfg.path}`,
    `origin=${cfg.origin}`,
    `first=${cfg.firstIndex}`,
    `count=${cfg.count}`,
    `per=${cfg.symbolsPerConnection}`,
    `slow=${cfg.slowFraction}`,
    `concurrency=${cfg.concurrency}`,
    `reconnect_concurrency=${cfg.reconnectConcurrency ?? cfg.concurrency}`,
    `deadline_ms=${cfg.connectDeadlineMs}`,
    `universe=${cfg.universe.join(',')}`,
  ];
  // The token goes by environment, not argv (the process list is world-readable).
  const env = { ...process.env, RAXX_BENCH_TOKEN: cfg.token, ...(cfg.tokenFile ? { RAXX_BENCH_TOKEN_FILE: cfg.tokenFile } : {}) };
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
  const exited = new Promise((r) => child.once('exit', r));
  const waiter = messageWaiter<NativeMessage>(exited, `native client ${child.pid}`);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      waiter.deliver(JSON.parse(line) as NativeMessage);
    } catch {
      console.error(`native client ${child.pid}: unparsable line ${line.slice(0, 200)}`);
    }
  });
  child.stdin!.on('error', () => {});
  return {
    child,
    exited,
    command: (word) => {
      if (child.exitCode === null && child.stdin!.writable) child.stdin!.write(`${word}\n`);
    },
    next: (type, timeoutMs) => waiter.next(type, timeoutMs),
  };
}

/** Messages of a child process (typed by `type`) awaited one at a time; one that arrives before it is awaited is kept. */
export function messageWaiter<M extends { type: string }>(exited: Promise<unknown>, who: string) {
  const waiting: Array<{ type: string; resolve(m: M): void }> = [];
  const early: M[] = [];
  return {
    deliver(m: M): void {
      const i = waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
      else early.push(m);
    },
    next<T extends M['type']>(type: T, timeoutMs: number): Promise<Extract<M, { type: T }>> {
      return new Promise((res, rej) => {
        const j = early.findIndex((m) => m.type === type);
        if (j >= 0) return res(early.splice(j, 1)[0] as Extract<M, { type: T }>);
        const timer = setTimeout(() => rej(new Error(`${who}: no ${type} in ${timeoutMs} ms`)), timeoutMs);
        waiting.push({ type, resolve: (m) => (clearTimeout(timer), res(m as Extract<M, { type: T }>)) });
        void exited.then(() => rej(new Error(`${who} exited`)));
      });
    },
  };
}

/** The client's log buckets into an HDR histogram (each bucket at its highest value: percentiles err upwards). */
export function nativeHistogram(pairs: ReadonlyArray<[number, number]>): hdr.Histogram {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  for (const [v, n] of pairs) h.recordValueWithCount(Math.min(Math.max(1, v), 120_000_000), n);
  return h;
}
