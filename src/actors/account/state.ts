// An account's balances as the actor reports them. The state of record is the paper_accounts row: every command
// reads and changes it with one conditional SQL statement inside the turn's transaction (no cache to go stale when
// a turn rolls back), and money stays PostgreSQL `numeric`, carried as decimal strings.
import { sql, type SQL } from 'drizzle-orm';
import type { AccountStatus, AccountType } from '../../infra/db/schema/accounts.js';

export interface AccountSnapshot {
  accountId: string;
  accountNumber: string;
  accountType: AccountType;
  status: AccountStatus;
  currency: string;
  startingCash: string;
  cash: string;
  reservedCash: string;
  /** cash - reserved_cash (numeric, computed by PostgreSQL). */
  buyingPower: string;
  cycleStartedAt: string;
  version: number;
}

/** The columns of a RETURNING / SELECT that map to an AccountSnapshot (text casts keep numerics exact, ISO times). */
export const SNAPSHOT_COLUMNS: SQL = sql.raw(`id::text as "accountId", account_number as "accountNumber", account_type as "accountType",
  status, currency, starting_cash::text as "startingCash", cash::text as cash, reserved_cash::text as "reservedCash",
  (cash - reserved_cash)::text as "buyingPower", to_json(cycle_started_at)#>>'{}' as "cycleStartedAt", version::int as version`);

type SnapshotRow = Omit<AccountSnapshot, 'version'> & { version: number | string };

export function toSnapshot(row: Record<string, unknown>): AccountSnapshot {
  const r = row as SnapshotRow;
  return {
    accountId: r.accountId,
    accountNumber: r.accountNumber,
    accountType: r.accountType,
    status: r.status,
    currency: r.currency,
    startingCash: r.startingCash,
    cash: r.cash,
    reservedCash: r.reservedCash,
    buyingPower: r.buyingPower,
    cycleStartedAt: r.cycleStartedAt,
    version: Number(r.version),
  };
}
