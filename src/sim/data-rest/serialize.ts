// Alpaca market-data REST shapes for quotes, trades and bars (JSON numbers for prices, RFC 3339 times).
import type { Nanos, SimBar, SimQuote, SimTrade } from '../market/types.js';
import { formatRfc3339Nanos, NS_PER_MS, NS_PER_SEC, parseRfc3339Nanos } from '../market/time.js';

/** Whole-second instants print without a fraction, as Alpaca's bar timestamps do. */
function formatBarTime(ns: Nanos): string {
  return ns % NS_PER_SEC === 0n ? `${new Date(Number(ns / NS_PER_MS)).toISOString().slice(0, 19)}Z` : formatRfc3339Nanos(ns);
}

export const restQuote = (q: SimQuote) => ({ t: formatRfc3339Nanos(q.t), ax: q.ax, ap: q.ap, as: q.as, bx: q.bx, bp: q.bp, bs: q.bs, c: q.c, z: q.z });
export const restTrade = (t: SimTrade) => ({ t: formatRfc3339Nanos(t.t), x: t.x, p: t.p, s: t.s, c: t.c, i: t.i, z: t.z });
export const restBar = (b: SimBar) => ({ t: formatBarTime(b.t), o: b.o, h: b.h, l: b.l, c: b.c, v: b.v, n: b.n, vw: b.vw });

/** `start`/`end` query values: RFC 3339 (any precision/offset) or YYYY-MM-DD (inclusive: `end` means the day's last instant). */
export function parseQueryInstant(text: string, endOfDay = false): Nanos | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const ms = Date.parse(`${text}T00:00:00Z`);
    if (Number.isNaN(ms)) return undefined;
    return BigInt(ms + (endOfDay ? 86_400_000 - 1 : 0)) * NS_PER_MS;
  }
  return parseRfc3339Nanos(text);
}
