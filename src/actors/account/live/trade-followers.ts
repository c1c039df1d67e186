// One broker trade_updates stream per user with live orders on this replica, authenticated with the token already
// in the actor's memory; every update becomes a signal for that user's actor, so fills are applied in the user's own
// turn order. Followers stop when the user disconnects or the partition leaves this replica.
import type { TradeUpdate, TradeUpdatesFollower } from '../../../infra/broker/index.js';
import type { Signal } from '../../../runtime/index.js';
import { LIVE_TRADE_UPDATE_SIGNAL } from './live-host.js';

export interface TradeFollowersOptions {
  /** Opens one user's stream (followTradeUpdates with the broker's stream URL). */
  follow: (token: string, onUpdate: (u: TradeUpdate) => void, onState: (state: TradeUpdatesFollower['state']) => void) => TradeUpdatesFollower;
  deliver: (signal: Signal) => void;
  onState?: (userId: string, state: TradeUpdatesFollower['state']) => void;
  /** The stream is (again) subscribed: catch up with what it missed (reconcileOpenOrders). */
  onAuthorized?: (userId: string, token: string) => void;
}

export class TradeFollowers {
  private readonly followers = new Map<string, TradeUpdatesFollower>();

  constructor(private readonly o: TradeFollowersOptions) {}

  /** Follows `userId` unless already following; `token` reads the actor's in-memory token (undefined: not opened yet). */
  ensure(userId: string, token: () => string | undefined): void {
    const current = this.followers.get(userId);
    if (current && current.state !== 'closed' && current.state !== 'unauthorized') return;
    const t = token();
    if (!t) return;
    const follower = this.o.follow(
      t,
      (u) => this.o.deliver({ userId, kind: LIVE_TRADE_UPDATE_SIGNAL, payload: u }),
      (state) => {
        this.o.onState?.(userId, state);
        if (state === 'authorized') this.o.onAuthorized?.(userId, t);
      },
    );
    this.followers.set(userId, follower);
  }

  async stop(userId: string): Promise<void> {
    const f = this.followers.get(userId);
    this.followers.delete(userId);
    await f?.close();
  }

  async stopAll(): Promise<void> {
    const all = [...this.followers.values()];
    this.followers.clear();
    await Promise.all(all.map((f) => f.close()));
  }
}
