// Engine settings: the recommended defaults of the MBT semantics, each a documented switch.
import { d, roundCents, str, type Dec } from './money.js';
import type { Side } from './state.js';

export interface FeeInput {
  symbol: string;
  side: Side;
  qty: string;
  price: string;
  /** ISO time of the fill (for effective-dated schedules). */
  timestamp: string;
}

/** Fee of one fill as a non-negative decimal string; the engine rounds it half-up to the cent. */
export type FeeFunction = (fill: FeeInput) => string;

export interface MbtConfig {
  /** Cap each fill at the quote's displayed size (lots × 100), consumed once per quote in acceptance order. */
  depth: boolean;
  /** Marks older than this at the close are flagged `stale_mark` (ms). */
  markMaxAgeMs: number;
  /** Reject an order when the symbol has an open opposite-side order. */
  washTradeGuard: boolean;
  /** Margin accounts: buying-power multiplier, and the equity below which it falls to 1× and shorting stops. */
  marginMultiplier: number;
  marginMinEquity: string;
  /** Alpaca's random partial fills, seeded (default off). */
  randomPartials: { seed: number; probability: number } | null;
  fees: FeeFunction;
  /** Legacy pattern-day-trader checks: accepted for compatibility, not applied (FINRA retired the rule). */
  pdtLegacy: boolean;
}

export const zeroFees: FeeFunction = () => '0';

/** A simple schedule: per share plus basis points of the fill's value, optionally on sells only (like SEC/TAF). */
export function linearFees(schedule: { perShare?: string; bps?: string; sellOnly?: boolean }): FeeFunction {
  const perShare = d(schedule.perShare ?? '0');
  const bps = d(schedule.bps ?? '0');
  return (fill) => {
    if (schedule.sellOnly && fill.side !== 'sell') return '0';
    const qty = d(fill.qty);
    const fee: Dec = perShare.mul(qty).add(bps.mul(qty).mul(d(fill.price)).div(10_000));
    return str(roundCents(fee));
  };
}

export const defaultMbtConfig: MbtConfig = {
  depth: true,
  markMaxAgeMs: 60_000,
  washTradeGuard: true,
  marginMultiplier: 2,
  marginMinEquity: '2000',
  randomPartials: null,
  fees: zeroFees,
  pdtLegacy: false,
};
