// Append a command envelope to the user's partition and wait for the account actor's decision: the one path every
// HTTP surface that issues commands uses (`POST /api/commands`, the paper API `/paper/v2/orders…`). Subscribes to the
// user's private channel before appending so a decision cannot slip past, reserves the command id against a second
// append, and falls back to processed_commands when the decision event was missed.
import type { Redis } from 'ioredis';
import { and, eq } from 'drizzle-orm';
import { userEventSchema } from '../../contracts/user-events.js';
import type { Clock } from '../../domain/index.js';
import { processedCommands, withTenant, type Db } from '../../infra/db/index.js';
import { appendCommand } from '../../runtime/index.js';
import type { UserEventBus } from '../private-events.js';

export interface CommandDecisionBody {
  commandId: string;
  outcome: 'accepted' | 'rejected';
  code?: string;
  data?: unknown;
  /** The decision event's seq in the user's event log (absent when read from processed_commands). */
  seq?: number;
}

export interface StoredCommand extends CommandDecisionBody {
  type: string;
  processedAt: string;
}

export type SubmitResult =
  | { kind: 'decided'; decision: CommandDecisionBody }
  /** Appended (or already appended), not decided within the wait. */
  | { kind: 'pending'; commandId: string }
  /** The id is reserved by another user. */
  | { kind: 'conflict'; commandId: string };

export interface SubmitRequest {
  /** Lower-cased UUID; a client-chosen one is looked up in processed_commands first. */
  commandId: string;
  /** The client named the id (a retry may repeat it): it is reserved before the append. A server-chosen one is not. */
  clientChosenId: boolean;
  type: string;
  payload: unknown;
}

export interface CommandSubmitterDeps {
  redis: Redis;
  db: Db;
  events: UserEventBus;
  partitions: number;
  clock: Clock;
  options?: {
    /** Default 5,000 ms. */
    decisionWaitMs?: number;
    /** Default 24 h. */
    idempotencyTtlSeconds?: number;
    /** Keep a user's private-channel subscription this long after their last command (0: unsubscribe at once). */
    subscriptionLingerMs?: number;
    /**
     * processed_commands reads after a wait ran out (the decision event may have been missed), at most this many at
     * once; beyond it the request answers 504 with the id at once. Default 8. A wait mostly runs out because the
     * actors are overloaded, and one more PostgreSQL read per timed-out request would add to exactly that load.
     */
    maxFallbackReads?: number;
  };
}

export interface CommandSubmitter {
  /** `aborted()` true (the client went away) skips the wait once appended. */
  submit(userId: string, req: SubmitRequest, aborted?: () => boolean): Promise<SubmitResult>;
  /** The stored decision of `commandId`, visible only inside `userId`'s tenant scope. */
  stored(userId: string, commandId: string): Promise<StoredCommand | null>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: string): boolean => UUID.test(s);

/** Idempotency reservation of a command id (global: ids are unique across users, as in processed_commands). */
export const commandIdKey = (commandId: string) => `cmdid:{${commandId.toLowerCase()}}`;

