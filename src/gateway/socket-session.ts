// One WebSocket's state: what it asked for, which hub topics it holds, its rate limit and its serialised work queue.
// Every change of subscription (subscribe, unsubscribe, tier change) runs through `enqueue`, one at a time.
import { parseTickChannel, type Line, type TickKind } from '../contracts/index.js';
import { channelKinds, grantFor, maxSymbolsPerConnection, type MarketChannel, type Tier } from '../domain/index.js';
import { ChannelSymbols } from './channel-symbols.js';
import type { HubPort } from './hub-port.js';
import {
  MARKET_CHANNELS,
  errorMessage,
  normaliseSymbols,
  packFrames,
  parseResumeKey,
  resumeMessage,
  subscriptionMessage,
  tierMessage,
  type SubscribeMessage,
  type UnsubscribeMessage,
} from './protocol.js';

/** The socket operations a session needs (the uWS WebSocket behind it, corked). */
export interface SocketIo {
  /** Sends a text frame (corked) unless the socket is closed. */
  send(text: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

export interface HeldTopic {
  line: Line;
  kind: TickKind;
  symbol: string;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.last = now();
  }
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface SessionLimits {
  /** Subscription changes per second (token bucket, burst = the same number). */
  actionsPerSecond: number;
  /** Rejected (rate-limited or invalid) messages in a row before the socket is closed 1008. */
  maxStrikes: number;
  /** Requests waiting in the queue before the socket is closed 1008. */
  maxQueued: number;
}

export const DEFAULT_LIMITS: SessionLimits = { actionsPerSecond: 10, maxStrikes: 50, maxQueued: 50 };

/** One object for every session of a gateway (a per-socket closure here cost ~100 B for each of 19,000 sockets). */
export interface SessionEvents {
  error(where: string, err: unknown, userId: string): void;
  tierSwap?(from: Tier, to: Tier): void;
}

/** The queue of an idle session: shared, so an idle socket holds no promise of its own. */
const IDLE: Promise<void> = Promise.resolve();

export class SocketSession {
  /** Granted channels and their symbols (depth has no topics but is kept here). */
  readonly subs = new ChannelSymbols();
  /**
   * Hub topics this socket holds (acquired and joined): the hub's own topic strings, shared by every socket that holds
   * one (a Map of `{line, kind, symbol}` objects cost ~260 B per socket; they are parsed back when needed). Replaced,
   * not grown: an array grown by push (or made by filter) keeps ~17 slots.
   */
  private held: string[] = [];
  readonly bucket: TokenBucket;
  closed = false;
  /** Seen with a large outbox: the next drain sends a fresh snapshot. */
  congested = false;
  lastDrainSnapshotAt = 0;
  strikes = 0;
  private queued = 0;
  private chain: Promise<void> = IDLE;

  constructor(
    readonly id: number,
    readonly userId: string,
    public tier: Tier,
    public role: 'user' | 'operator',
    private readonly io: SocketIo,
    private readonly hub: HubPort,
    private readonly limits: SessionLimits,
    private readonly events: SessionEvents,
  ) {
    this.bucket = new TokenBucket(limits.actionsPerSecond, limits.actionsPerSecond);
  }

  /** Queues work after every earlier request; false when the queue is full (the caller closes the socket). */
  enqueue(task: () => Promise<void>, force = false): boolean {
    if (!force && this.queued >= this.limits.maxQueued) return false;
    this.queued += 1;
    this.chain = this.chain
      .then(async () => {
        if (!this.closed) await task();
      })
      .catch((err: unknown) => {
        this.events.error('request', err, this.userId);
        this.send(errorMessage('internal', 'request failed; try again'));
      })
      .finally(() => {
        this.queued -= 1;
        if (this.queued === 0) this.chain = IDLE; // nothing is waiting on it any more
      });
    return true;
  }

  /** Resolves when every queued request has run (tests, shutdown). */
  idle(): Promise<void> {
    return this.chain;
  }

  send(text: string): void {
    if (!this.closed) this.io.send(text);
  }

  // ---- requests ----

  async subscribe(msg: SubscribeMessage): Promise<void> {
    const requested = new Map<MarketChannel, string[]>();
    const invalid: string[] = [];
    for (const c of MARKET_CHANNELS) {
      const list = msg[c];
      if (!list || list.length === 0) continue;
      const { valid, invalid: bad } = normaliseSymbols(list);
      invalid.push(...bad);
      if (valid.length > 0) requested.set(c, valid);
    }
    if (invalid.length > 0) {
      this.send(errorMessage('invalid_symbol', 'invalid symbols; nothing was subscribed', { symbols: invalid.slice(0, 20) }));
      this.send(subscriptionMessage(this.subs));
      return;
    }
    for (const [c, symbols] of requested) {
      const grant = grantFor(this.tier, c);
      if ('refused' in grant) {
        this.send(errorMessage('tier_required', `${c} needs the ${grant.requiredTier} tier`, { channel: c, requiredTier: grant.requiredTier, symbols: symbols.slice(0, 20) }));
        requested.delete(c);
      }
    }
    const limit = maxSymbolsPerConnection[this.tier];
    const all = new Set<string>();
    for (const [, list] of this.subs.entries()) for (const s of list) all.add(s);
    for (const list of requested.values()) for (const s of list) all.add(s);
    if (all.size > limit) {
      this.send(errorMessage('symbol_limit', `at most ${limit} symbols per connection on the ${this.tier} tier; nothing was subscribed`, { limit, requested: all.size }));
      this.send(subscriptionMessage(this.subs));
      return;
    }

    for (const [c, symbols] of requested) this.subs.add(c, symbols);
    const wanted = this.topicsOf(requested);
    await this.join(wanted);
    if (this.closed) return;
    this.send(subscriptionMessage(this.subs));

    // Resume: replay what the client missed on the real-time line; otherwise a fresh snapshot.
    const forSnapshot = new Map(wanted);
    // Every key's replay read starts at once; the answers still go out in the order the client listed the keys.
    // Parsed and indexed once, not scanned once per key (a resume may name thousands).
    const heldNow = new Map<string, [string, HeldTopic]>();
    for (const entry of this.heldTopics()) {
      const k = `${entry[1].kind}:${entry[1].symbol}`;
      if (!heldNow.has(k)) heldNow.set(k, entry);
    }
    const resumes = Object.entries(msg.resume ?? {}).map(([key, afterSeq]) => {
      const parsed = parseResumeKey(key);
      const held = parsed ? heldNow.get(`${parsed.kind}:${parsed.symbol}`) : undefined;
      if (held) forSnapshot.delete(held[0]);
      const replay = held?.[1].line === 'rt' ? this.hub.replay(held[1].kind, held[1].symbol, afterSeq) : undefined;
      replay?.catch(() => {}); // awaited below; a rejection before then is not unhandled
      return { key, held, replay };
    });
    for (const { key, held, replay } of resumes) {
      if (!held) {
        this.send(resumeMessage(key, false, { reason: 'not_subscribed' }));
        continue;
      }
      const h = held[1];
      if (replay) {
        const r = await replay;
        if (this.closed) return;
        if (r.complete) {
          if (r.frames.length > 0) this.send(packFrames(r.frames));
          this.send(resumeMessage(key, true, { lastSeq: r.lastSeq }));
          continue;
        }
      }
      await this.sendSnapshot([h]);
      if (this.closed) return;
      this.send(resumeMessage(key, false, h.line === 'dl' ? { reason: 'delayed_line' } : { reason: 'outside_window' }));
    }
    await this.sendSnapshot(forSnapshot.values());
  }

  async unsubscribe(msg: UnsubscribeMessage): Promise<void> {
    const invalid: string[] = [];
    for (const c of MARKET_CHANNELS) {
      const list = msg[c];
      if (!list || list.length === 0) continue;
      const { valid, invalid: bad } = normaliseSymbols(list);
      invalid.push(...bad);
      this.subs.remove(c, valid);
    }
    if (invalid.length > 0) this.send(errorMessage('invalid_symbol', 'invalid symbols ignored', { symbols: invalid.slice(0, 20) }));
    await this.reconcile();
    if (this.closed) return;
    this.send(subscriptionMessage(this.subs));
  }

  /** The user's tier changed: move every topic to the line the new tier grants, drop what it lacks. */
  async retier(tier: Tier, role: 'user' | 'operator'): Promise<void> {
    this.role = role;
    if (tier === this.tier) return;
    const from = this.tier;
    this.tier = tier;
    for (const [c, list] of this.subs.entries()) {
      const grant = grantFor(tier, c);
      if ('refused' in grant) {
        this.subs.removeChannel(c);
        this.send(errorMessage('tier_required', `${c} needs the ${grant.requiredTier} tier`, { channel: c, requiredTier: grant.requiredTier, symbols: list.slice(0, 20) }));
      }
    }
    // A smaller tier may hold fewer symbols: keep the earliest ones.
    const limit = maxSymbolsPerConnection[tier];
    const kept = new Set<string>();
    const dropped = new Set<string>();
    for (const [c, list] of this.subs.entries()) {
      const over: string[] = [];
      for (const s of list) {
        if (kept.has(s)) continue;
        if (kept.size < limit) kept.add(s);
        else {
          dropped.add(s);
          over.push(s);
        }
      }
      this.subs.remove(c, over);
    }
    if (dropped.size > 0) this.send(errorMessage('symbol_limit', `at most ${limit} symbols per connection on the ${tier} tier`, { limit, dropped: [...dropped].slice(0, 20) }));
    await this.reconcile();
    if (this.closed) return;
    this.events.tierSwap?.(from, tier);
    this.send(tierMessage(tier));
    this.send(subscriptionMessage(this.subs));
    await this.sendSnapshot(this.heldTopics().map(([, h]) => h));
  }

  /** Fresh snapshot of every held topic (after a drain: latest per symbol wins). */
  async snapshotAll(): Promise<void> {
    await this.sendSnapshot(this.heldTopics().map(([, h]) => h));
  }

  /** The hub topics this socket holds, with their (line, kind, symbol). */
  private heldTopics(): Array<[string, HeldTopic]> {
    return this.held.map((topic) => [topic, parseTickChannel(topic)]);
  }

  /** The socket closed: give every topic back to the hub (no socket calls any more). */
  dispose(): void {
    this.closed = true;
    for (const [, h] of this.heldTopics()) this.releaseQuietly(h);
    this.held = [];
  }

  // ---- internals ----

  /** Topics for channels → symbols at the current tier. */
  private topicsOf(channels: Iterable<readonly [MarketChannel, Iterable<string>]>): Map<string, HeldTopic> {
    const out = new Map<string, HeldTopic>();
    for (const [c, symbols] of channels) {
      const grant = grantFor(this.tier, c);
      if ('refused' in grant) continue;
      for (const kind of channelKinds[c] as readonly TickKind[]) {
        for (const symbol of symbols) out.set(this.hub.topic(grant.line, kind, symbol), { line: grant.line, kind, symbol });
      }
    }
    return out;
  }

  /**
   * Acquires and joins topics not held yet. New topics are joined before any snapshot, so nothing falls in between.
   * They are acquired all at once — a topic new to this gateway costs the hub a SUBSCRIBE round trip, and one after
   * another a Pro+ subscribe of 1,000 fresh symbols took thousands of them — and stored in one step (an array copy per
   * topic made a large subscribe quadratic). A failed acquire fails the request once the others have settled; those
   * that succeeded are held (or given back if the socket closed meanwhile).
   */
  private async join(topics: Map<string, HeldTopic>): Promise<void> {
    const held = new Set(this.held);
    const fresh = [...topics].filter(([topic]) => !held.has(topic));
    if (fresh.length === 0) return;
    const acquired = await Promise.allSettled(fresh.map(([, h]) => this.hub.acquire(h.line, h.kind, h.symbol)));
    const joined: string[] = [];
    let failure: { reason: unknown } | undefined;
    acquired.forEach((r, i) => {
      const [topic, h] = fresh[i]!;
      if (r.status === 'rejected') failure ??= { reason: r.reason };
      else if (this.closed) this.releaseQuietly(h); // dispose() gave back only what was held before
      else {
        joined.push(this.hub.topic(h.line, h.kind, h.symbol)); // the hub's shared string
        this.io.subscribe(topic);
      }
    });
    if (joined.length > 0) this.held = this.held.concat(joined);
    if (failure) throw failure.reason;
  }

  /** Makes the held topics exactly what `subs` needs at the current tier: joins new ones first, then leaves old ones. */
  private async reconcile(): Promise<void> {
    const desired = this.topicsOf(this.subs.entries());
    await this.join(desired);
    if (this.closed) return;
    const leaving = this.heldTopics().filter(([topic]) => !desired.has(topic));
    if (leaving.length === 0) return;
    // In one pass (a tier change can drop thousands of topics), and each released at once: once out of `held`,
    // dispose() would not give it back.
    this.held = this.held.filter((t) => desired.has(t)).slice();
    for (const [topic] of leaving) this.io.unsubscribe(topic);
    await Promise.all(leaving.map(([, h]) => this.hub.release(h.line, h.kind, h.symbol)));
  }

  /** One array frame with the last-known-good frame of every topic given (nothing when there is none). */
  private async sendSnapshot(topics: Iterable<HeldTopic>): Promise<void> {
    const groups = new Map<string, { line: Line; kind: TickKind; symbols: string[] }>();
    for (const h of topics) {
      const key = `${h.line}:${h.kind}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { line: h.line, kind: h.kind, symbols: [] }));
      g.symbols.push(h.symbol);
    }
    const frames: string[] = [];
    for (const g of groups.values()) {
      for (let i = 0; i < g.symbols.length; i += 500) {
        frames.push(...(await this.hub.snapshot(g.line, g.kind, g.symbols.slice(i, i + 500))));
      }
    }
    if (frames.length > 0 && !this.closed) this.send(packFrames(frames));
  }

  private releaseQuietly(h: HeldTopic): void {
    try {
      void Promise.resolve(this.hub.release(h.line, h.kind, h.symbol)).catch((err: unknown) => this.events.error('release', err, this.userId));
    } catch (err) {
      this.events.error('release', err, this.userId);
    }
  }
}
