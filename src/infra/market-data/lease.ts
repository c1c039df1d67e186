// The feed's leader lease: one owner across replicas, with a fencing epoch that grows on every takeover.
import type { Redis } from 'ioredis';
import { marketDataKeys } from '../../contracts/market-data.js';
import { LuaScript } from './lua.js';
import { leaseAcquireLua } from './scripts/lease-acquire.lua.js';
import { leaseReleaseLua } from './scripts/lease-release.lua.js';

const acquireScript = new LuaScript('lease-acquire', leaseAcquireLua);
const releaseScript = new LuaScript('lease-release', leaseReleaseLua);

export interface LeaseState {
  /** True when `owner` holds the lease after this call. */
  leader: boolean;
  /** The lease's epoch: ours when leader, the holder's otherwise. */
  epoch: number;
  /** Owner id of the current holder. */
  holder: string;
}

/**
 * Leader lease on `{md}:lease` (value `<epoch>:<owner>`). Owner ids must be unique per process (e.g.
 * `<hostname>:<pid>:<random>`): an owner that restarts under the same id would silently continue the old epoch.
 */
export class LeaderLease {
  constructor(private readonly redis: Redis) {}

  /** One script: free → INCR epoch and take it; ours → PEXPIRE; someone else's → not leader. */
  async acquireOrRenew(owner: string, ttlMs: number): Promise<LeaseState> {
    if (owner.length === 0) throw new Error('lease owner must not be empty');
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new Error(`lease ttlMs must be a positive integer, got ${ttlMs}`);
    const reply = (await acquireScript.run(this.redis, [marketDataKeys.lease, marketDataKeys.epoch], [owner, ttlMs])) as [
      number,
      number,
      string,
    ];
    return { leader: reply[0] === 1, epoch: Number(reply[1]), holder: String(reply[2]) };
  }

  /** Deletes the lease only if it still holds exactly this owner and epoch; true when it did. */
  async release(owner: string, epoch: number): Promise<boolean> {
    const reply = await releaseScript.run(this.redis, [marketDataKeys.lease], [owner, epoch]);
    return reply === 1;
  }
}
