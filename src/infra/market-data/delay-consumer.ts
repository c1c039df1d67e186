// Releases delay-line entries once they have waited out the delay: the Free tier's 15-minute-delayed line.
import type { Redis } from 'ioredis';
import { marketDataKeys } from '../../contracts/market-data.js';
import { LuaScript } from './lua.js';
import { releaseDelayLua } from './scripts/release-delay.lua.js';

const releaseScript = new LuaScript('release-delay', releaseDelayLua);

/** Default delay of the delay line (15 minutes, the data licence's threshold). */
export const DEFAULT_DELAY_MS = 15 * 60_000;
/** Most entries one call releases (Lua's unpack limit leaves ample room above this). */
export const MAX_RELEASE_PER_CALL = 2000;

export type ReleaseResult =
  | {
      ok: true;
      released: number;
      /** Age of the oldest entry still waiting (by the Redis clock), null when the delay line is empty. */
      oldestAgeMs: number | null;
    }
  | { ok: false; reason: 'fenced' };

export interface DelayConsumerOptions {
  /** Default DEFAULT_DELAY_MS. */
  delayMs?: number;
  /** Default max per releaseDue() call (default 1000). */
  maxPerCall?: number;
  now?: () => number;
}

export class DelayConsumer {
  readonly delayMs: number;
  private readonly maxPerCall: number;
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis,
    opts: DelayConsumerOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? DEFAULT_DELAY_MS;
    this.maxPerCall = opts.maxPerCall ?? 1000;
    this.now = opts.now ?? Date.now;
    if (!Number.isInteger(this.delayMs) || this.delayMs < 0) throw new Error(`delayMs must be a non-negative integer`);
  }

  /**
   * Fenced: publishes (md:dl:<kind>:<symbol>), writes `{md}:lkg:dl` and deletes every entry whose stream ID is
   * ≤ `cutoffMs` (default now − delayMs) and also ≤ Redis time − delayMs, at most `max` of them. Call it every
   * ~200 ms; when `released === max` call again at once.
   */
  async releaseDue(epoch: number, cutoffMs: number = this.now() - this.delayMs, max: number = this.maxPerCall): Promise<ReleaseResult> {
    if (!Number.isInteger(max) || max < 1 || max > MAX_RELEASE_PER_CALL) throw new Error(`max must be 1..${MAX_RELEASE_PER_CALL}`);
    const reply = (await releaseScript.run(
      this.redis,
      [marketDataKeys.lease, marketDataKeys.delay, marketDataKeys.lkgDelayed],
      [epoch, Math.floor(cutoffMs), max, this.delayMs],
    )) as number[];
    if (reply[0] !== 1) return { ok: false, reason: 'fenced' };
    const age = reply[2]!;
    return { ok: true, released: reply[1]!, oldestAgeMs: age < 0 ? null : age };
  }
}
