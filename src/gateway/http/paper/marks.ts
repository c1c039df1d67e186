// Prices the paper API values positions at: the mid of the last real-time quote the market-data hub holds (its
// last-known-good hash), for symbols with a valid two-sided quote. Symbols without one are left out (the caller
// falls back to the average entry price).
import { Decimal } from 'decimal.js';
import type { HubPort } from '../../hub-port.js';

export type MarkSource = (symbols: readonly string[]) => Promise<Map<string, string>>;

/** No marks: every position is valued at its average entry price. */
export const noMarks: MarkSource = async () => new Map();

export function hubMarks(hub: () => Pick<HubPort, 'snapshot'>): MarkSource {
  return async (symbols) => {
    const out = new Map<string, string>();
    if (symbols.length === 0) return out;
    for (const text of await hub().snapshot('rt', 'q', [...symbols])) {
      let f: { S?: unknown; bp?: unknown; ap?: unknown };
      try {
        f = JSON.parse(text) as typeof f;
      } catch {
        continue;
      }
      if (typeof f.S !== 'string' || typeof f.bp !== 'number' || typeof f.ap !== 'number') continue;
      // Crossed, locked or one-sided quotes are no price (the engine ignores them too).
      if (!(f.bp > 0 && f.ap > f.bp)) continue;
      out.set(f.S, new Decimal(f.bp).add(f.ap).div(2).toDecimalPlaces(4, Decimal.ROUND_HALF_UP).toString());
    }
    return out;
  };
}
