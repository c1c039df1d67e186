// What a step cost and left behind in Redis per unit of work: the commands it ran (INFO commandstats: calls and server
// time, scripts' inner calls included), and the keys and memory it left (DBSIZE, INFO memory used_memory), read before
// and after. Keys that live for days per command (a dedupe marker, a reservation) show up as ~1 key per command.
import type { Redis } from 'ioredis';
import { fmt } from './util.js';

export interface RedisFootprint {
  keys: number;
  usedBytes: number;
}

export async function redisFootprint(admin: Redis): Promise<RedisFootprint> {
  const [keys, info] = await Promise.all([admin.dbsize(), admin.info('memory')]);
  const used = /^used_memory:(\d+)/m.exec(info)?.[1];
  return { keys, usedBytes: Number(used ?? Number.NaN) };
}

/** `+0.01 keys, +120 B per <unit>; 1,234 keys, 5.6 MB in all` between two readings. */
export function redisFootprintLine(a: RedisFootprint, b: RedisFootprint, units: number, unit: string): string {
  const per = (n: number) => (units > 0 ? n / units : Number.NaN);
  const sign = (n: number) => (n >= 0 ? '+' : '−');
  const dk = per(b.keys - a.keys);
  const dm = per(b.usedBytes - a.usedBytes);
  return `${sign(dk)}${fmt(Math.abs(dk), 2)} keys, ${sign(dm)}${fmt(Math.abs(dm), 0)} B per ${unit} (streams are capped, so bytes drift); ${fmt(b.keys)} keys, ${fmt(b.usedBytes / 2 ** 20, 1)} MiB in all`;
}

export type CommandStats = Map<string, { calls: number; usec: number }>;

/** Redis's per-command counters (`INFO commandstats`: calls and server µs since start). */
export async function redisCommandStats(admin: Redis): Promise<CommandStats> {
  const out: CommandStats = new Map();
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}

/**
 * `27.8 calls · evalsha 3.3× 175 µs · xadd 3.0× 22 µs …` per unit: every call, then the `top` busiest commands by
 * server time, between two readings. Redis counts a script's inner commands as calls of their own, and its `evalsha`
 * time includes theirs, so the figures overlap (no total of the times is given for that reason).
 */
export function redisBusiestLine(a: CommandStats, b: CommandStats, units: number, top = 6): string {
  const rows = [...b]
    .map(([cmd, v]) => ({ cmd, calls: v.calls - (a.get(cmd)?.calls ?? 0), usec: v.usec - (a.get(cmd)?.usec ?? 0) }))
    .filter((x) => x.calls > 0)
    .sort((x, y) => y.usec - x.usec);
  const per = (n: number) => n / Math.max(1, units);
  const all = `${fmt(per(rows.reduce((t, x) => t + x.calls, 0)), 1)} calls`;
  return [all, ...rows.slice(0, top).map((x) => `${x.cmd} ${fmt(per(x.calls), 1)}× ${fmt(per(x.usec), 0)} µs`)].join(' · ');
}
