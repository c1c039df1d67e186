// A socket's granted symbols per channel in flat arrays: insertion order, no duplicates, empty channels dropped.
import { describe, expect, it } from 'vitest';
import { ChannelSymbols } from '../../../src/gateway/channel-symbols.js';

describe('ChannelSymbols', () => {
  it("keeps each channel's symbols once, in the order first asked for, and channels in the order first granted", () => {
    const c = new ChannelSymbols();
    expect(c.get('quotes')).toBeUndefined();
    c.add('trades', ['MSFT']);
    c.add('quotes', ['AAPL', 'MSFT', 'AAPL']);
    c.add('quotes', ['TSLA', 'MSFT']);
    expect(c.get('quotes')).toEqual(['AAPL', 'MSFT', 'TSLA']);
    expect(c.entries()).toEqual([
      ['trades', ['MSFT']],
      ['quotes', ['AAPL', 'MSFT', 'TSLA']],
    ]);
    c.add('bars', []);
    expect(c.get('bars')).toBeUndefined();
  });

  it('removes symbols, drops a channel once it is empty, and drops whole channels', () => {
    const c = new ChannelSymbols();
    c.add('quotes', ['AAPL', 'MSFT']);
    c.add('trades', ['AAPL']);
    c.remove('quotes', ['MSFT', 'NOPE']);
    expect(c.get('quotes')).toEqual(['AAPL']);
    c.remove('quotes', ['AAPL']);
    expect(c.get('quotes')).toBeUndefined();
    c.remove('depth', ['AAPL']); // a channel it never had
    c.removeChannel('trades');
    expect(c.entries()).toEqual([]);
  });

  it('entries() is a copy: the set can change while it is walked', () => {
    const c = new ChannelSymbols();
    c.add('quotes', ['A', 'B']);
    c.add('trades', ['C']);
    const seen: string[] = [];
    for (const [ch, list] of c.entries()) {
      c.removeChannel(ch);
      seen.push(`${ch}:${list.join(',')}`);
    }
    expect(seen).toEqual(['quotes:A,B', 'trades:C']);
    expect(c.entries()).toEqual([]);
  });

  it('handles a Pro+ sized list (1,000 symbols) without duplicates', () => {
    const c = new ChannelSymbols();
    const symbols = Array.from({ length: 1000 }, (_, i) => `S${i}`);
    c.add('quotes', symbols.slice(0, 600));
    c.add('quotes', symbols); // 600 already there
    expect(c.get('quotes')).toEqual(symbols);
    c.remove('quotes', symbols.slice(0, 999));
    expect(c.get('quotes')).toEqual(['S999']);
  });
});
