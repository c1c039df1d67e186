// bench:actors load generator (forked by run.ts): an open loop over keep-alive HTTP. Request i of this process has
// the intended send time `first + i / rate`; all due requests go out on each timer tick, whatever is still in flight,
// and latency runs from the INTENDED time (coordinated-omission-safe: a stalled server or a lagging generator shows
// up as latency, never as fewer samples). The generator's own lag (dispatch − intended) is reported separately so the
// parent can declare the run invalid when the generator, not the server, was late.
import http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import type { BenchUser, ChildMessage, ClientReport, ParentMessage } from './ipc.js';

const now = () => performance.timeOrigin + performance.now();
const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
const send = (m: ChildMessage) => process.send?.(m);

let url: URL | undefined;
let users: BenchUser[] = [];
let agent: http.Agent | undefined;
let timeoutMs = 10_000;

/** The report's counters, with live histograms. */
type Tally = Omit<ClientReport, 'type' | 'latency' | 'sendLag' | 'loopP99Ms' | 'maxInFlight' | 'answered'> & { latency: hdr.Histogram; sendLag: hdr.Histogram };

// Alternating +1.00 / −1.00 per user: always accepted, balances stay put.
const BODIES = ['1.00', '-1.00'].map((amount) => JSON.stringify({ type: 'account.adjust_cash', payload: { amount, reason: 'bench' } }));

async function run(m: Extract<ParentMessage, { type: 'run' }>): Promise<ClientReport> {
  if (!url || !agent) throw new Error('run before config');
  const interval = 1000 / m.rate;
  const first = m.startAt + m.offsetMs;
  const windowStart = m.startAt + m.warmupMs;
  const end = windowStart + m.measureMs;
  const total = Math.max(0, Math.ceil((end - first) / interval));
  const t: Tally = { scheduled: 0, accepted: 0, rejected: 0, pending: 0, timeouts: 0, errors: {}, completedInWindow: 0, latency: newHist(), sendLag: newHist() };
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let inFlight = 0;
  let maxInFlight = 0;
  let loopOn = false;
  const err = (key: string) => (t.errors[key] = (t.errors[key] ?? 0) + 1);
  let done!: () => void;
  const allDone = new Promise<void>((r) => (done = r));
  let dispatched = 0;
  let answered = 0;
  const finish = () => {
    inFlight--;
    if (dispatched === total && inFlight === 0) done();
  };

  const fire = (i: number, intended: number) => {
    const user = i % users.length;
    const u = users[user]!;
    const inWindow = intended >= windowStart;
    const lag = now() - intended;
    if (inWindow) {
      t.scheduled++;
      t.sendLag.recordValue(Math.max(1, Math.round(lag * 1000)));
    }
    const payload = BODIES[Math.floor(i / users.length) % 2]!;
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      finish();
    };
    const req = http.request(
      {
        agent,
        host: url!.hostname,
        port: url!.port,
        method: 'POST',
        path: '/api/commands',
        headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          settle(() => {
            const at = now();
            const status = res.statusCode ?? 0;
            if (status === 200) {
              const outcome = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { outcome?: string }).outcome;
              answered++;
              if (at >= windowStart && at < end) t.completedInWindow++;
              if (!inWindow) return;
              if (outcome === 'accepted') t.accepted++;
              else t.rejected++;
              t.latency.recordValue(Math.max(1, Math.round((at - intended) * 1000)));
            } else if (inWindow) {
              if (status === 504) t.pending++;
              else {
                let code = '';
                try {
                  code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string }).code ?? '';
                } catch {
                  /* not JSON */
                }
                err(`HTTP ${status}${code ? ` ${code}` : ''}`);
              }
            }
          }),
        );
        res.on('error', (e) => settle(() => inWindow && err(`response: ${e.message}`)));
      },
    );
    const timer = setTimeout(() => {
      settle(() => inWindow && t.timeouts++);
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => settle(() => inWindow && err(`request: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    req.end(payload);
  };

  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const at = now();
      if (!loopOn && at >= windowStart) {
        loop.enable();
        loopOn = true;
      }
      while (i < total && first + i * interval <= at) {
        fire(i, first + i * interval);
        i++;
        dispatched = i;
      }
      if (i >= total) return resolve();
      const wait = first + i * interval - now();
      setTimeout(tick, Math.max(0, Math.floor(wait)));
    };
    setTimeout(tick, Math.max(0, first - now()));
  });
  loop.disable();
  if (inFlight > 0) await allDone;
  return {
    type: 'report',
    scheduled: t.scheduled,
    accepted: t.accepted,
    rejected: t.rejected,
    pending: t.pending,
    timeouts: t.timeouts,
    errors: t.errors,
    completedInWindow: t.completedInWindow,
    answered,
    latency: hdr.encodeIntoCompressedBase64(t.latency),
    sendLag: hdr.encodeIntoCompressedBase64(t.sendLag),
    loopP99Ms: loopOn ? loop.percentile(99) / 1e6 : 0,
    maxInFlight,
  };
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'config') {
    url = new URL(m.url);
    users = m.users;
    timeoutMs = m.timeoutMs;
    agent = new http.Agent({ keepAlive: true, maxSockets: m.sockets, maxFreeSockets: m.sockets, scheduling: 'fifo' });
    send({ type: 'ready' });
  } else if (m.type === 'run') {
    run(m).then(send, (e: unknown) => send({ type: 'error', message: String(e) }));
  } else if (m.type === 'stop') {
    agent?.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
