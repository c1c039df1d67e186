// bench:orders load generator (forked by run.ts). Two jobs for its share of the users:
// 1. An open loop of paper orders over keep-alive HTTP: order i of this process has the intended send time
//    `first + i / rate` and goes out when due, whatever is still in flight; submit→decision runs from the INTENDED time
//    (coordinated-omission-safe: a slow server shows up as latency, never as fewer samples). The generator's own lag
//    (dispatch − intended) is reported so the parent can call the run invalid when the generator was late.
// 2. One `/paper/stream` WebSocket per user (Alpaca's trade_updates protocol): every fill event's arrival time against
//    the timestamp of the quote that filled it (both machine time: Date.now() here, the simulator's Date.now() plus
//    the shared offset there), and the fills that drive each user's book (what it may sell next).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { keepAliveAgent, postJson } from '../shared/http-post.js';
import { nowMs as now, openLoopPlan, runOpenLoop } from '../shared/open-loop.js';
import { encodeHist, newHist, recordMs } from '../shared/util.js';
import type { BenchUser, ChildMessage, ClientReport, ParentMessage } from './ipc.js';
import { TERMINAL_EVENTS, UserBook, type AnswerKind, type OrderBody } from './orders.js';

const send = (m: ChildMessage) => process.send?.(m);
const CONNECT_CONCURRENCY = 50;
/** Statuses an accepted order may have in the answer (it may already be filled when the decision is relayed). */
const ACCEPTED_STATUSES = new Set(['new', 'accepted', 'pending_new', 'partially_filled', 'filled']);

interface Cfg {
  url: URL;
  agent: http.Agent;
  users: Array<BenchUser & { book: UserBook; ws?: WebSocket }>;
  offsetMs: number;
  timeoutMs: number;
}
let cfg: Cfg | undefined;
/** Since the process started (the parent diffs them): server-closed stream sockets, accepted answers, fill events. */
const totals = { streamCloses: 0, accepted: 0, fillEvents: 0 };
const bump = (map: Record<string, number>, key: string) => (map[key] = (map[key] ?? 0) + 1);

/** One sent order while its run lasts. */
interface Sent {
  intended: number;
  inWindow: boolean;
  answered: boolean;
  ended: boolean;
}

/** What the current run measures; replaced at every run. */
interface Tally {
  windowStart: number;
  end: number;
  sent: Map<string, Sent>;
  /** Accepted orders of the window still waiting for a terminal event. */
  awaiting: Set<string>;
  /** The report's counters. */
  n: Pick<ClientReport, 'scheduled' | 'accepted' | 'rejected' | 'pending' | 'timeouts' | 'errors' | 'completedInWindow' | 'mix' | 'events'>;
  decision: hdr.Histogram;
  quoteToFill: hdr.Histogram;
  submitToFill: hdr.Histogram;
  sendLag: hdr.Histogram;
  onSettled?: () => void;
}
let tally: Tally | undefined;

function onTradeUpdate(book: UserBook, raw: WebSocket.RawData): void {
  const arrivedWall = Date.now();
  const arrived = now();
  let msg: { stream?: string; data?: { event?: string; timestamp?: string; position_qty?: string; order?: { client_order_id?: string; symbol?: string } } };
  try {
    msg = JSON.parse(raw.toString()) as typeof msg;
  } catch {
    return;
  }
  if (msg.stream !== 'trade_updates' || !msg.data?.event) return;
  const { event, timestamp, position_qty: positionQty, order } = msg.data;
  const coid = order?.client_order_id ?? '';
  book.update(event, coid, order?.symbol ?? '', positionQty);
  const isFill = event === 'fill' || event === 'partial_fill';
  if (isFill) totals.fillEvents++;
  const t = tally;
  if (!t) return;
  if (arrived >= t.windowStart && arrived < t.end) {
    bump(t.n.events, event);
    // The fill's timestamp is the quote's (the engine stamps its outputs with the input's time), in the shared clock.
    if (isFill && timestamp) recordMs(t.quoteToFill, arrivedWall - (Date.parse(timestamp) - cfg!.offsetMs));
  }
  const s = t.sent.get(coid);
  if (!s || !TERMINAL_EVENTS.has(event)) return;
  s.ended = true;
  if (event === 'fill' && s.inWindow) recordMs(t.submitToFill, arrived - s.intended);
  t.awaiting.delete(coid);
  if (s.answered) t.sent.delete(coid);
  t.onSettled?.();
}

function openStream(u: Cfg['users'][number], wsUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    const timer = setTimeout(() => (ws.terminate(), reject(new Error(`${u.id}: /paper/stream not listening in 20 s`))), 20_000);
    let listening = false;
    ws.on('open', () => ws.send(JSON.stringify({ action: 'auth', key: 'bench', secret: u.token })));
    ws.on('message', (raw) => {
      if (listening) return onTradeUpdate(u.book, raw);
      const m = JSON.parse(raw.toString()) as { stream?: string; data?: { status?: string } };
      if (m.stream === 'authorization' && m.data?.status === 'authorized') ws.send(JSON.stringify({ action: 'listen', data: { streams: ['trade_updates'] } }));
      else if (m.stream === 'authorization') reject(new Error(`${u.id}: /paper/stream refused the token`));
      else if (m.stream === 'listening') {
        listening = true;
        clearTimeout(timer);
        u.ws = ws;
        resolve();
      }
    });
    ws.on('close', () => {
      if (listening) totals.streamCloses++;
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function configure(m: Extract<ParentMessage, { type: 'config' }>): Promise<number> {
  const url = new URL(m.url);
  const agent = keepAliveAgent(m.sockets);
  const users = m.users.map((u, i) => ({ ...u, book: new UserBook(u.id, m.symbols, i) }));
  cfg = { url, agent, users, offsetMs: m.offsetMs, timeoutMs: m.timeoutMs };
  const wsUrl = `${m.url.replace(/^http/, 'ws')}/paper/stream`;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONNECT_CONCURRENCY, users.length) }, async () => {
      while (next < users.length) await openStream(users[next++]!, wsUrl);
    }),
  );
  return users.length;
}

