// Bar-close jobs: one BullMQ job per (rule, symbol, bar) when a minute bar closes, de-duplicated by job id.
import type { Queue } from 'bullmq';
import { isValidRuleId } from './rules.js';

/** The queue's name (workers consume it). */
export const BAR_CLOSE_QUEUE = 'md-bar-close';
/** Every job's name. */
export const BAR_CLOSE_JOB_NAME = 'bar-close';
/** Completed jobs are kept this long so a second leader's (or a replayed) enqueue of the same bar is dropped. */
export const BAR_CLOSE_DEDUPE_AGE_S = 86_400;

export interface ClosedBar {
  symbol: string;
  /** Bar start, RFC 3339 (Alpaca's `t`). */
  t: string;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
  /** Trade count, when upstream sent it. */
  n?: number;
  /** Volume-weighted average price, when upstream sent it. */
  vw?: number;
}

/** Job data of a `bar-close` job on `md-bar-close`. */
export interface BarCloseJobData {
  ruleId: string;
  symbol: string;
  bar: { t: string; o: number; h: number; l: number; c: number; v: number; n: number | null; vw: number | null };
  /** RFC 3339, when the feed enqueued it. */
  enqueuedAt: string;
}

export interface BarRule {
  id: string;
  symbols: readonly string[];
}

/** RFC 3339 (any number of fraction digits) → epoch ms; throws on anything else. */
export function barTimeMs(t: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(t);
  const ms = m ? Date.parse(`${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}${m[3]}`) : NaN;
  if (!Number.isFinite(ms)) throw new Error(`bar time is not RFC 3339: ${JSON.stringify(t)}`);
  return ms;
}

/** `bar|<rule>|<symbol>|<bar start epoch ms>`: no `:` and never integer-like, as BullMQ requires. */
export function barCloseJobId(ruleId: string, symbol: string, barStartMs: number): string {
  return `bar|${ruleId}|${symbol}|${barStartMs}`;
}

export class BarCloseJobs {
  constructor(
    private readonly queue: Queue,
    private readonly now: () => number = Date.now,
  ) {
    if (queue.name !== BAR_CLOSE_QUEUE) throw new Error(`bar-close jobs go to the ${BAR_CLOSE_QUEUE} queue, not ${queue.name}`);
  }

  /**
   * Adds one job per rule subscribed to `bar.symbol`. The job id is derived from (rule, symbol, bar time), so the
   * same bar enqueued again (by a second leader, after a reconnect) adds nothing while the first job is kept.
   * Returns the job ids (existing ones included).
   */
  async enqueue(bar: ClosedBar, rules: readonly BarRule[]): Promise<string[]> {
    const matching = rules.filter((r) => r.symbols.includes(bar.symbol));
    if (matching.length === 0) return [];
    const startMs = barTimeMs(bar.t);
    const enqueuedAt = new Date(this.now()).toISOString();
    const jobs = matching.map((rule) => {
      if (!isValidRuleId(rule.id)) throw new Error(`invalid rule id ${JSON.stringify(rule.id)}`);
      const data: BarCloseJobData = {
        ruleId: rule.id,
        symbol: bar.symbol,
        bar: { t: bar.t, o: bar.o, h: bar.h, l: bar.l, c: bar.c, v: bar.v, n: bar.n ?? null, vw: bar.vw ?? null },
        enqueuedAt,
      };
      return {
        name: BAR_CLOSE_JOB_NAME,
        data,
        opts: {
          jobId: barCloseJobId(rule.id, bar.symbol, startMs),
          removeOnComplete: { age: BAR_CLOSE_DEDUPE_AGE_S },
          removeOnFail: { age: 7 * BAR_CLOSE_DEDUPE_AGE_S },
          attempts: 3,
          backoff: { type: 'exponential', delay: 1000 },
        },
      };
    });
    const added = await this.queue.addBulk(jobs);
    return added.map((j) => j.id!);
  }
}
