// The synthetic market: a seeded random walk per symbol producing Alpaca-shaped quotes, trades, minute/updated/daily
// bars, halts/resumes and LULD bands. Output depends only on (options, the instants it is stepped to, control calls).
import type { MarketClock } from '../clock/types.js';
import type { Nanos, SimBar, SimLuld, SimMarket, SimMessage, SimQuote, SimStatus, SimTrade, SymbolInfo } from './types.js';
import { resolveMarketOptions, type MarketOptions } from './options.js';
import { FAKEPACA, buildUniverse } from './universe.js';
import { hashString, mulberry32, type Rng } from './prng.js';
import { historicalBarsFor, historicalPrice, nyDate, nyMidnightMs, roundPrice, symbolSeed } from './history.js';
import { NS_PER_MIN, NS_PER_MS } from './time.js';

// Quote venues (bx/ax) and trade venues (x) as Alpaca's SIP feed reports them, roughly weighted by activity.
const QUOTE_VENUES = ['V', 'P', 'K', 'Q', 'Z', 'N', 'J', 'Y', 'X', 'U', 'H', 'A', 'M', 'Q', 'P', 'Z', 'K'] as const;
const TRADE_VENUES = ['D', 'D', 'D', 'V', 'P', 'K', 'Q', 'Q', 'Z', 'N', 'J', 'Y', 'X', 'U', 'H'] as const;
const QUOTE_COND = Object.freeze(['R']) as string[];
const COND_REGULAR = Object.freeze(['@']) as string[];
const COND_ISO = Object.freeze(['@', 'F']) as string[];
const COND_ODD = Object.freeze(['@', 'I']) as string[];
const COND_ODD_ISO = Object.freeze(['@', 'F', 'I']) as string[];
const COND_LATE = Object.freeze(['@', 'Z']) as string[];
const QUOTE_SHARE = 0.75;

interface MinuteAgg { start: Nanos; o: number; h: number; l: number; c: number; v: number; n: number; pv: number }

interface SymState {
  info: SymbolInfo;
  sSeed: number;
  tape: string;
  mid: number;
  spreadCents: number;
  halted: boolean;
  /** Minute index at which a random halt ends (Infinity for a manual halt). */
  haltUntil: number;
  lastMoveMs: number;
  nextTradeId: number;
  quote: SimQuote | undefined;
  trade: SimTrade | undefined;
  minute: MinuteAgg | undefined;
  lastBar: SimBar | undefined;
  day: MinuteAgg | undefined;
  dayDate: string;
  prevDay: SimBar | undefined | null; // null: not computed yet
  lastDaily: SimBar | undefined;
}

/** Tape by listing exchange: A = NYSE, B = ARCA/AMEX/BATS and other regionals, C = NASDAQ. */
function tapeOf(exchange: string): string {
  return exchange === 'NYSE' ? 'A' : exchange === 'NASDAQ' ? 'C' : 'B';
}

