// The gateway's market-data hub: reference-counted Redis fan-in, per-topic packing, LKG snapshots and replay.
import type { Redis } from 'ioredis';
import {
  marketDataChannels,
  marketDataKeys,
  symbolSchema,
  tickKinds,
  type Line,
  type TickKind,
} from '../../contracts/market-data.js';
import { relabelAsLkg } from './frames.js';

export interface MarketDataHubOptions {
  /** Commands: HMGET last-known-good, XREVRANGE/HGET replay, GET status. */
  redis: Redis;
  /** Dedicated connection for SUBSCRIBE; the hub owns its subscriptions and `message` listener. */
  subscriber: Redis;
  /**
   * A DemandLease (or anything shaped like it): `set` is called, debounced by `demandDebounceMs`, when the set of
   * symbols with at least one acquired topic changes; `stop` (if present) on close, else `set([])`.
   */
  demand: { set(symbols: Iterable<string>): Promise<void>; stop?(): Promise<void> };
  /** uWS `app.publish(topic, payload, false)`. */
  publish(topic: string, payload: string): void;
  /** Each `md:status` message (HubStatus JSON, as published). */
  onStatus(statusJson: string): void;
  /**
   * A quiet topic's frames are published at the end of the read that brought them; a topic that published within
   * the current window waits for the window's end, so a busy topic publishes at most once per window, packed.
   * Default 2; 0 = every frame alone, synchronously.
   */
  packWindowMs?: number;
  now?: () => number;
  /** Debounce of demand updates. Default 50 ms. */
  demandDebounceMs?: number;
  /** A replay needing more frames than this answers `complete: false` (the caller sends a snapshot). Default 5,000. */
  maxReplayFrames?: number;
  /** Background failures (unsubscribe, demand updates, a throwing `publish`/`onStatus`). Default: ignored. */
  onError?: (err: unknown) => void;
}

export interface ReplayResult {
  /** Real-time frames with seq > afterSeq, in seq order (possibly partial when `complete` is false). */
  frames: string[];
  /** True when `frames` is exactly seq afterSeq+1 … lastSeq. */
  complete: boolean;
  /** The last seq known for this (kind, symbol) (`{md}:seq`, or the stream's newest entry); 0 when nothing is known. */
  lastSeq: number;
}

export interface MarketDataHubStats {
  /** Topics with at least one reference. */
  topics: number;
  /** Frames received for acquired topics. */
  framesIn: number;
  /** Payloads handed to `publish`. */
  publishes: number;
  /** `replay` calls, and the reads of the replay window that served them (concurrent resumes of one key share one). */
  replayRequests: number;
  replayReads: number;
  /** Snapshot frames served from the hub's copy of a subscribed topic's last frame, and the Redis reads for the rest. */
  snapshotHits: number;
  snapshotReads: number;
}

export interface MarketDataHub {
  /** uWS topic for a (line, kind, symbol): the Redis channel name `md:<line>:<kind>:<symbol>`. */
  topic(line: Line, kind: TickKind, symbol: string): string;
  /** Reference-counted: the first acquire SUBSCRIBEs the Redis channel (and updates demand); resolves once subscribed. */
  acquire(line: Line, kind: TickKind, symbol: string): Promise<void>;
  /** The last release UNSUBSCRIBEs. Never rejects (Redis errors go to `onError`). */
  release(line: Line, kind: TickKind, symbol: string): Promise<void>;
  /** Last-known-good frames of these symbols relabelled `"src":"lkg"` (seq kept), in input order; missing ones omitted. */
  snapshot(line: Line, kind: TickKind, symbols: readonly string[]): Promise<string[]>;
  /** Real-time frames of one (kind, symbol) with seq > afterSeq from the replay window. */
  replay(kind: TickKind, symbol: string, afterSeq: number): Promise<ReplayResult>;
  /** Current `{md}:status` JSON, or null. */
  status(): Promise<string | null>;
  stats(): MarketDataHubStats;
  /** Idempotent: drops pending packs, unsubscribes everything, stops demand. */
  close(): Promise<void>;
}

