// Writer of the private per-user event log (`{u:<id>}:events`, see src/contracts/user-events.ts).
import type { Redis } from 'ioredis';
import { USER_EVENT_LOG_MAX, userEventChannel, userEventKeys, type UserEvent } from '../../contracts/index.js';
import { LuaScript } from '../market-data/lua.js';
import { userEventAppendLua } from './append.lua.js';

const appendScript = new LuaScript('user-event-append', userEventAppendLua);

/** An event before the script assigns `T` and the per-user `seq`. */
export type UserEventDraft = Omit<UserEvent, 'T' | 'seq'>;

/**
 * The user's recent dedupe ids (a sorted set, scored by first seq): one key per user, not one per command — a marker
 * per command kept for days was ~165 B of Redis memory per command (100 GB a week at 1,000 commands/s). Same hash tag
 * as the log, so one script touches one slot.
 */
export const userEventDedupeKey = (userId: string) => `{u:${userId}}:appended`;

/**
 * How many of a user's most recent dedupe ids are remembered. A re-append comes from a batch the runtime delivers
 * again (committed, not yet acknowledged: at most one batch per partition, ≤ 64 commands by default, appended before
 * anything newer of that user) or a signal outbox row swept again; 128 covers that with room, and a set that small
 * stays in Redis's compact listpack encoding (6.2 KB per user at most, measured; at 129 it would become a
 * skiplist of ~20 KB for good).
 */
export const USER_EVENT_DEDUPE_WINDOW = 128;

export interface UserEventLogOptions {
  /** Approximate stream cap (XADD MAXLEN ~); default USER_EVENT_LOG_MAX. */
  maxLen?: number;
  /** How long a user's dedupe set lives after their last append (ms); default 7 days (longer than any redelivery). */
  dedupeTtlMs?: number;
  /** How many recent dedupe ids per user are remembered; default USER_EVENT_DEDUPE_WINDOW. */
  dedupeWindow?: number;
  /** Attempts of `submit` before it gives up on one append (default 5, backoff 50 ms doubling to 2 s). */
  attempts?: number;
  onError?: (err: unknown, userId: string, dedupeId: string | undefined) => void;
}

export interface AppendResult {
  /** False when the dedupe marker existed: nothing was appended or published. */
  appended: boolean;
  /** Seq of the first frame (of this append, or of the earlier one when deduplicated). */
  firstSeq: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class UserEventLog {
  private readonly maxLen: number;
  private readonly dedupeTtlMs: number;
  private readonly dedupeWindow: number;
  private readonly attempts: number;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly redis: Redis,
    private readonly opts: UserEventLogOptions = {},
  ) {
    this.maxLen = opts.maxLen ?? USER_EVENT_LOG_MAX;
    this.dedupeTtlMs = opts.dedupeTtlMs ?? 7 * 24 * 3600_000;
    this.dedupeWindow = opts.dedupeWindow ?? USER_EVENT_DEDUPE_WINDOW;
    if (!Number.isInteger(this.dedupeWindow) || this.dedupeWindow < 1) throw new RangeError('dedupeWindow must be a positive integer');
    this.attempts = opts.attempts ?? 5;
  }

  /**
   * One atomic script: INCR the user's seq per frame, XADD `{s, f}` (MAXLEN ~), PUBLISH each frame on
   * `user-events:<id>`. With `dedupeId` (a command id, a signal effect's key) the whole append happens at most once
   * per id while the id is among the user's last `dedupeWindow` dedupe ids.
   */
  async append(userId: string, drafts: readonly UserEventDraft[], dedupeId?: string): Promise<AppendResult> {
    if (drafts.length === 0) return { appended: false, firstSeq: 0 };
    const tails = drafts.map((d) => JSON.stringify(d));
    const reply = (await appendScript.run(
      this.redis,
      [userEventKeys.log(userId), userEventKeys.seq(userId), userEventDedupeKey(userId)],
      [this.maxLen, userEventChannel(userId), dedupeId === undefined ? 0 : this.dedupeTtlMs, dedupeId ?? '', this.dedupeWindow, ...tails],
    )) as [number, number];
    return { appended: reply[0] === 1, firstSeq: Number(reply[1]) };
  }

  /**
   * Fire-and-forget append for callbacks that cannot await (the runtime's onDecision): appends of one user run one
   * after another in submission order, each retried with backoff; a final failure goes to `onError`.
   */
  submit(userId: string, drafts: readonly UserEventDraft[], dedupeId?: string): Promise<AppendResult | undefined> {
    const prev = this.queues.get(userId) ?? Promise.resolve();
    const next = prev.then(() => this.appendWithRetry(userId, drafts, dedupeId));
    this.queues.set(userId, next);
    void next.finally(() => {
      if (this.queues.get(userId) === next) this.queues.delete(userId);
    });
    return next;
  }

  /** Resolves when every submitted append has finished (for an orderly shutdown). */
  async drain(): Promise<void> {
    while (this.queues.size > 0) await Promise.allSettled([...this.queues.values()]);
  }

  private async appendWithRetry(userId: string, drafts: readonly UserEventDraft[], dedupeId?: string): Promise<AppendResult | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.append(userId, drafts, dedupeId);
      } catch (err) {
        if (attempt >= this.attempts) {
          this.opts.onError?.(err, userId, dedupeId);
          return undefined;
        }
        await sleep(Math.min(50 * 2 ** attempt, 2000));
      }
    }
  }
}
