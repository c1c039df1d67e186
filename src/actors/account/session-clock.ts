// Session clock ticks for the account actors: at each session boundary of the market calendar (pre_open 04:00,
// regular_open, regular_close, extended_close; early closes from the calendar) a `clock` signal to every user with
// open orders, so DAY orders expire at the close even when no quote arrives.
import type { Signal } from '../../runtime/index.js';
import { clockEventsOf, clockInputsBetween, type SessionCache } from './mbt/index.js';

export interface SessionClockOptions {
  sessions: SessionCache;
  /** The role's clock (system time plus the shared offset). */
  now: () => number;
  /** Users to tick (the quote router's users with open orders). */
  users: () => Iterable<string>;
  deliver: (signal: Signal) => boolean;
  /** Longest sleep between calendar checks (default 60 s; the calendar, the offset or the day may change). */
  maxSleepMs?: number;
  onError?: (err: unknown) => void;
}

/** How far back `catchUp` replays boundaries for users just loaded (the host ignores what an engine has seen). */
const CATCH_UP_MS = 24 * 3600_000;

export class SessionClock {
  private since = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  ticks = 0;

  constructor(private readonly o: SessionClockOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.since = this.o.now(); // boundaries before now reach engines through the host's own catch-up
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.wakeUp?.();
    await this.loop;
  }

  /**
   * The last day's boundaries, in calendar order, for users whose partition this replica just took over: an engine
   * that missed a close (its previous owner died) expires its DAY orders without waiting for a quote.
   */
  async catchUp(userIds: readonly string[]): Promise<void> {
    const now = this.o.now();
    const sessions = await this.o.sessions.around(now);
    if (!sessions) return;
    this.send(userIds, clockInputsBetween(sessions, now - CATCH_UP_MS, now));
  }

  private send(userIds: Iterable<string>, events: readonly unknown[]): void {
    if (events.length === 0) return;
    for (const userId of userIds) for (const payload of events) this.o.deliver({ userId, kind: 'clock', payload });
    this.ticks += events.length;
  }

  private async run(): Promise<void> {
    const maxSleep = this.o.maxSleepMs ?? 60_000;
    while (this.running) {
      let sleepMs = maxSleep;
      try {
        const now = this.o.now();
        const sessions = await this.o.sessions.around(now);
        if (sessions) {
          // Everything in (since, now], in the calendar's order (the same function the host's catch-up uses).
          this.send(this.o.users(), clockInputsBetween(sessions, this.since, now));
          this.since = now;
          const next = sessions.flatMap(clockEventsOf).reduce((min, e) => (e.ts > now && e.ts < min ? e.ts : min), Infinity);
          if (Number.isFinite(next)) sleepMs = Math.min(maxSleep, next - now + 1);
        }
      } catch (err) {
        this.o.onError?.(err);
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, Math.max(1, sleepMs));
      });
      this.wakeUp = null;
    }
  }
}
