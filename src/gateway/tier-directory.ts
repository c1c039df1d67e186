// Who a user is, as far as the gateway cares: tier and role, read server-side from PostgreSQL (never from the token),
// cached for GATEWAY_TIER_CACHE_MS; a tier-change notice invalidates the entry at once.
import { eq } from 'drizzle-orm';
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

export class TierDirectory {
  private readonly cache = new Map<string, { record: UserRecord; until: number }>();
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

  /** Reads the user from the database, bypassing and refreshing the cache. */
  async refresh(userId: string): Promise<UserRecord | null> {
    const rows = await withTenant(this.db, [userId], (tx) =>
      tx.select({ id: users.id, tier: users.tier, role: users.role }).from(users).where(eq(users.id, userId)).limit(1),
    );
    const row = rows[0];
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
