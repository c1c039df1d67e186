// Who a user is, as far as the gateway cares: tier and role, read server-side from PostgreSQL (never from the token),
// cached for GATEWAY_TIER_CACHE_MS; a tier-change notice invalidates the entry at once.
import { sql } from 'drizzle-orm';
import { arrayLiteral } from '../infra/db/arrays.js';
import { users, withTenant, type Db } from '../infra/db/index.js';
import { isTier, type Tier } from '../domain/index.js';

export interface UserRecord {
  id: string;
  tier: Tier;
  role: 'user' | 'operator';
}

export interface TierDirectoryOptions {
  cacheMs: number;
  now?: () => number;
}

/** Users read by one query at most. */
const MAX_BATCH = 500;

interface Waiter {
  resolve(record: UserRecord | null): void;
  reject(err: unknown): void;
}

export class TierDirectory {
  private readonly cache = new Map<string, { record: UserRecord; until: number }>();
  /** Reads asked for and not sent yet, by user. */
  private readonly next = new Map<string, Waiter[]>();
  /** A flush loop is scheduled or running (it sends `next` until it is empty). */
  private flushing = false;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    private readonly opts: TierDirectoryOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The user's tier and role (cached), or null when the user does not exist. */
  async lookup(userId: string): Promise<UserRecord | null> {
    const hit = this.cache.get(userId);
    if (hit && hit.until > this.now()) return hit.record;
    return this.refresh(userId);
  }

  /**
   * Reads the user from the database, bypassing and refreshing the cache. Reads asked for while none is being sent
   * share one query (up to 500 users): a reconnect storm of distinct users asked for one transaction each, and each
   * socket's upgrade state stayed alive across its own round trip. A read asked for while a query is in flight waits
   * for the next one, so it never gets a row read before it was asked for (a tier change's refresh included).
   */
  refresh(userId: string): Promise<UserRecord | null> {
    let waiters = this.next.get(userId);
    if (!waiters) this.next.set(userId, (waiters = []));
    const answer = new Promise<UserRecord | null>((resolve, reject) => waiters.push({ resolve, reject }));
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
    return answer;
  }

  private async flush(): Promise<void> {
    while (this.next.size > 0) {
      const batch: Array<[string, Waiter[]]> = [];
      for (const entry of this.next) {
        batch.push(entry);
        if (batch.length === MAX_BATCH) break;
      }
      for (const [id] of batch) this.next.delete(id);
      const ids = batch.map(([id]) => id);
      try {
        // One array parameter, not `in ($1, …, $n)`: one statement text whatever the batch size, so each connection
        // prepares it once instead of once per size seen (up to MAX_BATCH of them, each kept by the server).
        const rows = await withTenant(this.db, ids, (tx) =>
          tx
            .select({ id: users.id, tier: users.tier, role: users.role })
            .from(users)
            .where(sql`${users.id} = any(${arrayLiteral(ids)}::text[])`),
        );
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const [id, waiters] of batch) {
          const record = this.remember(id, byId.get(id));
          for (const w of waiters) w.resolve(record);
        }
      } catch (err) {
        for (const [, waiters] of batch) for (const w of waiters) w.reject(err);
      }
    }
    this.flushing = false;
  }

  private remember(userId: string, row: { id: string; tier: string; role: string } | undefined): UserRecord | null {
    if (!row || !isTier(row.tier)) {
      this.cache.delete(userId);
      return null;
    }
    const record: UserRecord = { id: row.id, tier: row.tier, role: row.role === 'operator' ? 'operator' : 'user' };
    this.cache.set(userId, { record, until: this.now() + this.opts.cacheMs });
    if (this.cache.size > 100_000) this.evictExpired();
    return record;
  }

  invalidate(userId: string): void {
    this.cache.delete(userId);
  }

  private evictExpired(): void {
    const now = this.now();
    for (const [id, entry] of this.cache) if (entry.until <= now) this.cache.delete(id);
  }
}
