// The feed's hot path: fenced batch publish of ticks (real-time line, LKG, replay window) and the delay-line input.
import type { Redis } from 'ioredis';
import { marketDataKeys, tickKinds, type TickKind } from '../../contracts/market-data.js';
import { DelayConflator, type DelayEntry } from './delay-conflator.js';
import { LuaScript, type LuaArg } from './lua.js';
import { publishTicksLua } from './scripts/publish-ticks.lua.js';

const publishScript = new LuaScript('publish-ticks', publishTicksLua);

/** Default replay window: every tick of at least the last 130 s stays in `{md}:rw:<kind>:<symbol>`. */
export const DEFAULT_REPLAY_WINDOW_MS = 130_000;
/** Largest batch one script call accepts (Lua's unpack limit leaves ample room above this). */
export const MAX_TICKS_PER_CALL = 2000;

export interface TickInput {
  kind: TickKind;
  symbol: string;
  /** The tick serialised as JSON WITHOUT its closing brace, e.g. `{"T":"q","S":"AAPL","bp":1.5,…,"t":"…Z"`. */
  body: string;
}

/** rt: real-time upstream. fallback: the upstream itself is delayed (entitlement fallback to delayed SIP). */
export type PublishMode = 'rt' | 'fallback';

export interface PublishOptions {
  /** Default 'rt'. */
  mode?: PublishMode;
  /** Default DEFAULT_REPLAY_WINDOW_MS. */
  replayWindowMs?: number;
  /** Replay-stream trimming: '~' approximate (default, cheap: whole stream nodes) or '=' exact. */
  trim?: '~' | '=';
}

export type PublishResult = { ok: true; seqs: number[] } | { ok: false; reason: 'fenced' };

const kindSet: ReadonlySet<string> = new Set(tickKinds);
const symbolPattern = /^[A-Z][A-Z0-9.]{0,9}$/;

function checkTick(kind: string, symbol: string, body: string): void {
  if (!kindSet.has(kind)) throw new Error(`unknown tick kind ${JSON.stringify(kind)}`);
  if (!symbolPattern.test(symbol)) throw new Error(`invalid symbol ${JSON.stringify(symbol)}`);
  if (body.charCodeAt(0) !== 123 || body.charCodeAt(body.length - 1) === 125) {
    throw new Error(`tick body must be a JSON object without its closing brace (${kind}:${symbol})`);
  }
}

/**
 * Low level: ONE fenced script call publishing `ticks` and appending `delayEntries` to `{md}:delay`. If the lease
 * does not hold exactly `epoch`, nothing is published, no seq is assigned and nothing is appended.
 */
export async function publishTicks(
  redis: Redis,
  epoch: number,
  ticks: readonly TickInput[],
  delayEntries: readonly DelayEntry[] = [],
  opts: PublishOptions = {},
): Promise<PublishResult> {
  if (ticks.length > MAX_TICKS_PER_CALL || delayEntries.length > MAX_TICKS_PER_CALL) {
    throw new Error(`at most ${MAX_TICKS_PER_CALL} ticks and delay entries per call`);
  }
  const mode = opts.mode ?? 'rt';
  const window = opts.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS;
  if (!Number.isInteger(window) || window <= 0) throw new Error(`replayWindowMs must be a positive integer, got ${window}`);
  const keys: string[] = new Array<string>(5 + ticks.length);
  keys[0] = marketDataKeys.lease;
  keys[1] = marketDataKeys.seq;
  keys[2] = marketDataKeys.lkg;
  keys[3] = marketDataKeys.lkgDelayed;
  keys[4] = marketDataKeys.delay;
  const args: LuaArg[] = [epoch, mode === 'fallback' ? 'fb' : 'rt', window, opts.trim ?? '~', ticks.length, delayEntries.length];
  for (let i = 0; i < ticks.length; i++) {
    const t = ticks[i]!;
    checkTick(t.kind, t.symbol, t.body);
    keys[5 + i] = marketDataKeys.replay(t.kind, t.symbol);
    args.push(t.kind, t.symbol, t.body);
  }
  for (const e of delayEntries) {
    checkTick(e.kind, e.symbol, e.body);
    args.push(e.kind, e.symbol, e.seq, e.body);
  }
  const reply = (await publishScript.run(redis, keys, args)) as number[];
  if (reply[0] !== 1) return { ok: false, reason: 'fenced' };
  return { ok: true, seqs: reply.slice(1) };
}

