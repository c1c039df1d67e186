// Quotes into the account actors: the (user, symbol) pairs with open orders in the partitions this replica owns, the
// hub's real-time quote channel of each such symbol (one subscriber connection), a feed demand lease for them, and
// each quote frame delivered as a `quote` signal to every user with an open order on its symbol.
import type { Redis } from 'ioredis';
import { marketDataChannels } from '../../contracts/market-data.js';
import { DemandLease } from '../../infra/market-data/demand.js';
import { partitionOf, type Signal } from '../../runtime/index.js';
import type { MbtHost } from './mbt/index.js';
import { openOrderSymbolsOf } from './mbt/index.js';

export interface QuoteRouterLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface QuoteRouterOptions {
  /** Commands (the demand lease); the router makes its own subscriber connection from it (`duplicate()`). */
  redis: Redis;
  partitions: number;
  /** The runtime's `deliver`. */
  deliver: (signal: Signal) => boolean;
  /** Users of `partitions` and the symbols of their open orders, from PostgreSQL (`openOrderSymbolsByUser`, batch role). */
  loadOpenOrders: (partitions: readonly number[]) => Promise<Map<string, string[]>>;
  /** A user's open-order symbols from its engine in memory; undefined when it is not in memory (then kept as known). */
  openSymbolsOf: (userId: string) => readonly string[] | undefined;
  /** Demand lease owner id (unique per process). */
  demandOwner: string;
  demandLeaseMs?: number;
  /** Users whose pairs were just loaded for newly owned partitions (e.g. to send them the clock events they missed). */
  onLoaded?: (userIds: string[]) => void;
  /**
   * A symbol no open order needs any more stays subscribed and in the demand this long (default 60 s): marketable
   * orders open and close within a second, and each demand change makes the feed recompute its whole demand.
   */
  lingerMs?: number;
  logger?: QuoteRouterLogger;
}

export interface QuoteRouterStats {
  users: number;
  symbols: number;
  pairs: number;
  quotes: number;
  /** Quotes superseded by a newer quote of their symbol before they were fanned out (never delivered). */
  conflated: number;
  delivered: number;
  loadFailures: number;
}

const QUOTE_CHANNEL_PREFIX = marketDataChannels.tick('rt', 'q', '');

/** The open-order symbols of a user's engine in memory (`openSymbolsOf` for the role). */
export function openSymbolsFromEngines(engines: MbtHost): (userId: string) => string[] | undefined {
  return (userId) => {
    const acc = engines.cached(userId);
    return acc ? openOrderSymbolsOf(acc.state) : undefined;
  };
}

/**
 * Keeps `pairs` (user → symbols) for the owned partitions: loaded from PostgreSQL when partitions are acquired,
 * corrected after every committed turn (`touched`), dropped with lost partitions. Subscriptions and the demand lease
 * follow the set of symbols (coalesced, one sync at a time). Quotes delivered are signals: not durable (a quote lost
 * on a crash is superseded by the next one).
 */
export class QuoteRouter {
  private readonly sub: Redis;
  private readonly demand: DemandLease;
  private owned = new Set<number>();
  /** Bumped per acquisition, so a load that finishes after its partition left (or came back) is ignored. */
  private readonly generation = new Map<number, number>();
  private readonly pairs = new Map<string, Set<string>>();
  private readonly bySymbol = new Map<string, Set<string>>();
  /** While loads run: users updated by a turn after the load began keep the turn's (newer) view. */
  private readonly touchedAt = new Map<string, number>();
  private version = 0;
  private loads = 0;
  private subscribed = new Set<string>();
  private demanded: string | null = null;
  private syncing: Promise<void> | null = null;
  private syncAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Symbols no open order needs any more, and since when (they linger, see lingerMs). */
  private readonly releasedAt = new Map<string, number>();
  private stopped = false;
  private readonly s = { quotes: 0, conflated: 0, delivered: 0, loadFailures: 0 };
  /** The newest quote message of each symbol received since the last fan-out. */
  private readonly latest = new Map<string, string>();
  private fanOutQueued = false;

