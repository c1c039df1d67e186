// The feed actor: competes for the leader lease; the leader owns the upstream socket and publishes every tick once, fenced.
import type { Clock } from '../../domain/index.js';
import type { HubStatus } from '../../contracts/index.js';
import type { BarJobsPort, DelayLinePort, DemandPort, FeedTick, HubStatusPort, LeasePort, RulesPort, TickSinkPort, UpstreamPort } from './ports.js';

/** Why the upstream is not serving; the `reason` of the hub's `degraded` status (docs/protocol.md). */
export type UpstreamFault = 'upstream_unavailable' | 'upstream_stalled' | 'upstream_auth_failed' | 'upstream_not_entitled';

export interface FeedActorOptions {
  lease: LeasePort;
  sink: TickSinkPort;
  delayLine: DelayLinePort;
  demand: DemandPort;
  rules: RulesPort;
  barJobs: BarJobsPort;
  status: HubStatusPort;
  /** Builds the upstream connection; ticks go to `onTicks`. Called when this replica becomes leader. */
  createUpstream(onTicks: (ticks: FeedTick[]) => void): UpstreamPort;
  clock: Clock;
  /** The environment's kill switch (ALPACA_MARKET_DATA_DISABLED); the runtime one lives in Redis. */
  disabledByConfig: boolean;
  /** The upstream is delayed by entitlement (delayed_sip): the hub reports `delayed`, not `live`. */
  events?: FeedEvents;
  timing?: Partial<FeedTiming>;
}

export interface FeedTiming {
  /** How often the lease is renewed (and a standby tries to take it). Must be well under the lease TTL. */
  leaseRenewMs: number;
  /** How often the delay line releases due entries. */
  delayReleaseMs: number;
  /** How often demand, rules and the kill switch are re-read (changes also arrive by notification). */
  refreshMs: number;
  /** Largest batch handed to one fenced publish. */
  maxBatch: number;
  /** Fenced publishes pipelined at once (order is kept: one connection, executed in order). */
  maxInFlight: number;
}

/** Hooks for logs and metrics; every field optional. */
export interface FeedEvents {
  leadership?(leader: boolean, epoch: number): void;
  published?(count: number): void;
  fenced?(epoch: number): void;
  delayReleased?(released: number, lagMs: number): void;
  statusChanged?(status: HubStatus): void;
  error?(where: string, err: unknown): void;
  symbols?(count: number): void;
}

const DEFAULT_TIMING: FeedTiming = { leaseRenewMs: 1000, delayReleaseMs: 200, refreshMs: 2000, maxBatch: 1000, maxInFlight: 3 };

export class FeedActor {
  private readonly timing: FeedTiming;
  private epoch = 0;
  private leader = false;
  private upstream: UpstreamPort | undefined;
  private stopDemand: (() => Promise<void>) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private pending: FeedTick[] = [];
  private draining: Promise<void> | undefined;
  private rulesBySymbol = new Map<string, string[]>();
  private killed = false;
  private stopped = false;
  private statusState: HubStatus['state'] | undefined;
  private upstreamIsDelayed = false;
  /** Why the upstream is not serving, while it is not (the hub status says `degraded` with this reason). */
  private upstreamFault: UpstreamFault | undefined;

  constructor(private readonly opts: FeedActorOptions) {
    this.timing = { ...DEFAULT_TIMING, ...opts.timing };
  }

