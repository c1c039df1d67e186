// Demand leases: which symbols gateways and accounts replicas want, as per-owner Redis SETs with a TTL.
import type { Redis } from 'ioredis';
import { DEMAND_LEASE_MS, marketDataChannels, marketDataKeys } from '../../contracts/market-data.js';

export interface DemandLeaseOptions {
  /** TTL of the owner's SET (default DEMAND_LEASE_MS). */
  leaseMs?: number;
  /** Renewal period (default leaseMs / 3). */
  renewEveryMs?: number;
  /** Renewal failures (Redis down…); the lease keeps trying on the next tick. Default: ignored. */
  onError?: (err: unknown) => void;
}

/**
 * Owner side: `{md}:demand:<owner>` is a SET of the symbols this owner wants, alive while the owner renews it.
 * An owner that dies stops renewing and its demand disappears after `leaseMs`.
 */
export class DemandLease {
  readonly key: string;
  private readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly onError: (err: unknown) => void;
  private symbols: readonly string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    readonly owner: string,
    opts: DemandLeaseOptions = {},
  ) {
    if (owner.length === 0) throw new Error('demand owner must not be empty');
    this.key = marketDataKeys.demand(owner);
    this.leaseMs = opts.leaseMs ?? DEMAND_LEASE_MS;
    this.renewEveryMs = opts.renewEveryMs ?? Math.max(1, Math.floor(this.leaseMs / 3));
    this.onError = opts.onError ?? (() => {});
  }

  /** Replaces the owner's set atomically (DEL + SADD + PEXPIRE in MULTI), announces it and starts renewing. */
  async set(symbols: Iterable<string>): Promise<void> {
    if (this.stopped) throw new Error('demand lease stopped');
    this.symbols = [...new Set(symbols)].sort();
    await this.write();
    this.timer ??= setInterval(() => {
      this.renew().catch((err: unknown) => this.onError(err));
    }, this.renewEveryMs).unref();
  }

  /** PEXPIRE; if the key is gone (expired during a long pause, Redis restarted) it is written again. */
  async renew(): Promise<void> {
    if (this.stopped || this.symbols.length === 0) return;
    const alive = await this.redis.pexpire(this.key, this.leaseMs);
    if (alive === 0) await this.write();
  }

  /** Stops renewing, deletes the set and announces it. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.redis.multi().del(this.key).publish(marketDataChannels.demandChanged, this.owner).exec();
  }

  private async write(): Promise<void> {
    const tx = this.redis.multi().del(this.key);
    if (this.symbols.length > 0) tx.sadd(this.key, ...this.symbols).pexpire(this.key, this.leaseMs);
    tx.publish(marketDataChannels.demandChanged, this.owner);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err);
    if (!results) throw new Error('demand lease transaction aborted');
    if (failed) throw failed[0];
  }
}

/** Leader side: the union of every live owner's set (SCAN `{md}:demand:*`, then SUNION in chunks). */
export async function readDemandUnion(redis: Redis): Promise<Set<string>> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', marketDataKeys.demandPattern, 'COUNT', 1000);
    for (const k of batch) keys.add(k);
    cursor = next;
  } while (cursor !== '0');
  const union = new Set<string>();
  const all = [...keys];
  for (let i = 0; i < all.length; i += 500) {
    // A key that expired between SCAN and SUNION simply contributes nothing.
    for (const s of await redis.sunion(...all.slice(i, i + 500))) union.add(s);
  }
  return union;
}

/**
 * Subscribes `subscriber` (a dedicated connection: it enters subscriber mode) to `md:demand:changed`;
 * `cb(owner)` runs on every announcement. Returns an unsubscribe function.
 */
export async function subscribeDemandChanges(subscriber: Redis, cb: (owner: string) => void): Promise<() => Promise<void>> {
  const channel = marketDataChannels.demandChanged;
  const listener = (ch: string, message: string) => {
    if (ch === channel) cb(message);
  };
  subscriber.on('message', listener);
  await subscriber.subscribe(channel);
  return async () => {
    subscriber.off('message', listener);
    await subscriber.unsubscribe(channel);
  };
}

export interface DemandTrackerOptions {
  /** How long a symbol that left the union stays in the desired set (default 30 s). */
  graceMs?: number;
  now?: () => number;
}

/**
 * Pure: turns successive demand unions into the upstream subscription set. A symbol that leaves the union stays
 * for `graceMs` (a browser reloading, a gateway restarting) before it is dropped; coming back cancels the drop.
 */
export class DemandTracker {
  private readonly graceMs: number;
  private readonly now: () => number;
  private inUnion = new Set<string>();
  /** symbol → when it left the union (only symbols in their grace period). */
  private readonly leftAt = new Map<string, number>();

  constructor(opts: DemandTrackerOptions = {}) {
    this.graceMs = opts.graceMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** Feeds a new union; returns the desired upstream set. */
  update(union: Iterable<string>): Set<string> {
    const now = this.now();
    const next = new Set(union);
    for (const s of this.inUnion) if (!next.has(s)) this.leftAt.set(s, now);
    for (const s of next) this.leftAt.delete(s);
    this.inUnion = next;
    return this.desired();
  }

  /** The desired set now: the latest union plus symbols still in their grace period. */
  desired(): Set<string> {
    const now = this.now();
    const out = new Set(this.inUnion);
    for (const [s, left] of this.leftAt) {
      if (now - left < this.graceMs) out.add(s);
      else this.leftAt.delete(s);
    }
    return out;
  }

  /** When the next symbol in its grace period will be dropped (null if none is), to schedule a recompute. */
  nextDropAt(): number | null {
    let min: number | null = null;
    for (const left of this.leftAt.values()) {
      const at = left + this.graceMs;
      if (min === null || at < min) min = at;
    }
    return min;
  }
}