  constructor(private readonly o: QuoteRouterOptions) {
    this.sub = o.redis.duplicate();
    this.sub.on('error', () => {}); // ioredis reconnects and re-subscribes by itself
    this.sub.on('message', (channel: string, message: string) => this.onQuote(channel, message));
    this.demand = new DemandLease(o.redis, o.demandOwner, {
      ...(o.demandLeaseMs !== undefined ? { leaseMs: o.demandLeaseMs } : {}),
      onError: (err) => o.logger?.warn({ err: String(err) }, 'quote demand lease renewal failed'),
    });
  }

  /** The runtime's `onPartitionsChanged`: loads the users of new partitions, forgets those of lost ones. */
  partitionsChanged(owned: readonly number[]): void {
    if (this.stopped) return;
    const next = new Set(owned);
    const gained = owned.filter((p) => !this.owned.has(p));
    const lost = [...this.owned].filter((p) => !next.has(p));
    this.owned = next;
    for (const p of [...gained, ...lost]) this.generation.set(p, (this.generation.get(p) ?? 0) + 1);
    if (lost.length) {
      for (const u of [...this.pairs.keys()]) if (!next.has(partitionOf(u, this.o.partitions))) this.setUser(u, []);
      this.scheduleSync();
    }
    if (gained.length) void this.load(gained, 1);
  }

  /** After a committed turn (decision or signal effects): the users' open-order symbols from their engines. */
  touched(userIds: Iterable<string>): void {
    if (this.stopped) return;
    this.version++;
    let changed = false;
    for (const u of userIds) {
      if (this.loads > 0) this.touchedAt.set(u, this.version);
      const symbols = this.owned.has(partitionOf(u, this.o.partitions)) ? this.o.openSymbolsOf(u) : [];
      if (symbols !== undefined) changed = this.setUser(u, symbols) || changed;
    }
    if (changed) this.scheduleSync();
  }

  /** Users with at least one open order (in owned partitions). */
  users(): string[] {
    return [...this.pairs.keys()];
  }

  symbols(): string[] {
    return [...this.bySymbol.keys()].sort();
  }

