// MemoryHistory: unbounded for a replay; as the actor's cache, bounded, oldest first, ids and order ids together.
import { describe, expect, it } from 'vitest';
import { mbt } from '../../../src/domain/index.js';

const entry = (i: number): mbt.ClientIdEntry => ({ clientOrderId: `c${i}`, orderId: `o${i}`, fingerprint: `f${i}` });
const view = (i: number) => ({ id: `o${i}`, status: 'filled' }) as mbt.OrderView;

describe('MemoryHistory', () => {
  it('keeps everything by default', () => {
    const h = new mbt.MemoryHistory();
    h.add(Array.from({ length: 5000 }, (_, i) => entry(i)), Array.from({ length: 5000 }, (_, i) => view(i)));
    expect(h.size).toBe(5000);
    expect(h.clientId('c0')).toEqual(['o0', 'f0']);
    expect(h.hasOrder('o0')).toBe(true);
    expect(h.closedOrder('o0')).toEqual(view(0));
  });

  it('bounded: the oldest client ids leave with their order ids, the oldest closed orders leave; a re-added one is the newest', () => {
    const h = new mbt.MemoryHistory({ maxIds: 3, maxClosed: 2 });
    h.add([entry(1), entry(2), entry(3)], [view(1), view(2)]);
    h.add([entry(1)], [view(1)]); // touched again: now the newest of each
    h.add([entry(4)], [view(3)]);
    expect(h.size).toBe(3);
    expect(h.clientId('c2')).toBeUndefined();
    expect(h.hasOrder('o2')).toBe(false);
    expect(['c1', 'c3', 'c4'].map((c) => h.clientId(c)?.[0])).toEqual(['o1', 'o3', 'o4']);
    expect(h.closedOrder('o2')).toBeUndefined();
    expect([h.closedOrder('o1')?.id, h.closedOrder('o3')?.id]).toEqual(['o1', 'o3']);
  });
});
