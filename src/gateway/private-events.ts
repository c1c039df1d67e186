// The private per-user channel: a shared, ref-counted Redis subscriber for `user-events:<id>` (used by the command API
// to await decisions and by every authenticated WebSocket), and the per-socket forwarding with resume from the
// user's event log `{u:<id>}:events`. Private events are sent with `ws.send` and the result checked: a socket that
// cannot take them is closed 4008 (the client resumes), never silently skipped. See docs/commands-api.md.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { USER_EVENT_LOG_MAX, userEventChannel, userEventKeys } from '../contracts/user-events.js';
import type { Logger } from '../infra/logging/index.js';
import type { PrivateChannelHook, PrivateSocket, PrivateSocketHandle } from './server.js';

// ---- the shared subscriber ----

export type UserEventListener = (frame: string) => void;

interface ChannelState {
  fns: Set<UserEventListener>;
  subscribed: boolean;
  sync: Promise<void> | null;
}

/** One Redis subscriber connection for every `user-events:<id>` channel this replica needs, ref-counted per user. */
export interface UserEventBus {
  /** Resolves once Redis confirmed the subscription (frames published afterwards reach `fn`); a failure adds nothing. */
  add(userId: string, fn: UserEventListener): Promise<void>;
  remove(userId: string, fn: UserEventListener): void;
  /** Channels currently subscribed. */
  size(): number;
  close(): Promise<void>;
}

export function createUserEventBus(subscriber: Redis, onError: (err: unknown) => void = () => {}): UserEventBus {
  const map = new Map<string, ChannelState>();
  const onMessage = (channel: string, message: string): void => {
    const st = map.get(channel);
    if (!st) return;
    for (const fn of [...st.fns]) {
      try {
        fn(message);
      } catch (err) {
        onError(err);
      }
    }
  };
  subscriber.on('message', onMessage);

  function converge(channel: string, st: ChannelState): Promise<void> {
    if (st.sync) return st.sync.then(() => converge(channel, st));
    if (st.fns.size > 0 === st.subscribed) return Promise.resolve();
    st.sync = (async () => {
      try {
        while (st.fns.size > 0 !== st.subscribed) {
          const want = st.fns.size > 0;
          if (want) await subscriber.subscribe(channel);
          else await subscriber.unsubscribe(channel);
          st.subscribed = want;
        }
      } finally {
        st.sync = null;
        if (st.fns.size === 0 && !st.subscribed && map.get(channel) === st) map.delete(channel);
      }
    })();
    return st.sync;
  }

  return {
    async add(userId, fn) {
      const channel = userEventChannel(userId);
      let st = map.get(channel);
      if (!st) map.set(channel, (st = { fns: new Set(), subscribed: false, sync: null }));
      st.fns.add(fn);
      try {
        await converge(channel, st);
      } catch (err) {
        st.fns.delete(fn);
        void converge(channel, st).catch(onError);
        throw err;
      }
    },
    remove(userId, fn) {
      const channel = userEventChannel(userId);
      const st = map.get(channel);
      if (!st) return;
      st.fns.delete(fn);
      converge(channel, st).catch(onError);
    },
    size() {
      let n = 0;
      for (const st of map.values()) if (st.subscribed) n++;
      return n;
    },
    async close() {
      subscriber.off('message', onMessage);
      const channels = [...map.keys()];
      map.clear();
      if (channels.length > 0 && subscriber.status === 'ready') await subscriber.unsubscribe(...channels).catch(onError);
    },
  };
}

/** The seq of a published/logged frame, or null when it is not a private event frame. */
export function frameSeq(frame: string): number | null {
  try {
    const seq = (JSON.parse(frame) as { seq?: unknown }).seq;
    return typeof seq === 'number' && Number.isInteger(seq) && seq > 0 ? seq : null;
  } catch {
    return null;
  }
}

// ---- the per-socket private channel ----

export const PRIVATE_BACKLOG_CLOSE = { code: 4008, reason: 'private events backlog' } as const;