const lines: readonly string[] = ['rt', 'dl'];
const kinds: readonly string[] = tickKinds;
const REPLAY_PAGE = 512;
/**
 * The first replay page is small and later pages ask only for the seqs still missing: a reconnect misses a few frames
 * per key, and fixed 512-entry pages made every resume of a reconnect storm move ~100 KB out of Redis (10,000 sockets
 * × 2 keys: gigabytes, and resumes took over a minute).
 */
const REPLAY_FIRST_PAGE = 32;
const HMGET_CHUNK = 1000;

/** One uWS topic = one Redis channel. Mutable fields are the hot path's state. */
class TopicState {
  refs = 0;
  subscribed = false;
  /** In-flight SUBSCRIBE/UNSUBSCRIBE reconciliation, if any. */
  sync: Promise<void> | null = null;
  /** Pending pack: `[f1,f2,…` without the closing bracket; '' when nothing is pending. */
  buf = '';
  /** The pack window in which this topic last published (-1: never); equal to the current one means busy. */
  window = -1;
  /**
   * The last frame published on this topic while subscribed (the feed writes each last-known-good frame and publishes
   * it in one script), so a snapshot needs no Redis read: undefined = not known, null = Redis has none.
   */
  last: string | null | undefined = undefined;
  /** Bumped whenever `last` stops being trustworthy (unsubscribed), so a read sent before cannot fill it. */
  gen = 0;
  constructor(
    readonly topic: string,
    readonly symbol: string,
  ) {}
}

function validate(line: string, kind: string, symbol: string): void {
  if (!lines.includes(line)) throw new Error(`invalid market-data line: ${line}`);
  if (!kinds.includes(kind)) throw new Error(`invalid tick kind: ${kind}`);
  if (!symbolSchema.safeParse(symbol).success) throw new Error(`invalid symbol: ${symbol}`);
}

function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

type StreamEntry = [id: string, fields: string[]];

interface ReplayWaiter {
  afterSeq: number;
  resolve(result: ReplayResult): void;
  reject(err: unknown): void;
}

/** From a complete replay after `from` (frames exactly from+1 … lastSeq), the replay after `afterSeq` ≥ `from`. */
function tailOf(shared: ReplayResult, from: number, afterSeq: number): ReplayResult {
  if (afterSeq > shared.lastSeq) return { frames: [], complete: false, lastSeq: shared.lastSeq }; // ahead of every known seq
  return { frames: shared.frames.slice(afterSeq - from), complete: true, lastSeq: shared.lastSeq };
}

