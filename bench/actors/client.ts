// bench:actors load generator (forked by run.ts): an open loop over keep-alive HTTP. Request i of this process has
// the intended send time `first + i / rate`; all due requests go out on each timer tick, whatever is still in flight,
// and latency runs from the INTENDED time (coordinated-omission-safe: a stalled server or a lagging generator shows
// up as latency, never as fewer samples). The generator's own lag (dispatch − intended) is reported separately so the
// parent can declare the run invalid when the generator, not the server, was late.
import http from 'node:http';
import type * as hdr from 'hdr-histogram-js';
import { keepAliveAgent, postJson } from '../shared/http-post.js';
import { nowMs as now, openLoopPlan, runOpenLoop } from '../shared/open-loop.js';
import { encodeHist, newHist } from '../shared/util.js';
import { COMMAND_BODIES, type BenchUser, type ChildMessage, type ClientReport, type ParentMessage } from './ipc.js';

const send = (m: ChildMessage) => process.send?.(m);

let url: URL | undefined;
let users: BenchUser[] = [];
let agent: http.Agent | undefined;
let timeoutMs = 10_000;

/** The report's counters, with live histograms. */
type Tally = Omit<ClientReport, 'type' | 'latency' | 'sendLag' | 'loopP99Ms' | 'maxInFlight' | 'answered'> & { latency: hdr.Histogram; sendLag: hdr.Histogram };


async function run(m: Extract<ParentMessage, { type: 'run' }>): Promise<ClientReport> {
  if (!url || !agent) throw new Error('run before config');
  const target = { agent, url, timeoutMs };
  const plan = openLoopPlan(m);
  const { windowStart, end, total } = plan;
  const t: Tally = { scheduled: 0, accepted: 0, rejected: 0, pending: 0, timeouts: 0, errors: {}, completedInWindow: 0, latency: newHist(), sendLag: newHist() };
  let inFlight = 0;
  let maxInFlight = 0;
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
    dispatched = i + 1;
    const user = i % users.length;
    const u = users[user]!;
    const inWindow = intended >= windowStart;
    const lag = now() - intended;
    if (inWindow) {
      t.scheduled++;
      t.sendLag.recordValue(Math.max(1, Math.round(lag * 1000)));
    }
    const payload = COMMAND_BODIES[Math.floor(i / users.length) % COMMAND_BODIES.length]!;
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    postJson(target, '/api/commands', u.token, payload, (r) => {
      const at = now();
      if (r.kind === 'timeout') {
        if (inWindow) t.timeouts++;
      } else if (r.kind === 'error') {
        if (inWindow) err(r.key);
      } else if (r.status === 200) {
        const outcome = (JSON.parse(r.body) as { outcome?: string }).outcome;
        answered++;
        if (at >= windowStart && at < end) t.completedInWindow++;
        if (inWindow) {
          if (outcome === 'accepted') t.accepted++;
          else t.rejected++;
          t.latency.recordValue(Math.max(1, Math.round((at - intended) * 1000)));
        }
      } else if (inWindow) {
        if (r.status === 504) t.pending++;
        else {
          let code = '';
          try {
            code = (JSON.parse(r.body) as { code?: string }).code ?? '';
          } catch {
            /* not JSON */
          }
          err(`HTTP ${r.status}${code ? ` ${code}` : ''}`);
        }
      }
      finish();
    });
  };

  const loopP99Ms = await runOpenLoop(plan, fire);
  if (inFlight > 0) await allDone;
  const { latency, sendLag, ...counts } = t;
  return { type: 'report', ...counts, answered, latency: encodeHist(latency), sendLag: encodeHist(sendLag), loopP99Ms, maxInFlight };
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'config') {
    url = new URL(m.url);
    users = m.users;
    timeoutMs = m.timeoutMs;
    agent = keepAliveAgent(m.sockets);
    send({ type: 'ready' });
  } else if (m.type === 'run') {
    run(m).then(send, (e: unknown) => send({ type: 'error', message: String(e) }));
  } else if (m.type === 'stop') {
    agent?.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
