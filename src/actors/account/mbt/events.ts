// Private-log events of the engine: one `trade_update` event per Alpaca trade update, pure so a replayed decision
// (same stored result) yields the same events.
import type { UserEvent } from '../../../contracts/index.js';
import type { AlpacaTradeUpdate } from './alpaca.js';

type EventDraft = Omit<UserEvent, 'T' | 'seq'>;

/** The key under which a decision result carries its trade updates. */
export const TRADE_UPDATES_KEY = 'trade_updates';

export function tradeUpdateEvents(updates: readonly AlpacaTradeUpdate[], commandId?: string): EventDraft[] {
  return updates.map((u) => ({ kind: 'trade_update', ...(commandId !== undefined ? { commandId } : {}), data: u, at: u.timestamp }));
}

/** A stored decision result without its trade updates, and the trade updates it carried. */
export function splitTradeUpdates(result: Record<string, unknown> | undefined): { rest: Record<string, unknown> | undefined; updates: AlpacaTradeUpdate[] } {
  if (!result || !Array.isArray(result[TRADE_UPDATES_KEY])) return { rest: result, updates: [] };
  const { [TRADE_UPDATES_KEY]: updates, ...rest } = result;
  return { rest, updates: updates as AlpacaTradeUpdate[] };
}