const resumeSchema = z.object({ action: z.literal('resume_events'), after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict();

export interface PrivateEventsDeps {
  /** Reads the user's event log (XREVRANGE) and seq counter. */
  redis: Redis;
  bus: UserEventBus;
  /** The WebSocket's maxBackpressure: a private send that leaves more buffered (or is dropped) closes the socket 4008. */
  maxBackpressureBytes: number;
  logger?: Logger;
  options?: {
    /** Entries per XREVRANGE page during a resume. Default 500. */
    replayPage?: number;
    /** Live frames buffered per socket while a resume reads the log before the socket is closed 4008. Default 10,000. */
    maxPending?: number;
    /** Longest wait for the outbox to drain during a replay before closing 4008. Default 10 s. */
    drainTimeoutMs?: number;
  };
}

interface LogEntry {
  seq: number;
  frame: string;
}

export function createPrivateEvents(deps: PrivateEventsDeps): PrivateChannelHook {
  const page = deps.options?.replayPage ?? 500;
  const maxPending = deps.options?.maxPending ?? 10_000;
  const drainTimeoutMs = deps.options?.drainTimeoutMs ?? 10_000;
  const limit = deps.maxBackpressureBytes;

  /** Newest-first walk of the log until an entry with seq <= after; returns those above, oldest first, and the gap. */
  async function readAfter(userId: string, after: number): Promise<{ entries: LogEntry[]; gap: { from: number; to: number } | null }> {
    const key = userEventKeys.log(userId);
    const out: LogEntry[] = [];
    let end = '+';
    let reached = false;
    while (!reached && out.length < USER_EVENT_LOG_MAX) {
      const rows = await deps.redis.xrevrange(key, end, '-', 'COUNT', page);
      for (const [id, fields] of rows) {
        end = `(${id}`;
        const s = fieldOf(fields, 's');
        const f = fieldOf(fields, 'f');
        const seq = s === undefined ? NaN : Number(s);
        if (!Number.isInteger(seq) || f === undefined) continue;
        if (seq <= after) {
          reached = true;
          break;
        }
        out.push({ seq, frame: f });
      }
      if (rows.length < page) break;
    }
    out.reverse();
    if (reached) return { entries: out, gap: null };
    const oldest = out[0]?.seq;
    if (oldest !== undefined) return { entries: out, gap: oldest > after + 1 ? { from: after + 1, to: oldest - 1 } : null };
    // Empty log: anything issued after `after` is gone.
    const last = Number((await deps.redis.get(userEventKeys.seq(userId))) ?? '0');
    return { entries: out, gap: Number.isFinite(last) && last > after ? { from: after + 1, to: last } : null };
  }

  const ctx: ForwarderContext = { deps, maxPending, drainTimeoutMs, limit, readAfter };
  return {
    open: (socket: PrivateSocket): PrivateSocketHandle => new PrivateForwarder(socket, ctx),
  };
}

interface ForwarderContext {
  deps: PrivateEventsDeps;
  maxPending: number;
  drainTimeoutMs: number;
  limit: number;
  readAfter(userId: string, after: number): Promise<{ entries: LogEntry[]; gap: { from: number; to: number } | null }>;
}

/**
 * One socket's private channel. A class, not closures: one exists per open WebSocket, and a dozen closures with their
 * context cost ~0.7 KB per socket on the V8 heap where an instance with prototype methods costs ~0.15 KB.
 */
class PrivateForwarder implements PrivateSocketHandle {
  private closed = false;
  private lastSeq = 0;
  private resuming = false;
  private pending: LogEntry[] = [];
  /** The bus listener (a bound method: the bus keys listeners by identity). */
  private readonly listener: UserEventListener;
  private readonly ready: Promise<void>;

  constructor(
    private readonly socket: PrivateSocket,
    private readonly ctx: ForwarderContext,
  ) {
    this.listener = this.onFrame.bind(this);
    this.ready = ctx.deps.bus.add(socket.userId, this.listener).catch((err: unknown) => {
      ctx.deps.logger?.warn({ err, user: socket.userId }, 'private channel subscribe failed');
      throw err;
    });
    this.ready.catch(() => {}); // observed by resume; a live-only socket just misses events until it resumes
  }

  private kill(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.deps.bus.remove(this.socket.userId, this.listener);
    this.socket.close(PRIVATE_BACKLOG_CLOSE.code, PRIVATE_BACKLOG_CLOSE.reason);
  }

  /** Sends one frame unless already delivered; false when the socket had to be closed. */
  private deliver(e: LogEntry): boolean {
    if (this.closed) return false;
    if (e.seq <= this.lastSeq) return true;
    // A frame that would take the outbox past the limit is not sent: the socket is closed while the close frame
    // still fits (uWS drops every frame, the close frame too, once the outbox is over maxBackpressure).
    const { socket, ctx } = this;
    if (socket.buffered() + Buffer.byteLength(e.frame) > ctx.limit) {
      this.kill();
      return false;
    }
    const r = socket.send(e.frame);
    if (r === 'dropped' || (r === 'backpressure' && socket.buffered() > ctx.limit)) {
      this.kill();
      return false;
    }
    this.lastSeq = e.seq;
    return true;
  }

  private onFrame(frame: string): void {
    if (this.closed) return;
    const seq = frameSeq(frame);
    if (seq === null) return;
    if (this.resuming) {
      this.pending.push({ seq, frame });
      if (this.pending.length > this.ctx.maxPending) this.kill();
      return;
    }
    this.deliver({ seq, frame });
  }

  private async waitDrain(): Promise<boolean> {
    const start = Date.now();
    while (!this.closed && this.socket.buffered() > this.ctx.limit / 2) {
      if (Date.now() - start > this.ctx.drainTimeoutMs) {
        this.kill();
        return false;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return !this.closed;
  }

  private async resume(after: number): Promise<void> {
    const { socket } = this;
    this.resuming = true;
    this.pending = [];
    try {
      await this.ready;
      const { entries, gap } = await this.ctx.readAfter(socket.userId, after);
      if (this.closed) return;
      if (gap) socket.send(JSON.stringify({ T: 'events_gap', ...gap }));
      // The client's position: everything above `after` is (re)sent, in order.
      this.lastSeq = after;
      let count = 0;
      for (let i = 0; i < entries.length; i++) {
        if (i % 100 === 99 && !(await this.waitDrain())) return;
        if (!this.deliver(entries[i]!)) return;
        count++;
      }
      // Live frames that arrived meanwhile (deliver skips what the log already gave).
      const live = this.pending;
      this.pending = [];
      this.resuming = false;
      for (const e of live) if (!this.deliver(e)) return;
      if (!this.closed) socket.send(JSON.stringify({ T: 'events_resumed', after, last: this.lastSeq, replayed: count }));
    } finally {
      this.resuming = false;
      const live = this.pending;
      this.pending = [];
      for (const e of live) if (!this.deliver(e)) break;
    }
  }

  message(text: string): boolean {
    if (!text.includes('resume_events')) return false;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return false;
    }
    if ((raw as { action?: unknown } | null)?.action !== 'resume_events') return false;
    const { socket } = this;
    const parsed = resumeSchema.safeParse(raw);
    if (!parsed.success) {
      socket.send(JSON.stringify({ T: 'error', code: 'invalid_message', message: 'expected {"action":"resume_events","after":<seq >= 0>}' }));
      return true;
    }
    if (this.resuming) {
      socket.send(JSON.stringify({ T: 'error', code: 'rate_limited', message: 'a resume_events is already running' }));
      return true;
    }
    this.resume(parsed.data.after).catch((err: unknown) => {
      this.ctx.deps.logger?.warn({ err, user: socket.userId }, 'resume_events failed');
      if (!this.closed) socket.send(JSON.stringify({ T: 'error', code: 'internal', message: 'resume_events failed; retry' }));
    });
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.deps.bus.remove(this.socket.userId, this.listener);
  }
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
