// Account-actor turns exactly as the runtime runs them, for integration tests that drive a host directly: fenced,
// effectively once (commitFencedBatch), with the host's prefetch and deferred writes, the onRollback callbacks run
// when a turn fails, events appended after commit.
import { accountEvents } from '../../src/actors/account/index.js';
import type { Db } from '../../src/infra/db/index.js';
import type { UserEventLog } from '../../src/infra/user-events/index.js';
import { commitFencedBatch, DeferredWrites, withFencedTransaction, type ActorHost, type Envelope, type Signal, type StoredDecision } from '../../src/runtime/index.js';

export type SignalEffects = Array<{ userId: string; events: Parameters<UserEventLog['append']>[1]; key: string }>;

/** Runs `fn` as the runtime runs a turn: the callbacks registered through onRollback run if it fails. */
export async function rollingBack<T>(fn: (onRollback: (cb: () => void) => void) => Promise<T>): Promise<T> {
  const callbacks: Array<() => void> = [];
  try {
    return await fn((cb) => callbacks.push(cb));
  } catch (err) {
    for (const cb of callbacks) cb();
    throw err;
  }
}

/** Command and signal turns of `host()` on one partition at one epoch (host read per turn: tests swap it). */
export function fencedTurns(db: Db, partition: number, epoch: () => number, host: () => ActorHost, events: UserEventLog) {
  async function commandTurn(envs: Envelope[], blind: boolean): Promise<StoredDecision[]> {
    const h = host();
    const decisions = await rollingBack((onRollback) =>
      commitFencedBatch(
        db,
        partition,
        epoch(),
        envs,
        (tx, fresh, defer, prefetched) => h.handleBatch({ partition, epoch: epoch(), tx, onRollback, defer, prefetched }, fresh),
        { prefetch: h.prefetch?.bind(h), blind },
      ),
    );
    for (const [i, d] of decisions.entries()) await events.append(envs[i]!.userId, accountEvents(envs[i]!, d), envs[i]!.id);
    return decisions;
  }
  return {
    turn: (...envs: Envelope[]): Promise<StoredDecision[]> => commandTurn(envs, false),
    /**
     * A turn as the runtime runs a blind one (RuntimeOptions.blindTurns): tried blind and, if that fails for any
     * reason, rolled back and run again with its fence and lookups. `blind`: whether the blind try held.
     */
    async blindTurn(...envs: Envelope[]): Promise<{ decisions: StoredDecision[]; blind: boolean }> {
      try {
        return { decisions: await commandTurn(envs, true), blind: true };
      } catch {
        return { decisions: await commandTurn(envs, false), blind: false };
      }
    },
    /** A signal turn up to COMMIT, without the append: what a replica that dies right after COMMIT leaves. */
    async commitSignals(...list: Signal[]): Promise<SignalEffects> {
      return (await rollingBack((onRollback) =>
        withFencedTransaction(db, partition, epoch(), list.map((s) => s.userId), async (tx) => {
          const deferred = new DeferredWrites();
          try {
            const effects = await host().handleSignals!({ partition, epoch: epoch(), tx, onRollback, defer: deferred.defer }, list);
            await deferred.settle();
            return effects;
          } catch (err) {
            throw await deferred.causeOf(err);
          }
        }),
      )) as SignalEffects;
    },
    async signals(...list: Signal[]): Promise<SignalEffects> {
      const effects = await this.commitSignals(...list);
      for (const e of effects) await events.append(e.userId, e.events, e.key);
      return effects;
    },
  };
}
