// The paper-profitable gate (used later by the live handoff): where a user stands over their settled cycles.
// Pure: the caller reads the cycles (settled_cycles) and the cycle start (paper_accounts.cycle_started_at).
import { cents, d, ZERO } from './money.js';

/** One settled trading day of the account, as stored in settled_cycles. */
export interface GateCycle {
  /** America/New_York trading day, YYYY-MM-DD. */
  tradingDay: string;
  /** Net P&L of the day, a decimal string (equity_close − equity_open − net deposits). */
  pnl: string;
  /** A fill during the day or an open position at its close. */
  hadActivity: boolean;
  /** When it was settled (ISO): only cycles settled at or after the cycle start count. */
  settledAt: string;
}

export interface GateInput {
  /** N (config MBT_GATE_CYCLES, default 20). */
  requiredCycles: number;
  /** Account opening or last reset (ISO). */
  cycleStartedAt: string;
  cycles: readonly GateCycle[];
}

export type GateRule = 'cycles' | 'pnl' | 'activity';

export interface GateShortfall {
  rule: GateRule;
  message: string;
}

export interface GateStatus {
  passes: boolean;
  requiredCycles: number;
  /** Cycles settled since the account started or was reset. */
  settledCycles: number;
  /** The last min(N, settled) cycles the P&L and activity rules look at, oldest first (trading days). */
  window: { from: string; to: string } | null;
  windowCycles: number;
  /** Net P&L of the window, rounded half-up to the cent. */
  pnl: string;
  activeCycles: number;
  /** At least half of N: ceil(N / 2). */
  requiredActiveCycles: number;
  /** One entry per rule not met yet (empty when `passes`). */
  missing: GateShortfall[];
}

/**
 * The gate passes when at least N cycles settled since the account started or was reset, the net P&L of the last N
 * is positive (> 0, so a flat run does not pass), and at least half of those N had activity.
 */
export function evaluateGate(input: GateInput): GateStatus {
  const n = input.requiredCycles;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`requiredCycles must be a positive integer, got ${n}`);
  const start = Date.parse(input.cycleStartedAt);
  if (Number.isNaN(start)) throw new RangeError('cycleStartedAt is not a valid time');
  const counted = input.cycles
    .filter((c) => Date.parse(c.settledAt) >= start)
    .slice()
    .sort((a, b) => (a.tradingDay < b.tradingDay ? -1 : a.tradingDay > b.tradingDay ? 1 : 0));
  const window = counted.slice(-n);
  const pnl = window.reduce((sum, c) => sum.plus(d(c.pnl)), ZERO);
  const active = window.filter((c) => c.hadActivity).length;
  const requiredActive = Math.ceil(n / 2);

  const missing: GateShortfall[] = [];
  if (counted.length < n) {
    const left = n - counted.length;
    missing.push({ rule: 'cycles', message: `${left} more settled cycle${left === 1 ? '' : 's'} needed (${counted.length} of ${n})` });
  }
  if (!pnl.gt(0)) missing.push({ rule: 'pnl', message: `net P&L over the last ${n} cycles must be positive (is ${cents(pnl)})` });
  if (active < requiredActive) {
    missing.push({ rule: 'activity', message: `at least ${requiredActive} of the last ${n} cycles need activity (have ${active})` });
  }
  return {
    passes: missing.length === 0,
    requiredCycles: n,
    settledCycles: counted.length,
    window: window.length > 0 ? { from: window[0]!.tradingDay, to: window[window.length - 1]!.tradingDay } : null,
    windowCycles: window.length,
    pnl: cents(pnl),
    activeCycles: active,
    requiredActiveCycles: requiredActive,
    missing,
  };
}

