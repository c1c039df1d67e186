// Scenarios as data and the loop that runs them: each step at a constant offered rate (warm-up, then the measured
// window); a `ramp` climbs until a step is not sustained and remembers the last one that was.
import { fmt, sleep } from './util.js';

export interface Step {
  /** Offered requests/s over all load-generator processes. */
  rate: number;
  /** Measured window (s), after `warmupSeconds` at the same rate. */
  seconds: number;
  warmupSeconds: number;
  /**
   * Soak steps (bench:actors runs them; bench:orders has none yet): a CHECKPOINT is run this many seconds into the
   * measured window. After one, the first write to each page logs the whole page (full-page writes), so the WAL per
   * transaction jumps for a while; production meets one every checkpoint_timeout, a 20 s window on a fresh stack
   * almost never does.
   */
  checkpointAtSeconds?: number;
}

export interface Scenario<Target extends string = string> {
  name: string;
  description: string;
  /** `steady`: every step is reported; `ramp`: steps in rising order, stop at the first that is not sustained. */
  kind: 'steady' | 'ramp';
  steps: readonly Step[];
  /** Which target(s) this scenario is the figure for. */
  targets: readonly Target[];
}

export interface Outcome<R, S extends Scenario = Scenario> {
  scenario: S;
  results: R[];
  /** Ramp: the highest step that was sustained. */
  maxSustained?: number;
}

/** Runs `scenarios` in order, printing each step; `afterStep` sees the outcomes so far (e.g. to save them). */
export async function runScenarios<R extends { rate: number; invalid: string[] }, S extends Scenario>(
  scenarios: readonly S[],
  o: { unit: string; run(step: Step): Promise<R>; print(r: R): void; sustained(r: R): boolean; afterStep?(outcomes: ReadonlyArray<Outcome<R, S>>): void },
): Promise<Array<Outcome<R, S>>> {
  const outcomes: Array<Outcome<R, S>> = [];
  for (const sc of scenarios) {
    console.log(`\n■ ${sc.name}: ${sc.description}`);
    const out: Outcome<R, S> = { scenario: sc, results: [] };
    outcomes.push(out);
    for (const step of sc.steps) {
      const r = await o.run(step);
      out.results.push(r);
      o.print(r);
      o.afterStep?.(outcomes);
      if (sc.kind === 'ramp') {
        if (!o.sustained(r)) {
          console.log(`     ramp stops: ${r.invalid.length ? 'run INVALID' : 'not sustained'} at ${fmt(r.rate)} ${o.unit}`);
          break;
        }
        out.maxSustained = r.rate;
      }
      await sleep(2_000);
    }
  }
  return outcomes;
}
