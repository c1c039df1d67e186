// Server-Sent Events for browsers that cannot (or would rather not) hold a WebSocket:
// GET /api/market-data/stream?symbols=AAPL,MSFT&channels=quotes,trades — same auth and tier filtering as /ws.
// SSE responses are not uWS WebSockets, so they cannot join uWS topics: this module subscribes the hub's Redis
// channels itself on its own connection (a small ref-counted fan-out) and still acquires the topics on the hub, so
// demand (what the feed subscribes upstream) counts SSE clients too. See docs/http-api.md.
// Slow readers are bounded like slow sockets: market data for a backed-up stream is skipped (counted), and once its
// backlog has drained it gets one fresh snapshot (latest per key wins) — the gateway never queues frames for it.
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import { marketDataChannels, tickKinds, type Line, type TickKind } from '../../contracts/index.js';
import { channelKinds, grantFor, maxSymbolsPerConnection, type Clock, type MarketChannel } from '../../domain/index.js';
import type { Logger } from '../../infra/logging/index.js';
import type { HubPort } from '../hub-port.js';
import type { UserRecord } from '../tier-directory.js';
import { admit, parseChannels, parseSymbols, readRequest, sendError, statusLine, type AccessDeps } from './market-rest.js';
import { guard, type ResState } from './response.js';
import type { RouteModule } from './routes.js';

export interface SseOptions {
  /** `: hb` comment line period. Default 15 s. */
  heartbeatMs?: number;
  /** EventSource reconnect delay announced in the `retry:` field. Default 2 s. */
  retryMs?: number;
}

export interface SseDeps extends AccessDeps {
  /** The gateway's hub (created inside startGateway, so read lazily). */
  hub: () => Pick<HubPort, 'acquire' | 'release' | 'snapshot' | 'replay' | 'status'>;
  /** A dedicated Redis connection for SUBSCRIBE: this module owns its subscriptions and `message` listener. */
  subscriber: Redis;
  clock: Clock;
  logger?: Logger;
  options?: SseOptions;
  /** Where the SSE counters go (the role's registry); omitted = not exported. */
  registry?: Registry;
}

export interface SseRoutes extends RouteModule {
  /** Open event streams. */
  streams(): number;
  /** Redis channels this module is subscribed to (market data plus `md:status`). */
  channels(): number;
  /** Ends every stream and unsubscribes (on gateway shutdown). */
  close(): Promise<void>;
}

const DEFAULT_CHANNELS: readonly MarketChannel[] = ['quotes', 'trades'];
const SEQ_TAIL = /"seq":(\d+)\}$/;

interface Key {
  line: Line;
  kind: TickKind;
  symbol: string;
  channel: string;
}

interface Stream {
  res: HttpResponse;
  state: ResState;
  user: UserRecord;
  keys: Key[];
  /** Keys acquired on the hub and the fan-out (released on close). */
  acquired: Key[];
  closed: boolean;
  /** A write found the response backed up: market data is skipped until the backlog drains. */
  congested: boolean;
  /** The latest hub status that arrived while congested (sent with the resync). */
  pendingStatus: string | null;
  listener: (channel: string, message: string) => void;
}

// ---- ref-counted Redis fan-out ----

interface ChannelState {
  fns: Set<(channel: string, message: string) => void>;
  subscribed: boolean;
  sync: Promise<void> | null;
}

class Fanout {
  private readonly map = new Map<string, ChannelState>();
  private readonly onMessage = (channel: string, message: string): void => {
    const st = this.map.get(channel);
    if (!st) return;
    for (const fn of st.fns) fn(channel, message);
  };

  constructor(
    private readonly subscriber: Redis,
    private readonly onError: (err: unknown) => void,
  ) {
    subscriber.on('message', this.onMessage);
  }

  size(): number {
    let n = 0;
    for (const st of this.map.values()) if (st.subscribed) n++;
    return n;
  }

  /** Resolves once Redis confirmed the subscription; a failure leaves nothing added. */
  async add(channel: string, fn: (channel: string, message: string) => void): Promise<void> {
    let st = this.map.get(channel);
    if (!st) this.map.set(channel, (st = { fns: new Set(), subscribed: false, sync: null }));
    st.fns.add(fn);
    try {
      await this.converge(channel, st);
    } catch (err) {
      st.fns.delete(fn);
      void this.converge(channel, st).catch(this.onError);
      throw err;
    }
  }

