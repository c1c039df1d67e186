// The market-data stack as real processes for end-to-end tests: simulator → feed ×N → Redis → gateway → `ws` clients.
// Each stack gets its own throw-away Redis server: the feed's keys ({md}:lease, {md}:seq…) and channels (md:status)
// are fixed names, so two stacks (or another test's feed) on one Redis would fight over one lease and hear each other.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, startRedis } from '../../src/devstack/index.js';
import { createDb, seedDemoUsers } from '../../src/infra/db/index.js';
import { closeRedis, createRedis, type Redis } from '../../src/infra/redis/index.js';
import { marketDataKeys } from '../../src/contracts/index.js';
import type { RunningSimulator } from '../../src/sim/server.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startRoleProcess, type RoleProcess } from './processes.js';
import { startTestSimulator } from './simulator.js';
import { waitFor } from './wait.js';

export const STACK_ORIGIN = 'http://127.0.0.1:8720';
const JWT_SECRET = 'market-data-e2e-secret-0123456789abcdef';

export interface StackOptions {
  /** Symbols the simulator replays (its whole universe); pick names no other test uses. */
  symbols: string[];
  feeds?: number;
  /** Quote period per symbol in the replayed recording (trades every 2.5×, bars every 25×). */
  quoteEveryMs?: number;
  freeDelayMs?: number;
  feedEnv?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
}

