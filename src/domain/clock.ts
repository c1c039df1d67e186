// The clock every role reads time from: injectable, so tests and replays control "now".
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** System time plus one shared offset (CLOCK_OFFSET_MS), which the simulator honours too. */
export function offsetClock(offsetMs: number, system: () => number = Date.now): Clock {
  return { now: () => system() + offsetMs };
}
