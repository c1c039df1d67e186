// The hub status (live / delayed / degraded with a reason) that every gateway shows its clients: set by the feed
// leader only, fenced by its epoch like every other write of the feed (docs/feed-redis.md).
import type { Redis } from 'ioredis';
import { marketDataChannels, marketDataKeys, type HubStatus } from '../../contracts/market-data.js';
import { LuaScript } from './lua.js';
import { setStatusLua } from './scripts/set-status.lua.js';

const script = new LuaScript('set-status', setStatusLua);

/** Writes and announces `status` if `epoch` still holds the lease; 'fenced' (nothing written) otherwise. */
export async function setHubStatus(redis: Redis, epoch: number, status: HubStatus): Promise<'ok' | 'fenced'> {
  const text = JSON.stringify(status);
  const r = await script.run(redis, [marketDataKeys.lease, marketDataKeys.status], [epoch, text, marketDataChannels.status]);
  return Number(r) === 1 ? 'ok' : 'fenced';
}