  remove(channel: string, fn: (channel: string, message: string) => void): void {
    const st = this.map.get(channel);
    if (!st) return;
    st.fns.delete(fn);
    this.converge(channel, st).catch(this.onError);
  }

  private converge(channel: string, st: ChannelState): Promise<void> {
    if (st.sync) return st.sync.then(() => this.converge(channel, st));
    if (st.fns.size > 0 === st.subscribed) return Promise.resolve();
    st.sync = (async () => {
      try {
        while (st.fns.size > 0 !== st.subscribed) {
          const want = st.fns.size > 0;
          if (want) await this.subscriber.subscribe(channel);
          else await this.subscriber.unsubscribe(channel);
          st.subscribed = want;
        }
      } finally {
        st.sync = null;
        if (st.fns.size === 0 && !st.subscribed && this.map.get(channel) === st) this.map.delete(channel);
      }
    })();
    return st.sync;
  }

  async close(): Promise<void> {
    this.subscriber.off('message', this.onMessage);
    const channels = [...this.map.keys()];
    this.map.clear();
    if (channels.length > 0 && this.subscriber.status === 'ready') await this.subscriber.unsubscribe(...channels).catch(this.onError);
  }
}

// ---- the route module ----

export function createSseRoutes(deps: SseDeps): SseRoutes {
  const heartbeatMs = deps.options?.heartbeatMs ?? 15_000;
  const retryMs = deps.options?.retryMs ?? 2_000;
  const onError = (err: unknown) => deps.logger?.warn({ err }, 'sse fan-out error');
  const fanout = new Fanout(deps.subscriber, onError);
  const streams = new Set<Stream>();
  const metrics = sseMetrics(deps.registry, () => streams.size);
  let statusJoined: Promise<void> | null = null;
  let closing = false;

  const onStatus = (_channel: string, message: string): void => {
    for (const s of streams) {
      if (s.congested) s.pendingStatus = message;
      else write(s, `event: status\ndata: ${message}\n\n`);
    }
  };
  const joinStatus = (): Promise<void> => {
    statusJoined ??= fanout.add(marketDataChannels.status, onStatus).catch((err: unknown) => {
      statusJoined = null;
      throw err;
    });
    return statusJoined;
  };

  /** Writes (corked); a `false` from uWS means the socket is backed up: market data pauses until it drains. */
  function write(s: Stream, text: string): boolean {
    if (s.closed) return false;
    let ok = true;
    s.res.cork(() => {
      ok = s.res.write(text);
    });
    if (!ok) s.congested = true;
    return ok;
  }

  /**
   * The socket became writable. uWS does not flush its own buffer for a response that has a writable handler, but
   * any write flushes the backlog first: a tiny comment does, and tells whether anything is still left over. Only
   * then is the stream caught up and resynced; otherwise uWS keeps polling and calls again.
   */
  function onWritable(s: Stream): boolean {
    if (s.closed || !s.congested) return true;
    let drained = false;
    s.res.cork(() => {
      drained = s.res.write(': drained\n\n');
    });
    if (!drained) return false;
    s.congested = false;
    metrics.resyncs.inc();
    if (s.pendingStatus !== null) {
      write(s, `event: status\ndata: ${s.pendingStatus}\n\n`);
      s.pendingStatus = null;
    }
    // Market data skipped while backed up is lost for this client: a fresh snapshot replaces it.
    snapshotEvent(s, s.acquired).catch(onError);
    return true;
  }

  function mdEvent(kind: TickKind, symbol: string, frames: readonly string[]): string {
    const last = frames[frames.length - 1]!;
    const seq = SEQ_TAIL.exec(last)?.[1];
    return `event: md\n${seq !== undefined ? `id: ${kind}:${symbol}:${seq}\n` : ''}data: [${frames.join(',')}]\n\n`;
  }

  async function snapshotEvent(s: Stream, keys: readonly Key[]): Promise<void> {
    const hub = deps.hub();
    const groups = new Map<string, { line: Line; kind: TickKind; symbols: string[] }>();
    for (const k of keys) {
      const g = groups.get(`${k.line}:${k.kind}`);
      if (g) g.symbols.push(k.symbol);
      else groups.set(`${k.line}:${k.kind}`, { line: k.line, kind: k.kind, symbols: [k.symbol] });
    }
    const frames = (await Promise.all([...groups.values()].map((g) => hub.snapshot(g.line, g.kind, g.symbols)))).flat();
    write(s, `event: snapshot\ndata: [${frames.join(',')}]\n\n`);
  }

  function cleanup(s: Stream): void {
    if (s.closed) return;
    // uWS ends a response whose backlog has not moved for 10 s (its HTTP timeout): the client reconnects and resumes.
    if (s.congested) metrics.slowCloses.inc();
    s.closed = true;
    streams.delete(s);
    const hub = deps.hub();
    for (const k of s.acquired) {
      fanout.remove(k.channel, s.listener);
      void Promise.resolve(hub.release(k.line, k.kind, k.symbol)).catch(onError);
    }
    s.acquired = [];
  }

  const heartbeat = setInterval(() => {
    for (const s of streams) if (!s.congested) write(s, ': hb\n\n');
  }, heartbeatMs);
  heartbeat.unref();

  const handler = (res: HttpResponse, req: Parameters<Parameters<TemplatedApp['get']>[1]>[1]): void => {
    const parts = readRequest(req);
    const state = guard(res);
    void (async () => {
      if (closing) return sendError(res, state, 503, 'internal', 'the gateway is shutting down');
      const user = await admit(deps, res, state, parts.token);
      if (!user) return;
      const symbols = parseSymbols(parts.query.get('symbols'));
      if (!Array.isArray(symbols)) return sendError(res, state, 400, 'invalid_request', `invalid symbol: ${symbols.invalid}`);
      if (symbols.length === 0) return sendError(res, state, 400, 'invalid_request', 'symbols is required');
      const limit = maxSymbolsPerConnection[user.tier];
      if (symbols.length > limit) return sendError(res, state, 400, 'invalid_request', `at most ${limit} symbols per stream`, { limit });
      const channels = parseChannels(parts.query.get('channels'), DEFAULT_CHANNELS);
      if (!Array.isArray(channels)) return sendError(res, state, 400, 'invalid_request', `unknown channel: ${channels.invalid}`);

      const keys: Key[] = [];
      const notices: string[] = [];
      const granted: Record<string, string[]> = {};
      for (const channel of channels) {
        const grant = grantFor(user.tier, channel);
        if ('refused' in grant) {
          notices.push(
            JSON.stringify({ T: 'error', code: 'tier_required', message: `${channel} requires the ${grant.requiredTier} tier`, channel, requiredTier: grant.requiredTier, symbols }),
          );
          continue;
        }
        granted[channel] = symbols;
        for (const kind of channelKinds[channel] as readonly TickKind[]) {
          for (const symbol of symbols) keys.push({ line: grant.line, kind, symbol, channel: marketDataChannels.tick(grant.line, kind, symbol) });
        }
      }
      const hubStatus = await deps.hub().status().catch(() => null);
      await joinStatus();
      if (state.aborted) return;

      // ---- the stream is open from here: `res` stays open until the client goes or the gateway closes ----
      state.aborted = true; // nobody may answer JSON on this response any more
      const s: Stream = { res, state, user, keys, acquired: [], closed: false, congested: false, pendingStatus: null, listener: () => {} };
      s.listener = (channel, message) => {
        if (s.closed) return;
        if (s.congested) {
          metrics.skipped.inc();
          return;
        }
        const [, , kind, symbol] = channel.split(':');
        write(s, mdEvent(kind as TickKind, symbol!, [message]));
      };
      state.onAbort = () => cleanup(s); // guard()'s onAborted calls it
      res.onWritable(() => onWritable(s));
      streams.add(s);
      res.cork(() => {
        res
          .writeStatus(statusLine(200))
          .writeHeader('content-type', 'text/event-stream; charset=utf-8')
          .writeHeader('cache-control', 'no-store')
          .writeHeader('x-accel-buffering', 'no');
        res.write(`retry: ${retryMs}\n\n`);
      });
      write(s, `event: welcome\ndata: ${JSON.stringify({ T: 'welcome', user: user.id, tier: user.tier })}\n\n`);
      if (hubStatus) write(s, `event: status\ndata: ${hubStatus}\n\n`);
      write(s, `event: subscription\ndata: ${JSON.stringify({ T: 'subscription', ...granted })}\n\n`);
      for (const n of notices) write(s, `event: notice\ndata: ${n}\n\n`);

      // Join live first (hub for demand, fan-out for the frames), then snapshot/replay: overlaps are deduped by seq.
      const hub = deps.hub();
      for (const k of keys) {
        if (s.closed) return;
        await hub.acquire(k.line, k.kind, k.symbol);
        try {
          await fanout.add(k.channel, s.listener);
        } catch (err) {
          void Promise.resolve(hub.release(k.line, k.kind, k.symbol)).catch(onError);
          throw err;
        }
        if (s.closed) {
          fanout.remove(k.channel, s.listener);
          void Promise.resolve(hub.release(k.line, k.kind, k.symbol)).catch(onError);
          return;
        }
        s.acquired.push(k);
      }

      // Last-Event-ID (header, or `lastEventId` for clients that reconnect by hand): `<kind>:<SYMBOL>:<seq>[,…]`.
      const resume = parseLastEventIds(parts.lastEventId || (parts.query.get('lastEventId') ?? ''));
      const fresh: Key[] = [];
      const resumes: string[] = [];
      for (const k of keys) {
        const afterSeq = resume.get(`${k.kind}:${k.symbol}`);
        if (afterSeq === undefined) {
          fresh.push(k);
          continue;
        }
        resume.delete(`${k.kind}:${k.symbol}`);
        if (k.line !== 'rt') {
          fresh.push(k);
          resumes.push(JSON.stringify({ T: 'resume', key: `${k.kind}:${k.symbol}`, recovered: false, reason: 'delayed_line' }));
          continue;
        }
        const r = await hub.replay(k.kind, k.symbol, afterSeq);
        if (r.complete) {
          if (r.frames.length > 0) write(s, mdEvent(k.kind, k.symbol, r.frames));
          resumes.push(JSON.stringify({ T: 'resume', key: `${k.kind}:${k.symbol}`, recovered: true, lastSeq: r.lastSeq }));
        } else {
          fresh.push(k);
          resumes.push(JSON.stringify({ T: 'resume', key: `${k.kind}:${k.symbol}`, recovered: false, reason: 'outside_window' }));
        }
      }
      for (const key of resume.keys()) resumes.push(JSON.stringify({ T: 'resume', key, recovered: false, reason: 'not_subscribed' }));
      if (fresh.length > 0) await snapshotEvent(s, fresh);
      for (const r of resumes) write(s, `event: resume\ndata: ${r}\n\n`);
    })().catch((err: unknown) => {
      deps.logger?.warn({ err }, 'sse stream failed');
      if (!state.aborted) return sendError(res, state, 500, 'internal', 'the stream could not be opened; retry');
      // Already streaming: end it, the client reconnects with Last-Event-ID.
      for (const s of streams) {
        if (s.res !== res) continue;
        cleanup(s);
        res.cork(() => res.end());
      }
    });
  };

  return {
    register(app) {
      app.get('/api/market-data/stream', handler);
    },
    streams: () => streams.size,
    channels: () => fanout.size(),
    async close() {
      closing = true;
      clearInterval(heartbeat);
      for (const s of [...streams]) {
        cleanup(s);
        s.res.cork(() => s.res.end());
      }
      await fanout.close();
    },
  };
}

