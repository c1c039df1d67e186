// The paper-profitable gate, table-driven: cycle count, P&L sign, activity share, and what counts since a reset.
import { describe, expect, it } from 'vitest';
import { mbt } from '../../../src/domain/index.js';

const START = '2026-01-02T00:00:00.000Z';

/** `n` cycles on consecutive days from 2026-01-05, settled after START, with the given pnl and activity. */
function cycles(n: number, pnl: string | ((i: number) => string), active: boolean | ((i: number) => boolean)): mbt.GateCycle[] {
  return Array.from({ length: n }, (_, i) => {
    const day = new Date(Date.UTC(2026, 0, 5 + i)).toISOString().slice(0, 10);
    return {
      tradingDay: day,
      pnl: typeof pnl === 'function' ? pnl(i) : pnl,
      hadActivity: typeof active === 'function' ? active(i) : active,
      settledAt: `${day}T21:00:00.000Z`,
    };
  });
}

interface Row {
  name: string;
  n: number;
  cycles: mbt.GateCycle[];
  passes: boolean;
  settled: number;
  pnl: string;
  active: number;
  missing: mbt.GateRule[];
}

const rows: Row[] = [
  { name: 'no cycles yet', n: 20, cycles: [], passes: false, settled: 0, pnl: '0.00', active: 0, missing: ['cycles', 'pnl', 'activity'] },
  { name: '19 good cycles: one short', n: 20, cycles: cycles(19, '10', true), passes: false, settled: 19, pnl: '190.00', active: 19, missing: ['cycles'] },
  { name: 'exactly 20 good cycles', n: 20, cycles: cycles(20, '10', true), passes: true, settled: 20, pnl: '200.00', active: 20, missing: [] },
  { name: 'net P&L exactly zero does not pass', n: 4, cycles: cycles(4, (i) => (i % 2 === 0 ? '5.25' : '-5.25'), true), passes: false, settled: 4, pnl: '0.00', active: 4, missing: ['pnl'] },
  { name: 'one cent positive passes', n: 4, cycles: cycles(4, (i) => (i === 0 ? '0.01' : '0'), true), passes: true, settled: 4, pnl: '0.01', active: 4, missing: [] },
  { name: 'negative P&L', n: 3, cycles: cycles(3, '-1', true), passes: false, settled: 3, pnl: '-3.00', active: 3, missing: ['pnl'] },
  { name: 'exactly half active (even N) passes', n: 4, cycles: cycles(4, '1', (i) => i < 2), passes: true, settled: 4, pnl: '4.00', active: 2, missing: [] },
  { name: 'below half active', n: 4, cycles: cycles(4, '1', (i) => i < 1), passes: false, settled: 4, pnl: '4.00', active: 1, missing: ['activity'] },
  { name: 'odd N needs ceil(N/2) active: 2 of 5 is not enough', n: 5, cycles: cycles(5, '1', (i) => i < 2), passes: false, settled: 5, pnl: '5.00', active: 2, missing: ['activity'] },
  { name: 'odd N: 3 of 5 passes', n: 5, cycles: cycles(5, '1', (i) => i < 3), passes: true, settled: 5, pnl: '5.00', active: 3, missing: [] },
  {
    // 6 cycles, N = 3: the first three lost 100 each, the last three won 1 each; only the last N count.
    name: 'only the last N cycles count for P&L',
    n: 3,
    cycles: cycles(6, (i) => (i < 3 ? '-100' : '1'), true),
    passes: true,
    settled: 6,
    pnl: '3.00',
    active: 3,
    missing: [],
  },
  {
    name: 'only the last N cycles count for activity',
    n: 2,
    cycles: cycles(4, '1', (i) => i < 2),
    passes: false,
    settled: 4,
    pnl: '2.00',
    active: 0,
    missing: ['activity'],
  },
  { name: 'sub-cent P&L is summed exactly before rounding', n: 3, cycles: cycles(3, '0.004', true), passes: true, settled: 3, pnl: '0.01', active: 3, missing: [] },
];

describe('evaluateGate', () => {
  for (const row of rows) {
    it(row.name, () => {
      const status = mbt.evaluateGate({ requiredCycles: row.n, cycleStartedAt: START, cycles: row.cycles });
      expect(status.passes).toBe(row.passes);
      expect(status.settledCycles).toBe(row.settled);
      expect(status.pnl).toBe(row.pnl);
      expect(status.activeCycles).toBe(row.active);
      expect(status.requiredActiveCycles).toBe(Math.ceil(row.n / 2));
      expect(status.missing.map((m) => m.rule)).toEqual(row.missing);
      expect(status.windowCycles).toBe(Math.min(row.n, row.settled));
    });
  }

  it('counts only cycles settled at or after the cycle start (a reset starts over)', () => {
    const all = cycles(6, '1', true);
    const resetAt = all[3]!.settledAt; // the 4th cycle was settled exactly at the reset instant: it counts
    const status = mbt.evaluateGate({ requiredCycles: 3, cycleStartedAt: resetAt, cycles: all });
    expect(status.settledCycles).toBe(3);
    expect(status.window).toEqual({ from: all[3]!.tradingDay, to: all[5]!.tradingDay });
    expect(status.passes).toBe(true);
    const later = mbt.evaluateGate({ requiredCycles: 3, cycleStartedAt: '2026-01-08T21:00:00.001Z', cycles: all });
    expect(later.settledCycles).toBe(2);
    expect(later.missing[0]).toEqual({ rule: 'cycles', message: '1 more settled cycle needed (2 of 3)' });
  });

  it('orders cycles by trading day whatever order they come in', () => {
    const list = cycles(4, (i) => (i === 0 ? '-50' : '1'), true).reverse();
    const status = mbt.evaluateGate({ requiredCycles: 3, cycleStartedAt: START, cycles: list });
    expect(status.pnl).toBe('3.00');
    expect(status.window).toEqual({ from: '2026-01-06', to: '2026-01-08' });
  });

  it('refuses a nonsensical N or start', () => {
    expect(() => mbt.evaluateGate({ requiredCycles: 0, cycleStartedAt: START, cycles: [] })).toThrow(RangeError);
    expect(() => mbt.evaluateGate({ requiredCycles: 2, cycleStartedAt: 'yesterday', cycles: [] })).toThrow(RangeError);
  });
});