  stats(): QuoteRouterStats {
    let pairs = 0;
    for (const s of this.pairs.values()) pairs += s.size;
    return { users: this.pairs.size, symbols: this.bySymbol.size, pairs, ...this.s };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.lingerTimer);
    await this.syncing?.catch(() => undefined);
    await this.demand.stop().catch(() => undefined);
    this.sub.disconnect();
  }

  // ---- loading ----

  private async load(partitions: number[], attempt: number): Promise<void> {
    const gens = new Map(partitions.map((p) => [p, this.generation.get(p)]));
    const current = () => partitions.filter((p) => this.owned.has(p) && this.generation.get(p) === gens.get(p));
    const startedAt = this.version;
    this.loads++;
    try {
      const loaded = await this.o.loadOpenOrders(partitions);
      const still = new Set(current());
      const users: string[] = [];
      for (const [u, symbols] of loaded) {
        if (!still.has(partitionOf(u, this.o.partitions))) continue;
        if ((this.touchedAt.get(u) ?? 0) > startedAt) continue; // a committed turn since told us newer
        this.setUser(u, symbols);
        users.push(u);
      }
      this.o.logger?.info({ partitions, users: users.length }, 'open orders loaded for quotes');
      this.scheduleSync();
      if (users.length) this.o.onLoaded?.(users);
    } catch (err) {
      this.s.loadFailures++;
      const retry = current();
      this.o.logger?.warn({ err: String(err), partitions: retry, attempt }, 'loading open orders failed, retrying');
      if (retry.length && !this.stopped) setTimeout(() => void this.load(retry, attempt + 1), Math.min(200 * 2 ** attempt, 5000)).unref();
    } finally {
      if (--this.loads === 0) this.touchedAt.clear();
    }
  }

  /** Replaces a user's symbols; returns whether the symbol set (subscriptions) may have changed. */
  private setUser(userId: string, symbols: readonly string[]): boolean {
    const before = this.pairs.get(userId) ?? new Set<string>();
    const after = new Set(symbols);
    let changed = false;
    for (const s of before) {
      if (after.has(s)) continue;
      const users = this.bySymbol.get(s);
      users?.delete(userId);
      if (users?.size === 0) {
        this.bySymbol.delete(s);
        changed = true;
      }
    }
    for (const s of after) {
      if (before.has(s)) continue;
      const users = this.bySymbol.get(s);
      if (users) users.add(userId);
      else {
        this.bySymbol.set(s, new Set([userId]));
        changed = true;
      }
    }
    if (after.size) this.pairs.set(userId, after);
    else this.pairs.delete(userId);
    return changed;
  }

  // ---- subscriptions and demand ----

  private scheduleSync(): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = this.sync()
      .catch((err: unknown) => {
        this.o.logger?.warn({ err: String(err) }, 'quote subscriptions failed, retrying');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.scheduleSync(), 1000).unref();
      })
      .finally(() => {
        this.syncing = null;
        if (this.syncAgain) {
          this.syncAgain = false;
          this.scheduleSync();
        }
      });
  }

  /** Channels first, then the demand lease: by the time the feed subscribes upstream we hear its quotes. */
  private async sync(): Promise<void> {
    const want = new Set(this.bySymbol.keys());
    // Symbols just released linger (see lingerMs); a timer syncs again when the first of them expires.
    const now = Date.now();
    const linger = this.o.lingerMs ?? 60_000;
    for (const s of this.subscribed) if (!want.has(s) && !this.releasedAt.has(s)) this.releasedAt.set(s, now);
    let next = Infinity;
    for (const [s, at] of this.releasedAt) {
      if (want.has(s) || now - at >= linger) this.releasedAt.delete(s);
      else {
        want.add(s);
        next = Math.min(next, at + linger);
      }
    }
    clearTimeout(this.lingerTimer);
    if (next !== Infinity && !this.stopped) this.lingerTimer = setTimeout(() => this.scheduleSync(), next - now + 5).unref();
    const add = [...want].filter((s) => !this.subscribed.has(s));
    const drop = [...this.subscribed].filter((s) => !want.has(s));
    if (add.length) await this.sub.subscribe(...add.map((s) => QUOTE_CHANNEL_PREFIX + s));
    if (drop.length) await this.sub.unsubscribe(...drop.map((s) => QUOTE_CHANNEL_PREFIX + s));
    this.subscribed = want;
    const key = [...want].sort().join(',');
    if (key !== this.demanded && !this.stopped) {
      await this.demand.set(want);
      this.demanded = key;
    }
  }

  /**
   * Quotes are fanned out once per socket read, newest per symbol (a microtask after the read's messages): the quotes of
   * a symbol that arrived together (a busy replica reads many at once) reach its users as one signal each, not one per
   * quote, still in the same event-loop phase, so the runtime batches them into one turn as before. Without this, a replica behind on its turns paid one
   * delivery per quote per user with open orders on the symbol — the more orders waited, the more quotes it routed,
   * and the fewer turns it ran. Dropping superseded quotes is what the runtime's per-(user, symbol) conflation did
   * later anyway; the engine records the quotes it acted on.
   */
  private onQuote(channel: string, message: string): void {
    if (!channel.startsWith(QUOTE_CHANNEL_PREFIX)) return;
    const symbol = channel.slice(QUOTE_CHANNEL_PREFIX.length);
    if (!this.bySymbol.has(symbol)) return;
    this.s.quotes++;
    if (this.latest.has(symbol)) this.s.conflated++;
    this.latest.set(symbol, message);
    if (!this.fanOutQueued) {
      this.fanOutQueued = true;
      queueMicrotask(() => this.fanOutLatest());
    }
  }

  private fanOutLatest(): void {
    this.fanOutQueued = false;
    if (this.stopped) return;
    const batch = [...this.latest];
    this.latest.clear();
    for (const [symbol, message] of batch) {
      const users = this.bySymbol.get(symbol);
      if (!users) continue;
      let frame: unknown;
      try {
        frame = JSON.parse(message);
      } catch {
        continue;
      }
      // One parsed frame shared by every signal (the host only reads it). Keyed by symbol: a replica that falls behind
      // applies each user's latest quote of a symbol instead of a growing backlog of stale ones.
      for (const userId of users) if (this.o.deliver({ userId, kind: 'quote', payload: frame, key: symbol })) this.s.delivered++;
    }
  }
}
