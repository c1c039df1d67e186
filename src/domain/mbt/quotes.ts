// Quote validity (rule 8) and the numbers the matcher reads from a quote: prices, sizes in shares, mid.
import { d, str, type Dec } from './money.js';
import type { ValidQuote } from './state.js';

/** Alpaca quote sizes are round lots. */
export const SHARES_PER_LOT = 100;

export type QuoteFault = 'crossed' | 'locked' | 'one_sided';

interface RawQuote {
  seq: number;
  ts: number;
  bp: number | string;
  bs: number;
  ap: number | string;
  as: number;
  feed: string;
}

/** Normalises a raw quote, or says why it must be ignored for fills, triggers and marks. */
export function classifyQuote(q: RawQuote): { ok: true; quote: ValidQuote } | { ok: false; fault: QuoteFault } {
  const bp = d(q.bp);
  const ap = d(q.ap);
  if (!bp.gt(0) || !ap.gt(0) || !(q.bs > 0) || !(q.as > 0)) return { ok: false, fault: 'one_sided' };
  if (bp.gt(ap)) return { ok: false, fault: 'crossed' };
  if (bp.eq(ap)) return { ok: false, fault: 'locked' };
  return {
    ok: true,
    quote: {
      seq: q.seq,
      ts: q.ts,
      bp: str(bp),
      ap: str(ap),
      bs: str(d(q.bs).mul(SHARES_PER_LOT)),
      as: str(d(q.as).mul(SHARES_PER_LOT)),
      feed: q.feed,
    },
  };
}

export function mid(q: ValidQuote): Dec {
  return d(q.bp).add(d(q.ap)).div(2);
}
