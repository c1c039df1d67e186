// An independent gauge of the disk under a benchmark: a worker thread overwrites 8 KB of a preallocated file beside
// PostgreSQL's data and fdatasyncs it every 10 ms (what a WAL flush does), and each step reports how long those
// flushes took. On the 2-core VM a flush stalls for hundreds of milliseconds while both cores are busy and the disk
// is written to — whoever writes (docs/bench-orders.md, "The tail is the disk's"); a stall the probe sees in the same
// window as a slow COMMIT is the machine's, not the code's.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fmt } from './util.js';

/** The probe's flushes in one window. */
export interface DiskWindow {
  flushes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Flushes that took longer than `STALL_MS`, and the time they took together. */
  stalls: number;
  stalledMs: number;
}

export interface DiskProbe {
  /** Starts a window (forgets the flushes before it). */
  mark(): void;
  /** The flushes since the last `mark`. */
  read(): Promise<DiskWindow>;
  stop(): Promise<void>;
}

const STALL_MS = 50;
const INTERVAL_MS = 10;

// Plain JS: an eval worker needs no TypeScript loader. Synchronous calls, so the time is the syscalls' alone.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { file, intervalMs } = workerData;
const size = 16 << 20;
const fd = fs.openSync(file, 'w');
fs.writeSync(fd, Buffer.alloc(size));
fs.fsyncSync(fd);
const page = Buffer.alloc(8192, 1);
let lat = [];
let off = 0;
let timer;
const tick = () => {
  const t = performance.now();
  fs.writeSync(fd, page, 0, page.length, off);
  fs.fdatasyncSync(fd);
  lat.push(performance.now() - t);
  off = (off + page.length) % size;
  timer = setTimeout(tick, intervalMs);
};
tick();
parentPort.on('message', (m) => {
  if (m === 'mark') lat = [];
  else if (m === 'read') parentPort.postMessage(lat);
  else if (m === 'stop') {
    clearTimeout(timer);
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    parentPort.close();
  }
});
`;

/** Starts the probe on a file in `dir` (the directory PostgreSQL's data lives in, so the same filesystem). */
export function startDiskProbe(dir: string): DiskProbe {
  const worker = new Worker(WORKER, { eval: true, workerData: { file: join(dir, 'disk-probe.dat'), intervalMs: INTERVAL_MS } });
  worker.unref();
  let failure: Error | undefined;
  worker.on('error', (err) => (failure = err));
  return {
    mark: () => worker.postMessage('mark'),
    read: () => {
      if (failure) return Promise.reject(new Error(`disk probe failed: ${failure.message}`));
      return new Promise<DiskWindow>((resolve) => {
        worker.once('message', (lat: number[]) => resolve(diskWindow(lat)));
        worker.postMessage('read');
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
      }),
  };
}

/** Summary of flush durations in ms. */
function diskWindow(latencies: readonly number[]): DiskWindow {
  const s = [...latencies].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN);
  const stalls = s.filter((x) => x > STALL_MS);
  return { flushes: s.length, p50Ms: at(50), p99Ms: at(99), maxMs: s.length ? s[s.length - 1]! : Number.NaN, stalls: stalls.length, stalledMs: stalls.reduce((a, b) => a + b, 0) };
}

/** The report line: flushes, p50 · p99 · max, and the stalls over STALL_MS with the time they took. */
export function diskLine(d: DiskWindow): string {
  const stalls = d.stalls ? `${fmt(d.stalls)} STALLS > ${STALL_MS} ms, ${fmt(d.stalledMs / 1000, 2)} s stalled` : `no stall > ${STALL_MS} ms`;
  return `${fmt(d.flushes)} probe flushes (8 KB fdatasync every ${INTERVAL_MS} ms beside PostgreSQL's data): p50 ${fmt(d.p50Ms, 2)} · p99 ${fmt(d.p99Ms, 2)} · max ${fmt(d.maxMs, 1)} ms; ${stalls}`;
}