function classify(t: Tally, status: number, text: string, inWindow: boolean, coid: string, order: OrderBody): AnswerKind {
  let body: { client_order_id?: string; status?: string; id?: string; code?: number; message?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    /* not JSON: an error below */
  }
  if (status === 200) {
    const ok = body.client_order_id === coid && typeof body.id === 'string' && ACCEPTED_STATUSES.has(body.status ?? '');
    if (!ok) {
      if (inWindow) bump(t.n.errors, `HTTP 200 not an accepted order (status ${String(body.status)})`);
      return 'unknown';
    }
    totals.accepted++;
    if (inWindow) {
      t.n.accepted++;
      t.n.mix[order.side]++;
      t.n.mix[order.type]++;
    }
    return 'accepted';
  }
  const refused = status >= 400 && status < 500 && typeof body.code === 'number';
  if (inWindow) {
    if (status === 504) t.n.pending++;
    else if (refused) {
      const key = `${status} ${body.code}`;
      const r = (t.n.rejected[key] ??= { count: 0, message: String(body.message ?? '').slice(0, 120) });
      r.count++;
    } else bump(t.n.errors, `HTTP ${status}${body.code ? ` ${body.code}` : ''}`);
  }
  return refused ? 'refused' : 'unknown';
}

async function run(m: Extract<ParentMessage, { type: 'run' }>): Promise<ClientReport> {
  if (!cfg) throw new Error('run before config');
  const c = cfg;
  const plan = openLoopPlan(m);
  const { windowStart, end, total } = plan;
  const t: Tally = {
    windowStart,
    end,
    sent: new Map(),
    awaiting: new Set(),
    n: { scheduled: 0, accepted: 0, rejected: {}, pending: 0, timeouts: 0, errors: {}, completedInWindow: 0, mix: { buy: 0, sell: 0, market: 0, limit: 0 }, events: {} },
    decision: newHist(),
    quoteToFill: newHist(),
    submitToFill: newHist(),
    sendLag: newHist(),
  };
  tally = t;
  let inFlight = 0;
  let maxInFlight = 0;
  let dispatched = 0;
  let answeredAll!: () => void;
  const allAnswered = new Promise<void>((r) => (answeredAll = r));
  const err = (key: string) => bump(t.n.errors, key);

  const fire = (i: number, intended: number) => {
    dispatched = i + 1;
    const u = c.users[i % c.users.length]!;
    const inWindow = intended >= windowStart;
    if (inWindow) {
      t.n.scheduled++;
      recordMs(t.sendLag, now() - intended);
    }
    const coid = randomUUID();
    const order = u.book.next(coid);
    const payload = JSON.stringify(order);
    const s: Sent = { intended, inWindow, answered: false, ended: false };
    t.sent.set(coid, s);
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    postJson(c, '/paper/v2/orders', u.token, payload, (r) => {
      const at = now();
      let kind: AnswerKind = 'unknown'; // timeouts and network errors: it may still be decided later
      if (r.kind === 'timeout') {
        if (inWindow) t.n.timeouts++;
      } else if (r.kind === 'error') {
        if (inWindow) err(r.key);
      } else {
        kind = classify(t, r.status, r.body, inWindow, coid, order);
        // A decision either way: the order accepted, or refused with Alpaca's status and code.
        if (inWindow && kind !== 'unknown') recordMs(t.decision, at - intended);
        if (kind === 'accepted' && at >= windowStart && at < end) t.n.completedInWindow++;
      }
      s.answered = true;
      u.book.answered(coid, kind);
      if (kind === 'accepted' && !s.ended && inWindow) t.awaiting.add(coid);
      if (kind !== 'accepted' || s.ended) t.sent.delete(coid);
      inFlight--;
      if (dispatched === total && inFlight === 0) answeredAll();
    });
  };

  const loopP99Ms = await runOpenLoop(plan, fire);
  if (inFlight > 0) await Promise.race([allAnswered, new Promise((r) => setTimeout(r, c.timeoutMs + 1_000))]);
  // The fills of the window's accepted orders: each comes with the first quote after its acceptance.
  if (t.awaiting.size > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, m.fillWaitMs);
      t.onSettled = () => {
        if (t.awaiting.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
  }
  t.onSettled = undefined;
  return {
    type: 'report',
    ...t.n,
    unfilled: t.awaiting.size,
    decision: encodeHist(t.decision),
    quoteToFill: encodeHist(t.quoteToFill),
    submitToFill: encodeHist(t.submitToFill),
    sendLag: encodeHist(t.sendLag),
    loopP99Ms,
    maxInFlight,
  };
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'config') {
    configure(m).then(
      (sockets) => send({ type: 'ready', sockets }),
      (e: unknown) => send({ type: 'error', message: String(e) }),
    );
  } else if (m.type === 'run') {
    run(m).then(send, (e: unknown) => send({ type: 'error', message: String(e) }));
  } else if (m.type === 'totals') {
    send({ type: 'totals', ...totals });
  } else if (m.type === 'stop') {
    for (const u of cfg?.users ?? []) u.ws?.terminate();
    cfg?.agent.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