export async function createMarketDataHub(opts: MarketDataHubOptions): Promise<MarketDataHub> {
  const { redis, subscriber, demand, publish, onStatus } = opts;
  const packWindowMs = Math.max(0, opts.packWindowMs ?? 2);
  const demandDebounceMs = opts.demandDebounceMs ?? 50;
  const maxReplayFrames = opts.maxReplayFrames ?? 5000;
  const onError = opts.onError ?? (() => {});
  const statusChannel = marketDataChannels.status;

  const topics = new Map<string, TopicState>();
  /** symbol → number of topics (any line, any kind) with refs > 0. */
  const symbolTopics = new Map<string, number>();
  let activeTopics = 0;
  let framesIn = 0;
  let publishes = 0;
  let replayRequests = 0;
  let replayReads = 0;
  let snapshotHits = 0;
  let snapshotReads = 0;
  let closed = false;
  let closing: Promise<void> | null = null;

  // ---- packing (hot path) ----
  // Leading edge, then one publish per window: a tick of a quiet topic goes out at the end of the socket read that
  // brought it (setImmediate; the ticks of one read still share a frame), so packing costs a quiet topic no latency;
  // a topic that already published in the current window collects its ticks until the window ends.
  let window = 0;
  let publishedInWindow = false;
  let soon: TopicState[] = [];
  let later: TopicState[] = [];
  let spare: TopicState[] = [];
  let immediate: NodeJS.Immediate | undefined;
  let windowTimer: NodeJS.Timeout | undefined;

  const publishAll = (batch: TopicState[]): void => {
    for (let i = 0; i < batch.length; i++) {
      const st = batch[i]!;
      const payload = st.buf + ']';
      st.buf = '';
      if (st.refs === 0) continue;
      st.window = window;
      publishedInWindow = true;
      publishes++;
      try {
        publish(st.topic, payload);
      } catch (err) {
        onError(err);
      }
    }
    batch.length = 0;
  };

  const swap = (batch: TopicState[]): TopicState[] => {
    const next = spare;
    spare = batch;
    return next;
  };

  const onWindowEnd = (): void => {
    window++;
    const batch = later;
    later = swap(batch);
    const busy = publishedInWindow || batch.length > 0;
    publishedInWindow = false;
    publishAll(batch);
    // Stops once a whole window passed without a publish: every topic is quiet again.
    if (!busy && windowTimer !== undefined) {
      clearInterval(windowTimer);
      windowTimer = undefined;
    }
  };

  const flushSoon = (): void => {
    immediate = undefined;
    const batch = soon;
    soon = swap(batch);
    publishAll(batch);
    windowTimer ??= setInterval(onWindowEnd, packWindowMs);
  };

  const onMessage = (channel: string, message: string): void => {
    const st = topics.get(channel);
    if (st === undefined) {
      if (channel === statusChannel) {
        try {
          onStatus(message);
        } catch (err) {
          onError(err);
        }
      }
      return;
    }
    st.last = message; // messages arrive in publish order, so the newest one is the topic's last-known-good frame
    if (st.refs === 0) return; // released, UNSUBSCRIBE still in flight
    framesIn++;
    if (packWindowMs === 0) {
      publishes++;
      try {
        publish(channel, '[' + message + ']');
      } catch (err) {
        onError(err);
      }
      return;
    }
    if (st.buf === '') {
      st.buf = '[' + message;
      if (st.window === window) {
        later.push(st);
      } else {
        soon.push(st);
        immediate ??= setImmediate(flushSoon);
      }
    } else {
      st.buf += ',' + message;
    }
  };

  // ---- demand (debounced) ----
  let demandTimer: NodeJS.Timeout | undefined;
  let demandInFlight: Promise<void> | null = null;
  let demandDirty = false;
  let lastDemand = '';

  const pushDemand = async (): Promise<void> => {
    while (demandDirty && !closed) {
      demandDirty = false;
      const symbols = [...symbolTopics.keys()].sort();
      const key = symbols.join(' ');
      if (key === lastDemand) continue;
      try {
        await demand.set(symbols);
        lastDemand = key;
      } catch (err) {
        onError(err);
      }
    }
  };
  const scheduleDemand = (): void => {
    demandDirty = true;
    if (closed || demandTimer !== undefined) return;
    demandTimer = setTimeout(() => {
      demandTimer = undefined;
      if (demandInFlight) return; // the running loop sees demandDirty
      demandInFlight = pushDemand().finally(() => {
        demandInFlight = null;
      });
    }, demandDebounceMs);
  };

  const symbolUp = (symbol: string): void => {
    const n = symbolTopics.get(symbol) ?? 0;
    symbolTopics.set(symbol, n + 1);
    if (n === 0) scheduleDemand();
  };
  const symbolDown = (symbol: string): void => {
    const n = symbolTopics.get(symbol) ?? 0;
    if (n <= 1) {
      symbolTopics.delete(symbol);
      scheduleDemand();
    } else symbolTopics.set(symbol, n - 1);
  };

  // ---- subscriptions: converge `subscribed` to `refs > 0`, one Redis command at a time per topic ----
  const run = async (st: TopicState): Promise<void> => {
    try {
      while (st.refs > 0 !== st.subscribed) {
        const want = st.refs > 0;
        if (want) await subscriber.subscribe(st.topic);
        else await subscriber.unsubscribe(st.topic);
        st.subscribed = want;
        if (!want) forgetLast(st);
      }
    } finally {
      // Synchronous with the last check above: a later change starts a new run.
      st.sync = null;
      forgetIfIdle(st);
    }
  };
  const forgetLast = (st: TopicState): void => {
    st.last = undefined;
    st.gen++;
  };
  const forgetIfIdle = (st: TopicState): void => {
    if (st.refs === 0 && !st.subscribed && st.sync === null && topics.get(st.topic) === st) topics.delete(st.topic);
  };
  const converge = (st: TopicState): Promise<void> => {
    if (st.sync) return st.sync;
    if (st.refs > 0 === st.subscribed) return Promise.resolve();
    st.sync = run(st);
    return st.sync;
  };

  // An acquired topic's own string: the many sockets that hold one topic share one string instead of a copy each.
  const topic = (line: Line, kind: TickKind, symbol: string): string => {
    const name = marketDataChannels.tick(line, kind, symbol);
    return topics.get(name)?.topic ?? name;
  };

  const acquire = async (line: Line, kind: TickKind, symbol: string): Promise<void> => {
    if (closed) throw new Error('market-data hub closed');
    validate(line, kind, symbol);
    const name = topic(line, kind, symbol);
    let st = topics.get(name);
    if (st === undefined) {
      st = new TopicState(name, symbol);
      topics.set(name, st);
    }
    if (st.refs++ === 0) {
      activeTopics++;
      symbolUp(symbol);
    }
    try {
      await converge(st);
    } catch (err) {
      // Not acquired: the caller will not release it.
      decrement(st);
      forgetIfIdle(st);
      throw err;
    }
  };

  const decrement = (st: TopicState): boolean => {
    if (st.refs === 0) return false;
    if (--st.refs === 0) {
      activeTopics--;
      symbolDown(st.symbol);
      return true;
    }
    return false;
  };

  const release = async (line: Line, kind: TickKind, symbol: string): Promise<void> => {
    const st = topics.get(topic(line, kind, symbol));
    if (st === undefined || closed) return;
    if (!decrement(st)) return;
    try {
      await converge(st);
    } catch (err) {
      onError(err);
    }
  };

  // ---- commands ----

  // The topics' last frames are trusted only while the subscriber connection is known to hold every subscription:
  // publishes while it is down are lost, so its loss forgets them all, and trust returns once a PING sent after the
  // automatic re-subscription (on `ready`) is answered — the SUBSCRIBEs before it on that connection have taken effect.
  let lastTrusted = subscriber.status === 'ready';
  let trustEpoch = 0;
  const onSubscriberLost = (): void => {
    lastTrusted = false;
    trustEpoch++;
    for (const st of topics.values()) forgetLast(st);
  };
  const onSubscriberReady = (): void => {
    const epoch = ++trustEpoch;
    // ioredis queues its re-SUBSCRIBEs in the step that announces `ready` (emitted a tick later); the PING goes after
    // them on the same connection, so its answer means they took effect. nextTick: in case that order ever changes.
    process.nextTick(() => {
      subscriber.ping().then(
        () => {
          if (trustEpoch === epoch && !closed) lastTrusted = true;
        },
        () => {},
      );
    });
  };
  /** A topic whose `last` frame can answer a snapshot (undefined when it must be read). */
  const cachedLast = (st: TopicState | undefined): string | null | undefined => (lastTrusted && st?.subscribed ? st.last : undefined);

  const snapshot = async (line: Line, kind: TickKind, symbols: readonly string[]): Promise<string[]> => {
    if (!kinds.includes(kind)) throw new Error(`invalid tick kind: ${kind}`);
    const key = line === 'dl' ? marketDataKeys.lkgDelayed : line === 'rt' ? marketDataKeys.lkg : null;
    if (key === null) throw new Error(`invalid market-data line: ${String(line)}`);
    const raw: Array<string | null | undefined> = new Array(symbols.length);
    const missing: Array<{ i: number; st: TopicState | undefined }> = [];
    for (let i = 0; i < symbols.length; i++) {
      const st = topics.get(marketDataChannels.tick(line, kind, symbols[i]!));
      const v = cachedLast(st);
      if (v === undefined) missing.push({ i, st });
      else {
        raw[i] = v;
        snapshotHits++;
      }
    }
    for (let c = 0; c < missing.length; c += HMGET_CHUNK) {
      const chunk = missing.slice(c, c + HMGET_CHUNK);
      // A topic subscribed (and trusted) before the read may keep what it returns, unless anything changed meanwhile:
      // a message (newer, it wins), an unsubscribe (gen) or a lost subscriber connection (trustEpoch).
      const epoch = trustEpoch;
      const fillable = chunk.map(({ st }) => (lastTrusted && st?.subscribed ? { st, gen: st.gen } : undefined));
      snapshotReads++;
      const values = await redis.hmget(key, ...chunk.map(({ i }) => `${kind}:${symbols[i]!}`));
      chunk.forEach(({ i }, j) => {
        const v = values[j] ?? null;
        raw[i] = v;
        const f = fillable[j];
        if (f && f.st.gen === f.gen && f.st.subscribed && f.st.last === undefined && lastTrusted && trustEpoch === epoch) f.st.last = v;
      });
    }
    const out: string[] = [];
    for (const v of raw) {
      if (v === null || v === undefined) continue;
      const relabelled = relabelAsLkg(v);
      if (relabelled !== null) out.push(relabelled);
    }
    return out;
  };

  /** One read of the replay window: frames with seq > afterSeq (the core of `replay`). */
  const readReplay = async (kind: TickKind, symbol: string, afterSeq: number): Promise<ReplayResult> => {
    replayReads++;
    const stream = marketDataKeys.replay(kind, symbol);
    // First page and the authoritative last seq (the stream may have expired after a quiet window) in one round trip.
    const first = await redis
      .pipeline()
      .hget(marketDataKeys.seq, `${kind}:${symbol}`)
      .xrevrange(stream, '+', '-', 'COUNT', REPLAY_FIRST_PAGE)
      .exec();
    if (!first) throw new Error('replay pipeline aborted');
    const [seqRes, pageRes] = first;
    if (seqRes?.[0]) throw seqRes[0];
    if (pageRes?.[0]) throw pageRes[0];
    const seqHash = Number((seqRes?.[1] as string | null) ?? 0);
    let page = (pageRes?.[1] as StreamEntry[] | undefined) ?? [];
    let asked = REPLAY_FIRST_PAGE;

    const newestFirst: string[] = [];
    let lastSeq = seqHash;
    let newest = true;
    let expected = -1; // seq the next (older) entry must have
    let contiguous = true;
    let reached = false;
    let exceeded = false;
    for (;;) {
      for (const [, fields] of page) {
        const s = Number(fieldValue(fields, 's'));
        const f = fieldValue(fields, 'f');
        if (newest) {
          newest = false;
          if (s > lastSeq) lastSeq = s;
          else if (s !== lastSeq) contiguous = false; // newest entries missing from the stream
        }
        if (s <= afterSeq) {
          reached = true;
          break;
        }
        if (f === undefined || (expected >= 0 && s !== expected)) contiguous = false;
        expected = s - 1;
        if (f !== undefined) newestFirst.push(f);
      }
      if (newestFirst.length > maxReplayFrames) {
        exceeded = true;
        break;
      }
      if (reached || page.length < asked) break;
      const oldestId = page[page.length - 1]![0];
      // Seqs are contiguous: ask for what is still missing down to afterSeq (+1 to see the entry at afterSeq), not more.
      asked = Math.min(REPLAY_PAGE, Math.max(1, lastSeq - afterSeq - newestFirst.length + 1));
      page = (await redis.xrevrange(stream, `(${oldestId}`, '-', 'COUNT', asked)) as StreamEntry[];
    }
    if (exceeded) return { frames: [], complete: false, lastSeq };
    const frames = newestFirst.reverse();
    // Complete when the frames are exactly afterSeq+1 … lastSeq. A client ahead of every known seq (Redis lost its
    // data) is incomplete too: it needs a fresh snapshot, or it would drop the next live frames as duplicates.
    const complete =
      contiguous && frames.length === lastSeq - afterSeq && (frames.length === 0 || expected === afterSeq);
    return { frames, complete, lastSeq };
  };

  // Resumes of one (kind, symbol) share reads: a reconnect storm resumes thousands of sockets on a few keys, and one
  // read per socket moved ~17 KB per key through Redis and ioredis' parser each. Requests that arrive while a read of
  // their key is in flight wait for the next read, which starts from the smallest afterSeq among them; each waiter
  // takes its own tail of it. Only requests queued before a read is sent share it, so each of them had already joined
  // the live topic when the read ran: nothing published after the read can be missing from that socket.
  const replayQueues = new Map<string, ReplayWaiter[]>();

  const serveReplays = async (key: string, kind: TickKind, symbol: string): Promise<void> => {
    for (;;) {
      const waiters = replayQueues.get(key)!;
      if (waiters.length === 0) {
        replayQueues.delete(key);
        return;
      }
      replayQueues.set(key, []);
      let from = waiters[0]!.afterSeq;
      for (const w of waiters) if (w.afterSeq < from) from = w.afterSeq;
      let shared: ReplayResult;
      try {
        shared = await readReplay(kind, symbol, from);
      } catch (err) {
        for (const w of waiters) w.reject(err);
        continue;
      }
      for (const w of waiters) {
        if (w.afterSeq === from) w.resolve(shared);
        else if (shared.complete) w.resolve(tailOf(shared, from, w.afterSeq));
        else readReplay(kind, symbol, w.afterSeq).then(w.resolve, w.reject); // a hole or too long: its own read
      }
    }
  };

  const replay = (kind: TickKind, symbol: string, afterSeq: number): Promise<ReplayResult> => {
    if (!kinds.includes(kind)) return Promise.reject(new Error(`invalid tick kind: ${kind}`));
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) return Promise.reject(new Error(`invalid afterSeq: ${afterSeq}`));
    replayRequests++;
    const key = `${kind}:${symbol}`;
    return new Promise<ReplayResult>((resolve, reject) => {
      const queue = replayQueues.get(key);
      if (queue) {
        queue.push({ afterSeq, resolve, reject });
        return;
      }
      replayQueues.set(key, [{ afterSeq, resolve, reject }]);
      void serveReplays(key, kind, symbol);
    });
  };

  const status = async (): Promise<string | null> => redis.get(marketDataKeys.status);

  const stats = (): MarketDataHubStats => ({ topics: activeTopics, framesIn, publishes, replayRequests, replayReads, snapshotHits, snapshotReads });

  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      subscriber.off('message', onMessage);
      subscriber.off('close', onSubscriberLost);
      subscriber.off('ready', onSubscriberReady);
      if (immediate !== undefined) clearImmediate(immediate);
      immediate = undefined;
      if (windowTimer !== undefined) clearInterval(windowTimer);
      windowTimer = undefined;
      for (const st of soon) st.buf = '';
      for (const st of later) st.buf = '';
      soon.length = 0;
      later.length = 0;
      if (demandTimer !== undefined) clearTimeout(demandTimer);
      demandTimer = undefined;
      const channels: string[] = [statusChannel];
      for (const st of topics.values()) {
        st.refs = 0;
        if (st.subscribed || st.sync) channels.push(st.topic);
      }
      topics.clear();
      symbolTopics.clear();
      activeTopics = 0;
      try {
        if (subscriber.status !== 'end') await subscriber.unsubscribe(...channels);
      } catch (err) {
        onError(err);
      }
      if (demandInFlight) await demandInFlight;
      try {
        if (demand.stop) await demand.stop();
        else await demand.set([]);
      } catch (err) {
        onError(err);
      }
    })();
    return closing;
  };

  subscriber.on('message', onMessage);
  subscriber.on('close', onSubscriberLost);
  subscriber.on('ready', onSubscriberReady);
  try {
    await subscriber.subscribe(statusChannel);
  } catch (err) {
    subscriber.off('message', onMessage);
    subscriber.off('close', onSubscriberLost);
    subscriber.off('ready', onSubscriberReady);
    throw err;
  }

  return { topic, acquire, release, snapshot, replay, status, stats, close };
}