export function createCommandSubmitter(deps: CommandSubmitterDeps): CommandSubmitter {
  const o = deps.options ?? {};
  const waitMs = o.decisionWaitMs ?? 5_000;
  const idemTtl = o.idempotencyTtlSeconds ?? 24 * 3600;
  const lingerMs = o.subscriptionLingerMs ?? 0;
  const maxFallbackReads = o.maxFallbackReads ?? 8;
  let fallbackReads = 0;

  /** The stored decision after a wait ran out, unless `maxFallbackReads` reads are already in flight (then null). */
  async function fallbackRead(userId: string, commandId: string): Promise<CommandDecisionBody | null> {
    if (fallbackReads >= maxFallbackReads) return null;
    fallbackReads++;
    try {
      return await stored(userId, commandId);
    } finally {
      fallbackReads--;
    }
  }
  const lingering = new Map<string, NodeJS.Timeout>();
  const keepAlive = (): void => {}; // a listener that only holds the subscription

  /** Keeps `userId` subscribed for `lingerMs` more (bounded, so a flood of users cannot pin subscriptions). */
  function linger(userId: string): void {
    if (lingerMs <= 0) return;
    const timer = lingering.get(userId);
    if (timer) {
      timer.refresh();
      return;
    }
    if (lingering.size >= 100_000) return;
    lingering.set(
      userId,
      setTimeout(() => {
        lingering.delete(userId);
        deps.events.remove(userId, keepAlive);
      }, lingerMs).unref(),
    );
    void deps.events.add(userId, keepAlive).catch(() => {});
  }

  async function stored(userId: string, commandId: string): Promise<StoredCommand | null> {
    if (!UUID.test(commandId)) return null;
    const rows = await withTenant(deps.db, [userId], (tx) =>
      tx
        .select({ type: processedCommands.type, code: processedCommands.resultCode, result: processedCommands.result, at: processedCommands.processedAt })
        .from(processedCommands)
        .where(and(eq(processedCommands.commandId, commandId.toLowerCase()), eq(processedCommands.userId, userId))),
    );
    const row = rows[0];
    if (!row) return null;
    const r = (row.result ?? {}) as { outcome?: 'accepted' | 'rejected'; code?: string; result?: unknown };
    return {
      commandId: commandId.toLowerCase(),
      type: row.type,
      outcome: r.outcome ?? 'accepted',
      code: row.code,
      ...(r.result !== undefined ? { data: r.result } : {}),
      processedAt: new Date(row.at as unknown as string | Date).toISOString(),
    };
  }

  /** Subscribes (confirmed) for `userId`'s decision of `commandId`; `wait()` resolves with it or null on timeout. */
  async function watch(userId: string, commandId: string): Promise<{ wait(ms: number): Promise<CommandDecisionBody | null>; stop(): void }> {
    let found: CommandDecisionBody | null = null;
    let wake: (() => void) | null = null;
    const fn = (frame: string): void => {
      if (found) return;
      let ev;
      try {
        const p = userEventSchema.safeParse(JSON.parse(frame));
        if (!p.success) return;
        ev = p.data;
      } catch {
        return;
      }
      if (ev.kind !== 'decision' || ev.commandId?.toLowerCase() !== commandId) return;
      found = {
        commandId,
        outcome: ev.outcome ?? 'accepted',
        ...(ev.code !== undefined ? { code: ev.code } : {}),
        ...(ev.data !== undefined ? { data: ev.data } : {}),
        seq: ev.seq,
      };
      wake?.();
    };
    await deps.events.add(userId, fn);
    let stopped = false;
    return {
      stop: () => {
        if (stopped) return;
        stopped = true;
        deps.events.remove(userId, fn);
      },
      wait: (ms) =>
        new Promise((resolve) => {
          if (found) return resolve(found);
          const timer = setTimeout(() => {
            wake = null;
            resolve(found);
          }, ms);
          wake = () => {
            clearTimeout(timer);
            wake = null;
            resolve(found);
          };
        }),
    };
  }

  async function submit(userId: string, req: SubmitRequest, aborted: () => boolean = () => false): Promise<SubmitResult> {
    const commandId = req.commandId.toLowerCase();
    // Subscribed before anything is appended (or looked up), so the decision cannot slip past.
    const w = await watch(userId, commandId);
    linger(userId);
    try {
      if (req.clientChosenId) {
        const prev = await stored(userId, commandId);
        if (prev) return { kind: 'decided', decision: prev };
      }
      // Only a client-chosen id can come twice: a server-chosen one is a fresh random UUID nobody else knows before it
      // is appended, so reserving it would cost a round trip and a 24 h key per command for nothing.
      const reserved = req.clientChosenId ? await deps.redis.set(commandIdKey(commandId), userId, 'EX', idemTtl, 'NX') : 'OK';
      if (reserved === null) {
        const owner = await deps.redis.get(commandIdKey(commandId));
        if (owner !== null && owner !== userId) return { kind: 'conflict', commandId };
        // Same user, same id: already appended once; wait for that command's decision instead.
      } else {
        try {
          await appendCommand(deps.redis, { id: commandId, userId, type: req.type, payload: req.payload, issuedAt: new Date(deps.clock.now()).toISOString() }, deps.partitions);
        } catch (err) {
          if (req.clientChosenId) await deps.redis.del(commandIdKey(commandId)).catch(() => {});
          throw err;
        }
      }
      if (aborted()) return { kind: 'pending', commandId };
      const decision = (await w.wait(waitMs)) ?? (await fallbackRead(userId, commandId));
      return decision ? { kind: 'decided', decision } : { kind: 'pending', commandId };
    } finally {
      w.stop();
    }
  }

  return { submit, stored };
}
