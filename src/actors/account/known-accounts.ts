// The paper_accounts rows the account actor last read or wrote, kept across turns (most recently used first out when
// full), so that a turn of cash adjustments needs no read — with a blind turn, nothing to wait for before COMMIT.
// A copy may be stale without harm: an adjustment decided from it matches only its version (raxx_adjust_cash_by_id
// raises 40001 otherwise, the turn is rolled back and runs again from a fresh read). The host drops a user's copy
// whenever something else may have changed the row: the engine's balance writes, a signal turn, a rollback,
// passivation.
import type { AccountSnapshot, KnownAccount } from './state.js';

export class KnownAccounts {
  private readonly rows = new Map<string, AccountSnapshot>();

  constructor(private readonly max = 20_000) {}

  /** Every user's copy, or null when any of them has none (the turn reads them all). `at`: the turn's time. */
  all(userIds: readonly string[], at: string): Map<string, KnownAccount> | null {
    const out = new Map<string, KnownAccount>();
    for (const u of userIds) {
      const snapshot = this.rows.get(u);
      if (!snapshot) return null;
      out.set(u, { snapshot, at });
    }
    return out;
  }

  set(userId: string, snapshot: AccountSnapshot): void {
    this.rows.delete(userId); // Map order = LRU order
    this.rows.set(userId, snapshot);
    for (const u of this.rows.keys()) {
      if (this.rows.size <= this.max) break;
      this.rows.delete(u);
    }
  }

  delete(userId: string): void {
    this.rows.delete(userId);
  }
}

/**
 * `ms` (epoch milliseconds) as PostgreSQL prints a timestamptz in JSON in a UTC session (`to_json(now())#>>'{}'`,
 * what a turn that read its row reports as `at`): "2026-11-24T14:33:05.12+00:00" — the fraction without trailing
 * zeros, none at all on a whole second.
 */
export function pgTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-24T14:33:05.120Z
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}+00:00`;
}