  get isLeader(): boolean {
    return this.leader;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  start(): void {
    void this.tick();
    this.every(this.timing.leaseRenewMs, () => this.tick());
  }

  /** Steps down (releasing the lease so a standby takes over at once) and stops every timer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const wasLeader = this.leader;
    await this.stepDown('stopping');
    if (wasLeader) await this.opts.lease.release(this.epoch).catch((err) => this.opts.events?.error?.('lease release', err));
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let running = false;
    this.timers.push(
      setInterval(() => {
        if (running || this.stopped) return;
        running = true;
        fn()
          .catch((err) => this.opts.events?.error?.('timer', err))
          .finally(() => (running = false));
      }, ms),
    );
  }

  /** One lease round: renew or take over; a lost lease stops the upstream at once. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    let result: { leader: boolean; epoch: number };
    try {
      result = await this.opts.lease.acquireOrRenew();
    } catch (err) {
      // Cannot reach Redis: a leader that cannot renew must assume it lost the lease.
      this.opts.events?.error?.('lease', err);
      if (this.leader) await this.stepDown('lease unreachable');
      return;
    }
    if (result.leader && (!this.leader || result.epoch !== this.epoch)) await this.becomeLeader(result.epoch);
    else if (!result.leader && this.leader) await this.stepDown('lease lost');
  }

  private async becomeLeader(epoch: number): Promise<void> {
    if (this.leader) await this.stepDown('new epoch');
    this.leader = true;
    this.epoch = epoch;
    this.upstreamFault = undefined;
    this.opts.events?.leadership?.(true, epoch);
    this.upstream = this.opts.createUpstream((ticks) => this.enqueue(ticks));
    this.stopDemand = await this.opts.demand.onChange(() => void this.refresh().catch((err) => this.opts.events?.error?.('demand', err)));
    await this.refresh();
    this.leaderTimers = [
      setInterval(() => void this.releaseDelayed(), this.timing.delayReleaseMs),
      setInterval(() => void this.refresh().catch((err) => this.opts.events?.error?.('refresh', err)), this.timing.refreshMs),
    ];
  }

  private leaderTimers: NodeJS.Timeout[] = [];

  private async stepDown(reason: string): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    for (const t of this.leaderTimers) clearInterval(t);
    this.leaderTimers = [];
    this.pending = [];
    const upstream = this.upstream;
    this.upstream = undefined;
    await this.stopDemand?.().catch(() => undefined);
    this.stopDemand = undefined;
    await upstream?.stop(reason).catch((err) => this.opts.events?.error?.('upstream stop', err));
    this.opts.events?.leadership?.(false, this.epoch);
  }

  /** Demand, rules and the kill switch: what the upstream should be doing right now. */
  private async refresh(): Promise<void> {
    if (!this.leader || !this.upstream) return;
    const [demand, killSwitch] = await Promise.all([this.opts.demand.union(), this.opts.status.killSwitchOn()]);
    try {
      const rules = await this.opts.rules.load();
      const bySymbol = new Map<string, string[]>();
      for (const [ruleId, symbols] of rules) for (const s of symbols) bySymbol.set(s, [...(bySymbol.get(s) ?? []), ruleId]);
      this.rulesBySymbol = bySymbol;
    } catch (err) {
      // The rule registry lives in PostgreSQL: an outage there must not stop market data; keep the last rules.
      this.opts.events?.error?.('rules', err);
    }
    const wanted = new Set([...demand, ...this.rulesBySymbol.keys()]);
    this.opts.events?.symbols?.(wanted.size);

    const disabled = this.opts.disabledByConfig || killSwitch;
    if (!this.upstream) return;
    if (disabled) {
      if (!this.killed) {
        this.killed = true;
        await this.upstream.stop('market data disabled');
        await this.setStatus({ state: 'degraded', reason: 'market_data_disabled', since: this.now() });
      }
      return;
    }
    if (this.killed) {
      this.killed = false;
      this.upstream = this.opts.createUpstream((ticks) => this.enqueue(ticks));
    }
    this.upstream.setSymbols(wanted);
    this.upstream.start();
    if ((this.statusState === undefined || this.statusState === 'degraded') && this.upstreamFault === undefined) {
      await this.setStatus({ state: this.upstreamIsDelayed ? 'delayed' : 'live', since: this.now() });
    }
  }

  /**
   * The upstream stopped serving (disconnected, backing off, refused, silent): every client is told the hub is
   * degraded, so a last price on screen is never taken for a live one while nothing arrives. The next `live` event
   * (`upstreamDelayed`) or the next tick clears it. Ignored while the kill switch holds the upstream down on purpose.
   */
  async upstreamFaulted(reason: UpstreamFault): Promise<void> {
    if (!this.leader || this.killed) return;
    if (this.upstreamFault === reason && this.statusState === 'degraded') return;
    this.upstreamFault = reason;
    await this.setStatus({ state: 'degraded', reason, since: this.now() });
  }

  private async upstreamRecovered(): Promise<void> {
    if (this.upstreamFault === undefined) return;
    this.upstreamFault = undefined;
    if (this.leader && !this.killed) {
      await this.setStatus({ state: this.upstreamIsDelayed ? 'delayed' : 'live', since: this.now() });
    }
  }

  /** Marks the hub delayed when the upstream fell back to delayed_sip (called by the composition's upstream events). */
  async upstreamDelayed(delayed: boolean): Promise<void> {
    this.upstreamIsDelayed = delayed;
    this.upstreamFault = undefined; // called on every `live`: the upstream serves again
    const state = delayed ? 'delayed' : 'live';
    if (this.leader && this.statusState !== state && !this.killed) {
      await this.setStatus({ state, ...(delayed ? { reason: 'entitlement_fallback' } : {}), since: this.now() });
    }
  }

  /** The `since` of a status change. */
  private now(): string {
    return new Date(this.opts.clock.now()).toISOString();
  }

  private async setStatus(status: HubStatus): Promise<void> {
    const epoch = this.epoch;
    this.statusState = status.state;
    if ((await this.opts.status.set(epoch, status)) === 'fenced') {
      // Not the leader any more (woken from a pause): the lease tick steps down; the banner stays the new leader's.
      this.opts.events?.fenced?.(epoch);
      return;
    }
    this.opts.events?.statusChanged?.(status);
  }

  private enqueue(ticks: FeedTick[]): void {
    if (!this.leader || this.killed) return;
    // Data again after a silent stall (which has no `live` event of its own).
    if (this.upstreamFault !== undefined) void this.upstreamRecovered().catch((err) => this.opts.events?.error?.('status', err));
    for (const t of ticks) this.pending.push(t);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /**
   * Publishes in arrival order with up to `maxInFlight` fenced batches pipelined on one Redis connection:
   * Redis runs them in the order sent, so seqs follow upstream order, while Node prepares the next batch
   * during Redis's turn. Ticks arriving meanwhile join the next batch.
   */
  private async drain(): Promise<void> {
    const inflight = new Set<Promise<void>>();
    while (this.leader) {
      if (this.pending.length > 0 && inflight.size < this.timing.maxInFlight) {
        const p: Promise<void> = this.publishBatch(this.epoch, this.pending.splice(0, this.timing.maxBatch)).finally(() => inflight.delete(p));
        inflight.add(p);
        continue;
      }
      if (inflight.size === 0) break;
      await Promise.race(inflight);
    }
    await Promise.all(inflight);
  }

  private async publishBatch(epoch: number, batch: FeedTick[]): Promise<void> {
    let outcome: 'ok' | 'fenced';
    try {
      outcome = await this.opts.sink.publish(epoch, batch);
    } catch (err) {
      this.opts.events?.error?.('publish', err);
      return;
    }
    if (outcome === 'fenced') {
      if (this.epoch === epoch) {
        this.opts.events?.fenced?.(epoch);
        await this.stepDown('fenced');
      }
      return;
    }
    this.opts.events?.published?.(batch.length);
    await this.enqueueBarJobs(batch);
  }

  private async enqueueBarJobs(batch: readonly FeedTick[]): Promise<void> {
    for (const tick of batch) {
      if (tick.kind !== 'b') continue;
      const rules = this.rulesBySymbol.get(tick.symbol);
      if (!rules?.length) continue;
      await this.opts.barJobs.enqueue(tick, rules).catch((err) => this.opts.events?.error?.('bar jobs', err));
    }
  }

  private async releaseDelayed(): Promise<void> {
    if (!this.leader) return;
    try {
      const result = await this.opts.delayLine.releaseDue(this.epoch);
      if (result === 'fenced') {
        this.opts.events?.fenced?.(this.epoch);
        await this.stepDown('fenced');
        return;
      }
      this.opts.events?.delayReleased?.(result.released, result.lagMs);
    } catch (err) {
      this.opts.events?.error?.('delay line', err);
    }
  }
}
