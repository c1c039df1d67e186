// When a step's figures are the server's: the rules every whole-path benchmark applies to its load generators and to
// the machine (docs/bench-actors.md, "Validity").

/** The generator is late when its dispatch lag p99 exceeds this: latency would then be the client's, not the server's. */
export const SEND_LAG_P99_LIMIT_MS = 10;
/** A load-generator process above this share of a core cannot keep its schedule reliably. */
export const CLIENT_CPU_LIMIT = 0.9;
/** Cores used by processes outside the bench above which the run is flagged SHARED (figures are then conservative). */
export const FOREIGN_CPU_NOTE = 0.25;
/**
 * Cores stolen by the hypervisor above which a step is headed HOST BUSY: the VM's CPUs ran for someone else, and what
 * is left runs slower (every process, the load generators too, uses more CPU for the same work).
 */
export const STOLEN_NOTE = 0.1;

/** Why the step is INVALID (empty: valid), and whether other processes shared the machine. */
export function validity(v: { lagP99Ms: number; clientCores: readonly number[]; foreignCores: number }): { invalid: string[]; shared: boolean } {
  const invalid: string[] = [];
  if (v.lagP99Ms > SEND_LAG_P99_LIMIT_MS) invalid.push(`load generator behind its schedule: dispatch lag p99 ${v.lagP99Ms.toFixed(1)} ms > ${SEND_LAG_P99_LIMIT_MS} ms`);
  v.clientCores.forEach((c, i) => c >= CLIENT_CPU_LIMIT && invalid.push(`load-generator process ${i} at ${Math.round(c * 100)} % of a core`));
  return { invalid, shared: v.foreignCores > FOREIGN_CPU_NOTE };
}
