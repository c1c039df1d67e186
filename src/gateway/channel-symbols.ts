// A socket's granted symbols per channel, kept in flat arrays: a socket holds a few channels and symbols, and a Map of
// Sets cost ~490 B of heap per socket (a Map and one Set per channel, each with its hash table) — at 19,000 sockets
// that was a quarter of the gateway's live heap. Large lists (Pro+ allows 1,000 symbols) use a throw-away Set per call.
// Every stored array is exact-size (concat, slice): one grown by push or made by filter keeps ~17 slots, ~130 B more.
import type { MarketChannel } from '../domain/index.js';

/** Above this many symbols, membership checks build a temporary Set instead of scanning. */
const SCAN_LIMIT = 32;

export class ChannelSymbols {
  /** [channel, its symbols in the order first asked for, channel, symbols, …]: only channels with a symbol. */
  private items: Array<MarketChannel | string[]> = [];

  /** The channel's symbols, or undefined when it has none. */
  get(channel: MarketChannel): readonly string[] | undefined {
    const i = this.items.indexOf(channel);
    return i < 0 ? undefined : (this.items[i + 1] as string[]);
  }

  /** Adds the symbols the channel does not have yet, keeping their order. */
  add(channel: MarketChannel, symbols: Iterable<string>): void {
    const i = this.items.indexOf(channel);
    const list = i < 0 ? [] : (this.items[i + 1] as string[]);
    const fresh: string[] = [];
    const seen = new Set<string>(list.length > SCAN_LIMIT ? list : []);
    for (const s of symbols) {
      if (seen.has(s) || (list.length <= SCAN_LIMIT && list.includes(s))) continue;
      fresh.push(s);
      seen.add(s);
    }
    if (fresh.length === 0) return;
    if (i < 0) this.items = this.items.concat([channel, fresh.slice()]);
    else this.items[i + 1] = list.concat(fresh);
  }

  /** Removes these symbols from the channel, and the channel once it has none. */
  remove(channel: MarketChannel, symbols: Iterable<string>): void {
    const i = this.items.indexOf(channel);
    if (i < 0) return;
    const gone = new Set(symbols);
    const kept = (this.items[i + 1] as string[]).filter((s) => !gone.has(s));
    if (kept.length === 0) this.removeChannel(channel);
    else this.items[i + 1] = kept.slice();
  }

  /** Drops the channel with all its symbols. */
  removeChannel(channel: MarketChannel): void {
    const i = this.items.indexOf(channel);
    if (i >= 0) this.items = this.items.slice(0, i).concat(this.items.slice(i + 2));
  }

  /** Channel and symbols, in the order the channels were first granted (a copy: safe to change the set meanwhile). */
  entries(): Array<[MarketChannel, readonly string[]]> {
    const out: Array<[MarketChannel, readonly string[]]> = [];
    for (let i = 0; i < this.items.length; i += 2) out.push([this.items[i] as MarketChannel, this.items[i + 1] as string[]]);
    return out;
  }
}
