// bench:actors scenarios, as data. Every scenario drives `POST /api/commands` (account.adjust_cash, ±1.00 alternating
// per user, so every command is accepted and cash never runs out) at a constant offered rate, spread round-robin
// over the seeded users; latency is submit (intended send time) → the gateway's 200 with the actor's decision.
import type { Scenario as BaseScenario, Step } from '../shared/scenarios.js';

export type { Step };
export type Scenario = BaseScenario<'p99-at-1000' | 'sustained-2000' | 'stretch-3000' | 'max-sustained'>;

/** What `ramp` calls sustained: every request answered in time, p99 under this, the offered rate achieved. */
export const RAMP_PASS = { p99Ms: 100, minAchievedRatio: 0.97 } as const;

const steady = (rate: number, seconds = 20, warmupSeconds = 5): Step => ({ rate, seconds, warmupSeconds });
const soak = (rate: number): Step => ({ rate, seconds: 60, warmupSeconds: 5, checkpointAtSeconds: 30 });

export const SCENARIOS: readonly Scenario[] = [
  { name: 'idle', description: 'baseline: 1 command/s for 10 s (the processes\' CPU with next to no load)', kind: 'steady', steps: [steady(1, 10, 2)], targets: [] },
  { name: 'smoke', description: 'harness check: 200 commands/s for 5 s', kind: 'steady', steps: [steady(200, 5, 2)], targets: [] },
  { name: 'steady-500', description: '500 commands/s for 20 s: latency at half the target rate', kind: 'steady', steps: [steady(500)], targets: [] },
  { name: 'steady-1000', description: '1,000 commands/s for 20 s: the latency target (p99 < 30 ms)', kind: 'steady', steps: [steady(1_000)], targets: ['p99-at-1000'] },
  { name: 'steady-2000', description: '2,000 commands/s for 20 s: the throughput target', kind: 'steady', steps: [steady(2_000)], targets: ['sustained-2000'] },
  { name: 'steady-3000', description: '3,000 commands/s for 20 s: the stretch target', kind: 'steady', steps: [steady(3_000)], targets: ['stretch-3000'] },
  {
    name: 'soak-1000',
    description: '1,000 commands/s for 60 s with a CHECKPOINT 30 s in (the latency target across one, as production meets them)',
    kind: 'steady',
    steps: [soak(1_000)],
    targets: ['p99-at-1000'],
  },
  {
    name: 'soak-2000',
    description: '2,000 commands/s for 60 s with a CHECKPOINT 30 s in (the throughput target across one)',
    kind: 'steady',
    steps: [soak(2_000)],
    targets: ['sustained-2000'],
  },
  {
    name: 'ramp',
    description: `rising steps of 10 s until one fails (p99 ≥ ${RAMP_PASS.p99Ms} ms, a timeout or error, or < ${RAMP_PASS.minAchievedRatio * 100} % of the offered rate achieved)`,
    kind: 'ramp',
    steps: [250, 500, 750, 1_000, 1_500, 2_000, 2_500, 3_000, 3_500, 4_000, 4_500, 5_000, 6_000].map((r) => steady(r, 10, 3)),
    targets: ['max-sustained'],
  },
];

export const DEFAULT_SCENARIOS = ['steady-1000', 'steady-2000', 'steady-3000', 'ramp'];
