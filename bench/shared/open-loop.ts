// The open-loop schedule of the load generators (coordinated-omission-safe): request i of a generator process has the
// intended send time `first + i / rate`; every due request goes out on each timer tick, however many are still in
// flight, so a slow server shows up as latency measured from the intended time, never as fewer requests.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** Epoch ms with sub-ms resolution (performance clock), what intended and actual send times are compared in. */
export const nowMs = () => performance.timeOrigin + performance.now();

/** What every load generator counts over one step (the Node ones and the native one). */
export interface GeneratorCounts {
  /** Requests whose intended send time fell in the measured window. */
  scheduled: number;
  accepted: number;
  rejected: number;
  /** 504 decision_pending: appended, not decided within the gateway's wait. */
  pending: number;
  /** No answer within the client timeout. */
  timeouts: number;
  /** Other HTTP statuses (429 included) and network errors, by key. */
  errors: Record<string, number>;
  /** 200 answers that completed inside the measured window (any intended time): the achieved rate. */
  completedInWindow: number;
  /** Every 200 answer of the run, warm-up included (for the processed_commands check). */
  answered: number;
  /** Most requests in flight at once. */
  maxInFlight: number;
}

/** One step as the parent sends it to each generator process. */
export interface OpenLoopStep {
  /** This process's share of the offered rate (requests/s). */
  rate: number;
  /** Epoch ms of the first intended send of the whole run; this process starts `offsetMs` after it. */
  startAt: number;
  offsetMs: number;
  warmupMs: number;
  measureMs: number;
}

export interface OpenLoopPlan {
  first: number;
  interval: number;
  windowStart: number;
  end: number;
  /** Requests this process sends (warm-up and window). */
  total: number;
}

export function openLoopPlan(m: OpenLoopStep): OpenLoopPlan {
  const interval = 1000 / m.rate;
  const first = m.startAt + m.offsetMs;
  const windowStart = m.startAt + m.warmupMs;
  const end = windowStart + m.measureMs;
  return { first, interval, windowStart, end, total: Math.max(0, Math.ceil((end - first) / interval)) };
}

/**
 * Calls `fire(i, intended)` for every request of the plan at its intended time (late ones at once, in order) and
 * resolves after the last; returns the event-loop delay p99 (ms) over the measured window.
 */
export async function runOpenLoop(p: OpenLoopPlan, fire: (i: number, intended: number) => void): Promise<number> {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let loopOn = false;
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const at = nowMs();
      if (!loopOn && at >= p.windowStart) {
        loop.enable();
        loopOn = true;
      }
      while (i < p.total && p.first + i * p.interval <= at) {
        fire(i, p.first + i * p.interval);
        i++;
      }
      if (i >= p.total) return resolve();
      setTimeout(tick, Math.max(0, Math.floor(p.first + i * p.interval - nowMs())));
    };
    setTimeout(tick, Math.max(0, p.first - nowMs()));
  });
  loop.disable();
  return loopOn ? loop.percentile(99) / 1e6 : 0;
}