export interface TickPublisherOptions {
  /** Default 'rt'; change with setMode(). */
  mode?: PublishMode;
  replayWindowMs?: number;
  trim?: '~' | '=';
  /** Kinds that enter the delay line (default ['q', 't']). */
  delayKinds?: readonly TickKind[];
  /** Conflation window of the delay line (default 1000 ms). */
  conflateMs?: number;
  /** Clock for conflation (default Date.now). */
  now?: () => number;
}

/**
 * Publishes batches and feeds the delay line: after each successful call the published q/t ticks go to a
 * DelayConflator; entries of completed seconds ride along with the next call (or with flushDelay()).
 * Fenced → the conflator is cleared (a former leader's entries never reach the delay line).
 */
export class TickPublisher {
  private mode: PublishMode;
  private readonly opts: PublishOptions;
  private readonly conflator: DelayConflator;
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis,
    opts: TickPublisherOptions = {},
  ) {
    this.mode = opts.mode ?? 'rt';
    this.opts = { replayWindowMs: opts.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS, trim: opts.trim ?? '~' };
    this.conflator = new DelayConflator({ kinds: opts.delayKinds ?? ['q', 't'], windowMs: opts.conflateMs ?? 1000 });
    this.now = opts.now ?? Date.now;
  }

  /** Switches between the real-time upstream and the entitlement fallback (delayed upstream). */
  setMode(mode: PublishMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    // Fallback frames go straight to the delay line; conflated real-time entries would arrive out of order.
    this.conflator.clear();
  }

  get currentMode(): PublishMode {
    return this.mode;
  }

  /** Delay entries held in memory (current second + ready, not yet appended). */
  get pendingDelayEntries(): number {
    return this.conflator.size;
  }

  async publishTicks(epoch: number, ticks: readonly TickInput[]): Promise<PublishResult> {
    const mode = this.mode;
    const ready = mode === 'rt' ? this.conflator.drain(this.now()) : [];
    const result = await this.send(epoch, ticks, ready, mode);
    if (result.ok && mode === 'rt' && this.mode === 'rt') {
      const now = this.now();
      for (let i = 0; i < ticks.length; i++) {
        const t = ticks[i]!;
        if (this.conflator.accepts(t.kind)) this.conflator.offer({ kind: t.kind, symbol: t.symbol, body: t.body, seq: result.seqs[i]! }, now);
      }
    }
    return result;
  }

  /** Appends the entries of completed seconds without publishing ticks (call it on a timer when the feed is quiet). */
  async flushDelay(epoch: number): Promise<PublishResult> {
    if (this.mode !== 'rt') return { ok: true, seqs: [] };
    const ready = this.conflator.drain(this.now());
    if (ready.length === 0) return { ok: true, seqs: [] };
    return this.send(epoch, [], ready, 'rt');
  }

  private async send(epoch: number, ticks: readonly TickInput[], ready: DelayEntry[], mode: PublishMode): Promise<PublishResult> {
    let result: PublishResult = { ok: true, seqs: [] };
    // Delay entries beyond one call's limit go in ride-along calls first (only after a very long pause).
    while (ready.length > MAX_TICKS_PER_CALL) {
      result = await publishTicks(this.redis, epoch, [], ready.splice(0, MAX_TICKS_PER_CALL), { ...this.opts, mode });
      if (!result.ok) break;
    }
    if (result.ok) result = await publishTicks(this.redis, epoch, ticks, ready, { ...this.opts, mode });
    if (!result.ok) this.conflator.clear();
    return result;
  }
}