export interface Stack {
  sim: RunningSimulator;
  redis: Redis;
  db: TestDatabase;
  feeds: RoleProcess[];
  gateway: RoleProcess;
  gatewayUrl: string;
  freeDelayMs: number;
  /** Starts a gateway process (new free port) and makes it the current one. */
  startGateway(): Promise<string>;
  /** The lease holder as Redis sees it: `<epoch>:<host>:<pid>:<id>`. */
  lease(): Promise<{ epoch: number; pid: number } | undefined>;
  leaderProcess(): Promise<RoleProcess>;
  devToken(user: string): Promise<string>;
  ops(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  control(path: string, body?: unknown): Promise<Record<string, unknown>>;
  connect(user: string, opts?: ClientOptions): Promise<MdClient>;
  stop(): Promise<void>;
}

/** A JSON Lines recording: per symbol a quote every `quoteEveryMs`, a trade every 2.5×, a minute bar every 25×. */
function recording(symbols: string[], quoteEveryMs: number): string {
  const lines: string[] = [];
  const spanMs = quoteEveryMs * 50;
  const base = Date.UTC(2026, 2, 2, 14, 30);
  symbols.forEach((S, k) => {
    const px = 50 + 10 * k;
    for (let ms = k; ms < spanMs; ms += quoteEveryMs) {
      const t = new Date(base + ms).toISOString().replace('Z', '000000Z');
      const i = Math.round(ms / quoteEveryMs);
      lines.push(JSON.stringify({ T: 'q', S, bx: 'V', bp: px + i / 100, bs: 100, ax: 'Q', ap: px + 0.02 + i / 100, as: 200, c: ['R'], z: 'C', t }));
      if (i % 5 === 0 || i % 5 === 2) lines.push(JSON.stringify({ T: 't', S, i: i + 1, x: 'V', p: px + 0.01 + i / 100, s: 10, c: ['@'], z: 'C', t }));
      if (i % 25 === 0) lines.push(JSON.stringify({ T: 'b', S, o: px, h: px + 1, l: px - 1, c: px + 0.5, v: 1000, n: 10, vw: px + 0.2, t }));
    }
  });
  return lines.join('\n') + '\n';
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'raxx-md-stack-'));
  const cleanups: Array<() => Promise<unknown> | unknown> = [() => rmSync(dir, { recursive: true, force: true })];
  const processes: RoleProcess[] = [];
  const freeDelayMs = opts.freeDelayMs ?? 1000;
  try {
    const [local, db] = await Promise.all([
      startRedis({ port: await freePort(), dir: join(dir, 'redis'), persistent: false }),
      createTestDatabase('raxx_md_e2e'),
    ]);
    cleanups.push(() => local.stop(), () => db.drop());
    const app = createDb(db.appUrl, { max: 1 });
    await seedDemoUsers(app.db);
    await app.close();
    const redis = createRedis(`${local.url}/0`, 'md-stack-test');
    cleanups.push(() => closeRedis(redis));

    writeFileSync(join(dir, 'market.jsonl'), recording(opts.symbols, opts.quoteEveryMs ?? 20));
    writeFileSync(join(dir, 'key-id'), 'md-e2e-key');
    writeFileSync(join(dir, 'key-secret'), 'md-e2e-secret');
    const sim = await startTestSimulator({
      SIM_REPLAY_FILE: join(dir, 'market.jsonl'),
      SIM_REPLAY_LOOP: '1',
      SIM_KEYS: 'md-e2e-key:md-e2e-secret:algo_trader_plus',
      // The simulator drops a frozen client quickly, as Alpaca does, so its single connection slot frees.
      SIM_PING_INTERVAL_MS: '300',
      SIM_PONG_TIMEOUT_MS: '700',
    });
    cleanups.push(() => sim.close());

    const feedEnv = {
      RAXX_ENV: 'test',
      REDIS_URL: local.url,
      DATABASE_URL: db.appUrl,
      ALPACA_DATA_STREAM_URL: sim.ws,
      ALPACA_TRADING_URL: sim.url,
      ALPACA_DATA_REST_URL: sim.url,
      ALPACA_KEY_ID_FILE: join(dir, 'key-id'),
      ALPACA_SECRET_KEY_FILE: join(dir, 'key-secret'),
      FEED_LEASE_TTL_MS: '1500',
      FEED_LEASE_RENEW_MS: '300',
      FEED_SLOT_BACKOFF_MS: '400',
      FEED_STALL_TIMEOUT_MS: '1000',
      FREE_TIER_DELAY_MS: String(freeDelayMs),
      LOG_LEVEL: 'info',
      ...opts.feedEnv,
    };
    const gatewayEnv = {
      RAXX_ENV: 'test',
      REDIS_URL: local.url,
      DATABASE_URL: db.appUrl,
      ALPACA_DATA_REST_URL: sim.url,
      SESSION_JWT_SECRET: JWT_SECRET,
      GATEWAY_ALLOWED_ORIGINS: STACK_ORIGIN,
      GATEWAY_HEARTBEAT_MS: '1000',
      LOG_LEVEL: 'info',
      ...opts.gatewayEnv,
    };
    const startFeed = () => {
      const p = startRoleProcess('feed', feedEnv, 60_000);
      processes.push(p);
      return p;
    };
    const feeds = Array.from({ length: opts.feeds ?? 2 }, startFeed);
    const stack: Stack = {
      sim,
      redis,
      db,
      feeds,
      gateway: undefined as unknown as RoleProcess,
      gatewayUrl: '',
      freeDelayMs,
      startGateway: async () => {
        const gw = startRoleProcess('gateway', gatewayEnv, 60_000);
        processes.push(gw);
        stack.gateway = gw;
        stack.gatewayUrl = (await gw.ready).url;
        return stack.gatewayUrl;
      },
      lease: async () => {
        const m = /^(\d+):[^:]+:(\d+):/.exec((await redis.get(marketDataKeys.lease)) ?? '');
        return m ? { epoch: Number(m[1]), pid: Number(m[2]) } : undefined;
      },
      leaderProcess: async () => {
        let found: RoleProcess | undefined;
        await waitFor(async () => {
          const pid = (await stack.lease())?.pid;
          found = feeds.find((f) => f.child.pid === pid && f.child.exitCode === null && f.child.signalCode === null);
          return found !== undefined;
        }, 15_000, 'a feed leader');
        return found!;
      },
      devToken: async (user) => {
        const res = await fetch(`${stack.gatewayUrl}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
        if (res.status !== 200) throw new Error(`dev token for ${user}: ${res.status}`);
        return ((await res.json()) as { token: string }).token;
      },
      ops: async (method, path, body) => {
        const token = await stack.devToken('demo-operator');
        const res = await fetch(`${stack.gatewayUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      },
      control: async (path, body) => {
        const res = await fetch(`${sim.url}/_control/stream/${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        if (res.status !== 200) throw new Error(`simulator control ${path}: ${res.status}`);
        return (await res.json()) as Record<string, unknown>;
      },
      connect: async (user, clientOpts) => MdClient.open(`${stack.gatewayUrl.replace(/^http/, 'ws')}/ws`, await stack.devToken(user), clientOpts),
      stop: async () => {
        MdClient.closeAll();
        await Promise.all(processes.map((p) => p.stop('SIGKILL'))); // SIGKILL ends a SIGSTOPped process too
        for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
      },
    };
    cleanups.push(() => Promise.all(processes.map((p) => p.stop('SIGKILL'))));
    await Promise.all([stack.startGateway(), ...feeds.map((f) => f.ready)]);
    return stack;
  } catch (err) {
    for (const p of processes) p.child.kill('SIGKILL');
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    throw err;
  }
}

// ---- a `ws` client that checks seqs as the protocol tells browsers to ----

export interface ClientOptions {
  /** On a real-time gap, subscribe again with `resume` from the last seq seen (what a browser does). */
  resumeGaps?: boolean;
}

export type Frame = { T: string; S: string; src: 'rt' | 'delayed' | 'lkg'; seq: number } & Record<string, unknown>;
export type Control = { T: string } & Record<string, unknown>;
export interface Received {
  at: number;
  /** Arrival order (see MdClient.arrivals). */
  n: number;
  frame: Frame;
}

const CHANNEL_OF: Record<string, string> = { q: 'quotes', t: 'trades', b: 'bars', u: 'updatedBars', d: 'dailyBars', s: 'statuses', l: 'lulds' };

export class MdClient {
  private static readonly open_ = new Set<MdClient>();
  readonly frames: Received[] = [];
  /** Every message in arrival order (arrays and control messages). */
  readonly log: Array<Control | Frame[]> = [];
  readonly controls: Array<{ at: number; n: number; msg: Control }> = [];
  /** Arrival order of every message (frames of one array share it): milliseconds cannot order two messages of one tick. */
  private arrivals = 0;
  /** Real-time frames seen twice (or behind the newest) with no resume of that key under way: must stay empty. */
  readonly duplicates: string[] = [];
  /** Seq gaps on the real-time line, as `key:from-to`, and what became of each. */
  readonly gaps: Array<{ key: string; from: number; to: number }> = [];
  readonly lastSeq = new Map<string, number>();
  readonly seen = new Map<string, Set<number>>();
  readonly closed: Promise<number>;
  private readonly resuming = new Set<string>();
  /** Seqs per key that arrived while a resume of that key was under way (replayed, or live during the replay). */
  private readonly overlap = new Map<string, Set<number>>();

  private constructor(
    readonly ws: WebSocket,
    private readonly opts: ClientOptions,
  ) {
    this.closed = new Promise((res) => ws.on('close', (code) => res(code)));
    ws.on('message', (data) => this.onMessage(JSON.parse(data.toString()) as Control | Frame[]));
  }

  static async open(url: string, token: string, opts: ClientOptions = {}): Promise<MdClient> {
    const ws = new WebSocket(url, { headers: { Origin: STACK_ORIGIN, Authorization: `Bearer ${token}` } });
    const client = new MdClient(ws, opts);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    MdClient.open_.add(client);
    await waitFor(() => client.controls.some((c) => c.msg.T === 'welcome'), 5_000, 'welcome');
    return client;
  }

  static closeAll(): void {
    for (const c of MdClient.open_) c.ws.terminate();
    MdClient.open_.clear();
  }

  private onMessage(msg: Control | Frame[]): void {
    const at = Date.now();
    const n = ++this.arrivals;
    this.log.push(msg);
    if (!Array.isArray(msg)) {
      this.controls.push({ at, n, msg });
      if (msg.T === 'resume') this.resuming.delete(msg.key as string);
      return;
    }
    for (const frame of msg) {
      this.frames.push({ at, n, frame });
      if (frame.src === 'rt') this.track(frame);
    }
  }

  private track(f: Frame): void {
    const key = `${f.T}:${f.S}`;
    const seen = this.seen.get(key) ?? new Set<number>();
    this.seen.set(key, seen);
    const last = this.lastSeq.get(key);
    const overlap = this.overlap.get(key) ?? new Set<number>();
    this.overlap.set(key, overlap);
    if (seen.has(f.seq) || (last !== undefined && f.seq < last)) {
      // The one documented repeat: a resume replays from Redis while the live topic is already joined, so a frame
      // may come both ways (either order). Browsers drop the second copy; any other repeat is a double publish.
      if (!this.resuming.has(key) && !overlap.has(f.seq)) this.duplicates.push(`${key}:${f.seq} after ${last}`);
    } else if (last !== undefined && f.seq > last + 1) {
      this.gaps.push({ key, from: last + 1, to: f.seq - 1 });
      if (this.opts.resumeGaps && !this.resuming.has(key)) {
        this.resuming.add(key);
        this.send({ action: 'subscribe', [CHANNEL_OF[f.T]!]: [f.S], resume: { [key]: last } });
      }
    }
    seen.add(f.seq);
    if (this.resuming.has(key)) overlap.add(f.seq);
    if (last === undefined || f.seq > last) this.lastSeq.set(key, f.seq);
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** Subscribes with `resume` (kind:symbol → last seq); replayed frames overlapping live ones are expected until the answer. */
  resume(lastSeqs: ReadonlyMap<string, number>): void {
    const msg: Record<string, unknown> = { action: 'subscribe', resume: Object.fromEntries(lastSeqs) };
    for (const [key, seq] of lastSeqs) {
      const [T, S] = key.split(':') as [string, string];
      const channel = CHANNEL_OF[T]!;
      msg[channel] = [...((msg[channel] as string[] | undefined) ?? []), S];
      this.resuming.add(key);
      // What the client saw before the reconnect counts: a seq at or below it is a duplicate unless replayed.
      this.lastSeq.set(key, seq);
      this.seen.set(key, new Set([seq]));
    }
    this.send(msg);
  }

  /** The array sent right before the `resume` answer for `key` (the replay), if any. */
  replayOf(key: string): Frame[] | undefined {
    const i = this.log.findIndex((m) => !Array.isArray(m) && m.T === 'resume' && m.key === key);
    const before = i > 0 ? this.log[i - 1] : undefined;
    return Array.isArray(before) && before.every((f) => `${f.T}:${f.S}` === key) ? before : undefined;
  }

  /** Waits for a control message (`T`) that arrived after `since` and matches `pred`. */
  async control(T: string, pred: (m: Control) => boolean = () => true, timeoutMs = 5_000, since = 0): Promise<{ at: number; n: number; msg: Control }> {
    let hit: { at: number; n: number; msg: Control } | undefined;
    try {
      await waitFor(() => (hit = this.controls.find((c) => c.at >= since && c.msg.T === T && pred(c.msg))) !== undefined, timeoutMs, `"T":"${T}"`);
    } catch (err) {
      // What did arrive, so that a failure says more than "nothing matched".
      const seen = this.controls.map((c) => JSON.stringify(c.msg).slice(0, 160)).join(' | ');
      throw new Error(`${(err as Error).message}; control messages received: ${seen || 'none'}`, { cause: err });
    }
    return hit!;
  }

  /** Waits until more than `n` frames matching `pred` arrived after `since`; returns the first of them. */
  async framesAfter(since: number, pred: (f: Frame) => boolean, n = 0, timeoutMs = 5_000, what = 'frames'): Promise<Received> {
    await waitFor(() => this.frames.filter((r) => r.at >= since && pred(r.frame)).length > n, timeoutMs, what);
    return this.frames.find((r) => r.at >= since && pred(r.frame))!;
  }

  /**
   * The resume property: every gap in a key's real-time seqs was either filled afterwards (replayed by a resume)
   * or answered by a `recovered:false` resume for that key. Returns the gaps that are neither.
   */
  unexplainedGaps(): string[] {
    const out: string[] = [];
    for (const [key, seen] of this.seen) {
      const seqs = [...seen].sort((a, b) => a - b);
      for (let i = 1; i < seqs.length; i++) {
        if (seqs[i]! === seqs[i - 1]! + 1) continue;
        const flagged = this.controls.some((c) => c.msg.T === 'resume' && c.msg.key === key && c.msg.recovered === false);
        if (!flagged) out.push(`${key}:${seqs[i - 1]! + 1}-${seqs[i]! - 1}`);
      }
    }
    return out;
  }

  close(): void {
    MdClient.open_.delete(this);
    this.ws.close();
  }
}
