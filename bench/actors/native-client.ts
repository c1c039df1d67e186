// bench:actors' native load generator behind the same interface as a forked Node generator (client.ts): `config`
// starts bench/shared/native/http-load.c with the users' tokens, `run` is one open-loop step, `stop` ends it. Its
// reports are the Node generator's, with the histograms built here from the per-request values.
import type { ForkedChild } from '../shared/children.js';
import { spawnHttpLoad, type HttpLoad } from '../shared/native-http-load.js';
import { encodeHist, newHist } from '../shared/util.js';
import { COMMAND_BODIES, type ChildMessage, type ClientReport, type ParentMessage } from './ipc.js';

export function nativeClient(binary: string, dir: string): ForkedChild<ParentMessage, ChildMessage> & { priority(): string } {
  let load: HttpLoad | undefined;
  const queue: ChildMessage[] = [];
  const waiting: Array<{ resolve(m: ChildMessage): void; reject(e: Error): void }> = [];
  const deliver = (m: ChildMessage) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else queue.push(m);
  };
  const fail = (e: unknown) => deliver({ type: 'error', message: String(e) });
  let exitedResolve!: (v: unknown) => void;
  const exited = new Promise((r) => (exitedResolve = r));
  const self = {
    // Replaced by the generator process once `config` started it (the parent reads its pid for the CPU figures).
    child: undefined as unknown as HttpLoad['child'],
    exited,
    /** The scheduling priority the generator process got (after `config`). */
    priority: () => load?.priority ?? 'not started',
    send(m: ParentMessage): void {
      if (m.type === 'config') {
        const url = new URL(m.url);
        load = spawnHttpLoad(binary, { url, path: '/api/commands', tokens: m.users.map((u) => u.token), bodies: COMMAND_BODIES, maxConns: m.sockets, timeoutMs: m.timeoutMs, dir });
        self.child = load.child;
        void load.exited.then(exitedResolve);
        load.ready.then(() => deliver({ type: 'ready' }), fail);
      } else if (m.type === 'run') {
        if (!load) return fail(new Error('run before config'));
        const first = m.startAt + m.offsetMs;
        const windowStart = m.startAt + m.warmupMs;
        load.run(m.rate, first, windowStart, windowStart + m.measureMs).then((r) => {
          const latency = newHist();
          for (const v of r.latencyUs) latency.recordValue(Math.min(120_000_000, Math.max(1, v)));
          const sendLag = newHist();
          for (const v of r.lagUs) sendLag.recordValue(Math.min(120_000_000, Math.max(1, v)));
          const report: ClientReport = {
            type: 'report',
            scheduled: r.scheduled,
            accepted: r.accepted,
            rejected: r.rejected,
            pending: r.pending,
            timeouts: r.timeouts,
            errors: r.errors,
            completedInWindow: r.completedInWindow,
            answered: r.answered,
            latency: encodeHist(latency),
            sendLag: encodeHist(sendLag),
            // No event loop: the dispatch lag (sendLag) is what says whether the generator kept its schedule.
            loopP99Ms: 0,
            maxInFlight: r.maxInFlight,
            connWaits: r.connWaits,
          };
          deliver(report);
        }, fail);
      } else if (m.type === 'stop') {
        if (load) load.quit();
        else exitedResolve(undefined);
      }
    },
    next(timeoutMs: number): Promise<ChildMessage> {
      const p = new Promise<ChildMessage>((resolve, reject) => {
        if (queue.length) return resolve(queue.shift()!);
        const timer = setTimeout(() => reject(new Error(`native generator: no message in ${timeoutMs} ms`)), timeoutMs);
        waiting.push({ resolve: (m) => (clearTimeout(timer), resolve(m)), reject });
        void exited.then(() => (clearTimeout(timer), reject(new Error('native generator exited'))));
      });
      p.catch(() => undefined);
      return p;
    },
  };
  return self;
}
