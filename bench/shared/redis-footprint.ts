// What a step left behind in Redis per unit of work: keys and memory (DBSIZE, INFO memory used_memory) read before and
// after. Keys that live for days per command (a dedupe marker, a reservation) show up here as ~1 key per command.
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
