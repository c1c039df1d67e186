// CPU accounting from /proc for the benchmarks: a process's own CPU seconds, a process tree's (PostgreSQL: the
// postmaster and every backend and worker it forked), and the whole machine's busy ticks.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ is 100 on every Linux we run on). */
const USER_HZ = 100;

/** The parent, user and system time (seconds) of one `/proc/<pid>/stat` (or `/proc/<pid>/task/<tid>/stat`) text. */
function statFields(stat: string): { ppid: number; user: number; system: number } {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), user: Number(f[11]) / USER_HZ, system: Number(f[12]) / USER_HZ };
}

/** utime + stime of one `/proc/<pid>/stat` text, in seconds. */
function statSeconds(stat: string): { ppid: number; seconds: number } {
  const f = statFields(stat);
  return { ppid: f.ppid, seconds: f.user + f.system };
}

/** CPU seconds (user + system) used so far by `pid`; 0 once it has exited. */
export function cpuSeconds(pid: number): number {
  try {
    return statSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8')).seconds;
  } catch {
    return 0; // exited
  }
}

/** A process's CPU seconds split by thread: its main thread's user and system time, and all its other threads'. */
export interface ThreadCpu {
  mainUser: number;
  mainSystem: number;
  others: number;
}

/**
 * `pid`'s CPU by thread (`/proc/<pid>/task/<tid>/stat`): for a Node process the main thread runs the JavaScript and its
 * system time is mostly socket I/O; the other threads are V8's GC helpers and libuv's pool. Zeros once it exited.
 */
export function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = { mainUser: 0, mainSystem: 0, others: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const { user, system } = statFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
        if (Number(tid) === pid) {
          out.mainUser = user;
          out.mainSystem = system;
        } else out.others += user + system;
      } catch {
        /* thread gone */
      }
    }
  } catch {
    /* exited */
  }
  return out;
}

/** Cores each part of a process used between two `threadCpu` readings over `seconds` (threads that ended are lost). */
export function threadShares(a: ThreadCpu, b: ThreadCpu, seconds: number): ThreadCpu {
  return { mainUser: (b.mainUser - a.mainUser) / seconds, mainSystem: (b.mainSystem - a.mainSystem) / seconds, others: Math.max(0, b.others - a.others) / seconds };
}

/** CPU seconds of `root` and of every live process whose parent is `root`, by pid. */
export function treeCpu(root: number): Map<number, number> {
  const out = new Map<number, number>([[root, cpuSeconds(root)]]);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = statSeconds(readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (s.ppid === root) out.set(Number(d), s.seconds);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** CPU seconds a tree used between two `treeCpu` readings (children that appeared count from zero). */
export function treeDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, v] of after) sum += v - (before.get(pid) ?? 0);
  return sum;
}

/**
 * Busy and total ticks of the whole machine (`/proc/stat`, all CPUs; idle and iowait are not busy), and `steal`: time
 * the hypervisor gave this VM's CPUs to someone else (counted in `busy`: the VM wanted to run).
 */
export function machineTicks(): { busy: number; total: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total, steal: f[7]! };
}

type Ticks = ReturnType<typeof machineTicks>;

/** Cores the machine used between two `machineTicks` readings (0 … number of CPUs). */
export function machineCores(a: Ticks, b: Ticks): number {
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cpus().length;
}

/** Cores stolen by the hypervisor between two readings: a step with much of it ran on a busy host. */
export function stolenCores(a: Ticks, b: Ticks): number {
  return ((b.steal - a.steal) / Math.max(1, b.total - a.total)) * cpus().length;
}

/** One line naming the machine, for the top of a report. */
export function machineLine(): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}