export function createSyntheticMarket(clock: MarketClock, options: Partial<MarketOptions> = {}): SimMarket {
  const opts = resolveMarketOptions(options);
  const universe: SymbolInfo[] = opts.symbolList
    ? opts.symbolList.map((s) => (s === 'FAKEPACA' ? FAKEPACA : knownOrGenerated(opts.seed, s)))
    : buildUniverse(opts.seed, opts.symbols);
  const rng: Rng = mulberry32(opts.seed);
  const states: SymState[] = [];
  const bySymbol = new Map<string, SymState>();
  const listeners = new Set<(batch: readonly SimMessage[]) => void>();

  let lastNs: Nanos = BigInt(clock.now().getTime()) * NS_PER_MS;
  let curMinute = Number(lastNs / NS_PER_MIN);
  let nextMinuteNs = BigInt(curMinute + 1) * NS_PER_MIN;
  let carry = 0;
  let timer: NodeJS.Timeout | undefined;

  const startMs = Number(lastNs / NS_PER_MS);
  const startDate = nyDate(startMs);
  for (const [index, info] of universe.entries()) {
    const sSeed = symbolSeed(opts.seed, info.symbol);
    const mid = historicalPrice(sSeed, info.basePrice, startMs);
    const known = index < 80 && !opts.symbolList;
    const illiquid = known ? 1 : 1 + (sSeed % 4);
    const st: SymState = {
      info, sSeed, tape: tapeOf(info.exchange), mid,
      spreadCents: Math.min(40, Math.max(1, Math.round(mid * 0.0001 * illiquid * 100)) + (mid < 10 ? illiquid - 1 : 0)),
      halted: false, haltUntil: 0, lastMoveMs: startMs,
      nextTradeId: 1 + (sSeed % 100_000) * 1000,
      quote: undefined, trade: undefined, minute: undefined, lastBar: undefined, day: undefined,
      dayDate: startDate, prevDay: null, lastDaily: undefined,
    };
    st.quote = makeQuote(st, lastNs);
    const p = st.quote.bp;
    st.day = { start: BigInt(nyMidnightMs(startDate)) * NS_PER_MS, o: p, h: p, l: p, c: p, v: 0, n: 0, pv: 0 };
    states.push(st);
    bySymbol.set(info.symbol, st);
  }

  function makeQuote(st: SymState, t: Nanos): SimQuote {
    const spread = st.spreadCents / 100;
    const bp = roundPrice(Math.max(0.01, st.mid - spread / 2));
    const ap = roundPrice(bp + spread);
    return {
      T: 'q', S: st.info.symbol,
      bx: QUOTE_VENUES[rng.int(QUOTE_VENUES.length)] as string, bp, bs: (1 + rng.int(8)) * 100,
      ax: QUOTE_VENUES[rng.int(QUOTE_VENUES.length)] as string, ap, as: (1 + rng.int(8)) * 100,
      c: QUOTE_COND, z: st.tape, t,
    };
  }

  function pickSymbol(): SymState {
    // popularity skew: the first (well-known) names are the most active
    const u = rng.next();
    return states[Math.floor(states.length * u * u)] as SymState;
  }

  /** Geometric random walk scaled by the time since the symbol last moved (≈1 %/day, 2 % for names under $10). */
  function walk(st: SymState, t: Nanos): void {
    const tMs = Number(t / NS_PER_MS);
    const dtSec = Math.max(0.001, (tMs - st.lastMoveMs) / 1000);
    st.lastMoveMs = tMs;
    const sigma = (st.info.basePrice < 10 ? 0.00014 : 0.00007) * Math.sqrt(Math.min(dtSec, 600));
    let mid = st.mid * Math.exp(sigma * rng.normal());
    const lo = st.info.basePrice / 4;
    const hi = st.info.basePrice * 4;
    if (mid < lo) mid = lo;
    if (mid > hi) mid = hi;
    st.mid = mid;
  }

  function makeTrade(st: SymState, t: Nanos, late: boolean): SimTrade {
    const q = st.quote as SimQuote;
    const x = TRADE_VENUES[rng.int(TRADE_VENUES.length)] as string;
    const raw = q.bp + rng.next() * (q.ap - q.bp);
    // off-exchange (D) prints may carry sub-penny prices; lit venues print on the cent
    const p = x === 'D' ? Math.round(raw * 10_000) / 10_000 : roundPrice(raw);
    const odd = rng.next() < 0.4;
    const s = odd ? 1 + rng.int(99) : (1 + rng.int(5)) * 100;
    const iso = rng.next() < 0.1;
    const c = late ? COND_LATE : odd ? (iso ? COND_ODD_ISO : COND_ODD) : iso ? COND_ISO : COND_REGULAR;
    return { T: 't', S: st.info.symbol, i: st.nextTradeId++, x, p, s, c, z: st.tape, t };
  }

  function addToAgg(agg: MinuteAgg, p: number, s: number): void {
    if (agg.n === 0 && agg.v === 0) {
      agg.o = p; agg.h = p; agg.l = p;
    }
    if (p > agg.h) agg.h = p;
    if (p < agg.l) agg.l = p;
    agg.c = p;
    agg.v += s;
    agg.n += 1;
    agg.pv += p * s;
  }

  function barOf(T: SimBar['T'], S: string, a: MinuteAgg): SimBar {
    return { T, S, o: a.o, h: a.h, l: a.l, c: a.c, v: a.v, n: a.n, vw: a.v > 0 ? Math.round((a.pv / a.v) * 10_000) / 10_000 : a.c, t: a.start };
  }

  function recordTrade(st: SymState, tr: SimTrade, out: SimMessage[]): void {
    st.trade = tr;
    const minuteStart = BigInt(curMinute) * NS_PER_MIN;
    if (!st.minute || st.minute.start !== minuteStart) st.minute = { start: minuteStart, o: tr.p, h: tr.p, l: tr.p, c: tr.p, v: 0, n: 0, pv: 0 };
    addToAgg(st.minute, tr.p, tr.s);
    if (st.day) addToAgg(st.day, tr.p, tr.s);
    void out;
  }

  function lateTrade(st: SymState, t: Nanos, out: SimMessage[]): void {
    const bar = st.lastBar;
    if (!bar || bar.t !== BigInt(curMinute - 1) * NS_PER_MIN) return;
    const lateT = bar.t + BigInt(Math.floor(rng.next() * 59_000)) * NS_PER_MS + BigInt(rng.int(1_000_000));
    const tr = makeTrade(st, lateT < t ? lateT : t, true);
    out.push(tr);
    // an out-of-sequence print amends the high/low/volume of the bar it belongs to, not the last price
    const updated: SimBar = {
      T: 'u', S: bar.S, o: bar.o, h: Math.max(bar.h, tr.p), l: Math.min(bar.l, tr.p), c: bar.c,
      v: bar.v + tr.s, n: bar.n + 1, vw: Math.round(((bar.vw * bar.v + tr.p * tr.s) / (bar.v + tr.s)) * 10_000) / 10_000, t: bar.t,
    };
    st.lastBar = { ...updated, T: 'b' };
    if (st.day) { st.day.v += tr.s; st.day.n += 1; st.day.pv += tr.p * tr.s; }
    out.push(updated);
  }

  function statusMsg(st: SymState, halt: boolean, reason: 'news' | 'volatility', t: Nanos): SimStatus {
    if (halt) {
      return reason === 'volatility'
        ? { T: 's', S: st.info.symbol, sc: 'P', sm: 'Volatility Trading Pause', rc: 'LUDP', rm: 'Volatility Trading Pause', z: st.tape, t }
        : { T: 's', S: st.info.symbol, sc: 'H', sm: 'Trading Halt', rc: 'T1', rm: 'Halt News Pending', z: st.tape, t };
    }
    return { T: 's', S: st.info.symbol, sc: 'T', sm: 'Trading Resumption', rc: 'T3', rm: 'News and Resumption Times', z: st.tape, t };
  }

  function luldMsg(st: SymState, t: Nanos): SimLuld {
    const pct = st.mid >= 3 ? 0.05 : 0.2;
    return { T: 'l', S: st.info.symbol, u: roundPrice(st.mid * (1 + pct)), d: roundPrice(Math.max(0.01, st.mid * (1 - pct))), i: 'B', z: st.tape, t };
  }

  /** Closes minute `curMinute` (bars, daily bars), rolls the day, draws halts/resumes, publishes LULD bands. */
  function rollMinute(newMinute: number, out: SimMessage[]): void {
    const boundary = BigInt(newMinute) * NS_PER_MIN;
    const closing = BigInt(curMinute) * NS_PER_MIN;
    const newDate = nyDate(newMinute * 60_000);
    for (const st of states) {
      if (st.minute && st.minute.start === closing && st.minute.n > 0) {
        const bar = barOf('b', st.info.symbol, st.minute);
        st.lastBar = bar;
        out.push(bar);
        if (st.day) {
          st.lastDaily = barOf('d', st.info.symbol, st.day);
          out.push(st.lastDaily);
        }
      }
      if (newDate !== st.dayDate) {
        if (st.day && st.day.n > 0) st.prevDay = barOf('b', st.info.symbol, st.day);
        st.dayDate = newDate;
        const p = st.quote ? st.quote.bp : st.mid;
        st.day = { start: BigInt(nyMidnightMs(newDate)) * NS_PER_MS, o: p, h: p, l: p, c: p, v: 0, n: 0, pv: 0 };
        st.lastDaily = undefined;
      }
      if (st.halted) {
        if (st.haltUntil <= newMinute) {
          st.halted = false;
          out.push(statusMsg(st, false, 'news', boundary));
          out.push(luldMsg(st, boundary));
        }
      } else if (opts.haltProbability > 0 && rng.next() < opts.haltProbability) {
        st.halted = true;
        st.haltUntil = newMinute + opts.haltMinutes;
        out.push(statusMsg(st, true, rng.next() < 0.5 ? 'news' : 'volatility', boundary));
      } else if (newMinute % 5 === 0) {
        out.push(luldMsg(st, boundary));
      }
    }
    curMinute = newMinute;
    nextMinuteNs = BigInt(newMinute + 1) * NS_PER_MIN;
  }

  function emit(batch: readonly SimMessage[]): void {
    if (batch.length === 0) return;
    for (const l of listeners) l(batch);
  }

  function step(to: Date | number): readonly SimMessage[] {
    const toMs = typeof to === 'number' ? to : to.getTime();
    const toNs = BigInt(Math.floor(toMs)) * NS_PER_MS;
    if (toNs <= lastNs) return [];
    const out: SimMessage[] = [];
    const dtNs = Number(toNs - lastNs);
    const open = !opts.sessionOnly || clock.isOpen(new Date(toMs));
    let n = 0;
    if (open) {
      carry += (opts.ratePerSecond * dtNs) / 1e9;
      n = Math.floor(carry);
      carry -= n;
      const cap = Math.max(1000, Math.ceil(opts.ratePerSecond)); // fall behind by more than 1 s ⇒ skip, not burst
      if (n > cap) n = cap;
    }
    for (let k = 0; k < n; k++) {
      const t = lastNs + BigInt(Math.floor((dtNs * (k + 1)) / n));
      if (t >= nextMinuteNs) rollMinute(Number(t / NS_PER_MIN), out);
      let st = pickSymbol();
      if (st.halted) st = pickSymbol();
      if (st.halted) continue;
      walk(st, t);
      if (rng.next() < QUOTE_SHARE) {
        const q = makeQuote(st, t);
        st.quote = q;
        out.push(q);
      } else if (opts.lateTradeProbability > 0 && rng.next() < opts.lateTradeProbability) {
        lateTrade(st, t, out);
      } else {
        const tr = makeTrade(st, t, false);
        recordTrade(st, tr, out);
        out.push(tr);
      }
    }
    if (toNs >= nextMinuteNs) rollMinute(Number(toNs / NS_PER_MIN), out);
    lastNs = toNs;
    emit(out);
    return out;
  }

  function controlInstant(): Nanos {
    const now = BigInt(clock.now().getTime()) * NS_PER_MS;
    return now > lastNs ? now : lastNs;
  }

  const market: SimMarket = {
    symbols: () => universe,
    hasSymbol: (s) => bySymbol.has(s),
    latestQuote: (s) => bySymbol.get(s)?.quote,
    latestTrade: (s) => bySymbol.get(s)?.trade,
    latestMinuteBar: (s) => bySymbol.get(s)?.lastBar,
    dailyBar: (s) => {
      const st = bySymbol.get(s);
      return st?.day ? barOf('d', s, st.day) : undefined;
    },
    prevDailyBar: (s) => {
      const st = bySymbol.get(s);
      if (!st) return undefined;
      if (st.prevDay === null) {
        const dayStart = BigInt(nyMidnightMs(st.dayDate)) * NS_PER_MS;
        const bars = historicalBarsFor(clock, opts.seed, s, st.info.basePrice, '1Day', dayStart - 10n * 1440n * NS_PER_MIN, dayStart - 1n, 10);
        st.prevDay = bars[bars.length - 1];
      }
      return st.prevDay ?? undefined;
    },
    isHalted: (s) => bySymbol.get(s)?.halted ?? false,
    historicalBars: (s, timeframe, start, end, limit) => {
      const st = bySymbol.get(s);
      return st ? historicalBarsFor(clock, opts.seed, s, st.info.basePrice, timeframe, start, end, limit) : [];
    },
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start: () => {
      if (timer) return;
      timer = setInterval(() => step(clock.now()), opts.batchMs);
    },
    stop: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    step,
    halt: (s, reason = 'news') => {
      const st = bySymbol.get(s);
      if (!st || st.halted) return false;
      st.halted = true;
      st.haltUntil = Number.POSITIVE_INFINITY;
      emit([statusMsg(st, true, reason, controlInstant())]);
      return true;
    },
    resume: (s) => {
      const st = bySymbol.get(s);
      if (!st || !st.halted) return false;
      st.halted = false;
      const t = controlInstant();
      emit([statusMsg(st, false, 'news', t), luldMsg(st, t)]);
      return true;
    },
  };
  return market;
}

/** A symbol outside the universe (explicit lists): a plausible price level derived from its name. */
function knownOrGenerated(seed: number, symbol: string): SymbolInfo {
  const known = buildUniverse(seed, 80).find((s) => s.symbol === symbol);
  if (known) return known;
  const h = hashString(symbol, seed >>> 0);
  const basePrice = Math.round(Math.exp(Math.log(2) + (h / 4294967296) * (Math.log(900) - Math.log(2))) * 100) / 100;
  return { symbol, name: `${symbol} Inc.`, exchange: 'NASDAQ', basePrice, fractionable: basePrice >= 5 };
}
