// Conflates the delay line's input: at most one entry per (kind, symbol) per second, the latest one.
import type { TickKind } from '../../contracts/market-data.js';

/** A tick that has been published (so its seq is known) and is due to enter the delay line. */
export interface DelayEntry {
  kind: TickKind;
  symbol: string;
  /** Frame JSON without its closing brace, as given to publishTicks. */
  body: string;
  /** The seq the real-time line assigned; the delayed frame carries it unchanged. */
  seq: number;
}

export interface DelayConflatorOptions {
  /** Kinds that go through the delay line (default quotes and trades). */
  kinds?: readonly TickKind[];
  /** Conflation window (default 1000 ms: one entry per kind and symbol per second). */
  windowMs?: number;
}

/**
 * Keeps the latest entry per (kind, symbol) within the current window; when the window rolls over (on the next
 * offer or drain) the window's entries become ready and `drain()` hands them over. Memory: at most
 * symbols × kinds entries per window (the current one plus any not yet drained).
 */
export class DelayConflator {
  private readonly kinds: ReadonlySet<TickKind>;
  private readonly windowMs: number;
  private current = new Map<string, DelayEntry>();
  private currentWindow = -1;
  private ready: DelayEntry[] = [];

  constructor(opts: DelayConflatorOptions = {}) {
    this.kinds = new Set(opts.kinds ?? ['q', 't']);
    this.windowMs = opts.windowMs ?? 1000;
  }

  accepts(kind: TickKind): boolean {
    return this.kinds.has(kind);
  }

  offer(entry: DelayEntry, nowMs: number): void {
    if (!this.kinds.has(entry.kind)) return;
    this.roll(nowMs);
    this.current.set(`${entry.kind}:${entry.symbol}`, entry);
  }

  /** Entries of every completed window, oldest window first; the current window stays. */
  drain(nowMs: number): DelayEntry[] {
    this.roll(nowMs);
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** Drops everything (the lease was lost: a new leader conflates its own ticks). */
  clear(): void {
    this.current.clear();
    this.ready = [];
    this.currentWindow = -1;
  }

  /** Entries held (current window + ready). */
  get size(): number {
    return this.current.size + this.ready.length;
  }

  private roll(nowMs: number): void {
    const window = Math.floor(nowMs / this.windowMs);
    if (window === this.currentWindow) return;
    if (this.current.size > 0) {
      for (const entry of this.current.values()) this.ready.push(entry);
      this.current = new Map();
    }
    this.currentWindow = window;
  }
}
