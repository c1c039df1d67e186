// Replay: a recorded JSON Lines file of Alpaca stream messages emitted at the recorded pace (or a speed factor).
import { readFileSync } from 'node:fs';
import type { MarketClock } from '../clock/types.js';
import type { Nanos, SimBar, SimMarket, SimMessage, SimQuote, SimStatus, SimTrade, SymbolInfo } from './types.js';
import { resolveMarketOptions, type MarketOptions } from './options.js';
import { historicalBarsFor } from './history.js';
import { NS_PER_MS, parseRfc3339Nanos } from './time.js';

const TYPES = new Set(['q', 't', 'b', 'u', 'd', 's', 'l']);

export class ReplayFormatError extends Error {}

/** Parses one recorded line into a message with `T` first and `t` as bigint nanoseconds. */
export function parseReplayLine(line: string, lineNo = 0): SimMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ReplayFormatError(`line ${lineNo}: not JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ReplayFormatError(`line ${lineNo}: not an object`);
  const { T, S, t, ...rest } = raw as Record<string, unknown>;
  if (typeof T !== 'string' || !TYPES.has(T)) throw new ReplayFormatError(`line ${lineNo}: unknown or missing T`);
  if (typeof S !== 'string' || S === '') throw new ReplayFormatError(`line ${lineNo}: missing S`);
  const ns = typeof t === 'string' ? parseRfc3339Nanos(t) : undefined;
  if (ns === undefined) throw new ReplayFormatError(`line ${lineNo}: t must be RFC 3339 (e.g. 2026-03-02T14:30:00.123456789Z)`);
  return { T, S, ...rest, t: ns } as unknown as SimMessage;
}

export function loadReplayFile(path: string): SimMessage[] {
  const out: SimMessage[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(parseReplayLine(line, i + 1));
  }
  out.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  if (out.length === 0) throw new ReplayFormatError(`${path}: no messages`);
  return out;
}

export function createReplayMarket(clock: MarketClock, options: Partial<MarketOptions> & { messages?: SimMessage[] } = {}): SimMarket {
  const opts = resolveMarketOptions(options);
  const recorded = options.messages ?? (opts.replayFile ? loadReplayFile(opts.replayFile) : []);
  if (recorded.length === 0) throw new ReplayFormatError('replay needs replayFile or messages');
  const first = (recorded[0] as SimMessage).t;
  const span = (recorded[recorded.length - 1] as SimMessage).t - first + 1n;

  const infos = new Map<string, SymbolInfo>();
  const quotes = new Map<string, SimQuote>();
  const trades = new Map<string, SimTrade>();
  const bars = new Map<string, SimBar>();
  const daily = new Map<string, SimBar>();
  const halted = new Set<string>();
  for (const m of recorded) {
    if (infos.has(m.S)) continue;
    const price = m.T === 'q' ? m.bp : m.T === 't' ? m.p : m.T === 'l' ? (m.u + m.d) / 2 : m.T === 's' ? 10 : m.c;
    const z = 'z' in m ? m.z : 'C';
    infos.set(m.S, { symbol: m.S, name: m.S, exchange: z === 'A' ? 'NYSE' : z === 'B' ? 'ARCA' : 'NASDAQ', basePrice: price, fractionable: true });
  }
  const symbols = [...infos.values()];
  const listeners = new Set<(batch: readonly SimMessage[]) => void>();
  const originNs: Nanos = BigInt(clock.now().getTime()) * NS_PER_MS;
  let lastNs = originNs;
  let cursor = 0;
  let loop = 0;
  let timer: NodeJS.Timeout | undefined;

  function track(m: SimMessage): void {
    if (m.T === 'q') quotes.set(m.S, m);
    else if (m.T === 't') trades.set(m.S, m);
    else if (m.T === 'b' || m.T === 'u') bars.set(m.S, { ...m, T: 'b' });
    else if (m.T === 'd') daily.set(m.S, m);
    else if (m.T === 's') {
      if (m.sc === 'H' || m.sc === 'P' || m.sc === '2') halted.add(m.S);
      else halted.delete(m.S);
    }
  }

  function emit(batch: readonly SimMessage[]): void {
    if (batch.length === 0) return;
    for (const m of batch) track(m);
    for (const l of listeners) l(batch);
  }

  function step(to: Date | number): readonly SimMessage[] {
    const toMs = typeof to === 'number' ? to : to.getTime();
    const toNs = BigInt(Math.floor(toMs)) * NS_PER_MS;
    if (toNs <= lastNs) return [];
    lastNs = toNs;
    const out: SimMessage[] = [];
    const elapsed = toNs - originNs;
    const speed = opts.replaySpeed;
    for (;;) {
      if (cursor >= recorded.length) {
        if (!opts.replayLoop) break;
        cursor = 0;
        loop += 1;
      }
      const m = recorded[cursor] as SimMessage;
      const offset = m.t - first + BigInt(loop) * span; // recorded offset
      if (speed === 0) {
        if (out.length >= 5000) break;
      } else {
        const due = speed === 1 ? offset : BigInt(Math.floor(Number(offset) / speed));
        if (due > elapsed) break;
      }
      cursor += 1;
      const t = opts.replayRestamp
        ? originNs + (speed === 0 || speed === 1 ? offset : BigInt(Math.floor(Number(offset) / speed)))
        : m.t;
      out.push({ ...m, t } as SimMessage);
    }
    emit(out);
    return out;
  }

  const statusOf = (S: string, halt: boolean): SimStatus => {
    const t = BigInt(clock.now().getTime()) * NS_PER_MS;
    const z = infos.get(S)?.exchange === 'NYSE' ? 'A' : 'C';
    return halt
      ? { T: 's', S, sc: 'H', sm: 'Trading Halt', rc: 'T1', rm: 'Halt News Pending', z, t: t > lastNs ? t : lastNs }
      : { T: 's', S, sc: 'T', sm: 'Trading Resumption', rc: 'T3', rm: 'News and Resumption Times', z, t: t > lastNs ? t : lastNs };
  };

  return {
    symbols: () => symbols,
    hasSymbol: (s) => infos.has(s),
    latestQuote: (s) => quotes.get(s),
    latestTrade: (s) => trades.get(s),
    latestMinuteBar: (s) => bars.get(s),
    dailyBar: (s) => daily.get(s),
    prevDailyBar: () => undefined,
    isHalted: (s) => halted.has(s),
    historicalBars: (s, timeframe, start, end, limit) => {
      const info = infos.get(s);
      return info ? historicalBarsFor(clock, opts.seed, s, info.basePrice, timeframe, start, end, limit) : [];
    },
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start: () => {
      if (!timer) timer = setInterval(() => step(clock.now()), opts.batchMs);
    },
    stop: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    step,
    halt: (s) => {
      if (!infos.has(s) || halted.has(s)) return false;
      emit([statusOf(s, true)]);
      return true;
    },
    resume: (s) => {
      if (!halted.has(s)) return false;
      emit([statusOf(s, false)]);
      return true;
    },
  };
}