function sseMetrics(registry: Registry | undefined, open: () => number) {
  const registers = registry ? [registry] : [];
  return {
    streams: new Gauge({ name: 'raxx_gateway_sse_streams', help: 'Open SSE streams', registers, collect() { this.set(open()); } }),
    skipped: new Counter({ name: 'raxx_gateway_sse_skipped_total', help: 'Market-data events not written to a backed-up SSE stream', registers }),
    resyncs: new Counter({ name: 'raxx_gateway_sse_resyncs_total', help: 'Fresh snapshots sent to an SSE stream once its backlog drained', registers }),
    slowCloses: new Counter({ name: 'raxx_gateway_sse_slow_closes_total', help: 'SSE streams that ended while backed up', registers }),
  };
}

const KINDS: readonly string[] = tickKinds;

/** `q:AAPL:12,t:AAPL:40` → Map { 'q:AAPL' → 12, 't:AAPL' → 40 } (invalid entries ignored, at most 1,000). */
export function parseLastEventIds(raw: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of raw.split(',').slice(0, 1000)) {
    const m = /^([a-z]):([A-Z][A-Z0-9.]{0,9}):(\d{1,15})$/.exec(part.trim());
    if (!m || !KINDS.includes(m[1]!)) continue;
    out.set(`${m[1]}:${m[2]}`, Number(m[3]));
  }
  return out;
}
