// Command-line options of the benchmarks: scenario names, then `--name value` options (positive integers or paths)
// and bare `--flag`s, as the bench declares them; anything else is refused with the option's name.
import { resolve } from 'node:path';

type Kind = 'int' | 'path' | 'flag';
type Value<K extends Kind> = K extends 'int' ? number : K extends 'path' ? string : boolean;

/** `spec` maps an option name (without `--`) to its kind; returns the scenario names and the options given. */
export function parseOptions<S extends Record<string, Kind>>(argv: readonly string[], spec: S): { names: string[]; opts: { [K in keyof S]?: Value<S[K]> } } {
  const names: string[] = [];
  const opts: Record<string, number | string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      names.push(a);
      continue;
    }
    const name = a.slice(2);
    const kind = spec[name];
    if (!kind) throw new Error(`unknown option ${a}`);
    if (kind === 'flag') opts[name] = true;
    else {
      const raw = argv[++i];
      if (raw === undefined) throw new Error(`${a} needs a value`);
      if (kind === 'path') opts[name] = resolve(raw);
      else {
        const n = Number(raw);
        if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} needs a positive integer`);
        opts[name] = n;
      }
    }
  }
  return { names, opts: opts as { [K in keyof S]?: Value<S[K]> } };
}

/** The options every whole-path benchmark takes (users, processes, profiling, statement statistics). */
export const COMMON_OPTIONS = { users: 'int', replicas: 'int', partitions: 'int', clients: 'int', 'cpu-prof': 'path', 'pg-stats': 'flag' } as const;

/** The common options with their defaults; the default scenarios when none is named. */
export function commonArgs(names: string[], opts: { [K in keyof typeof COMMON_OPTIONS]?: Value<(typeof COMMON_OPTIONS)[K]> }, defaultScenarios: readonly string[]) {
  const o = {
    names: names.length ? names : [...defaultScenarios],
    users: opts.users ?? 1_000,
    replicas: opts.replicas ?? 1,
    partitions: opts.partitions ?? 64,
    clients: opts.clients ?? 2,
    cpuProf: opts['cpu-prof'],
    pgStats: opts['pg-stats'] ?? false,
  };
  if (o.users < 1_000) console.log(`NOTE: --users ${o.users} is below the 1,000 users the benchmark is specified for`);
  return o;
}
