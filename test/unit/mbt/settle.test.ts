// MBT rows 19, 21 and 22: fees, end-of-day marks (stale after 60 s), one cycle per trading day with its P&L.
import { describe, expect, it } from 'vitest';
import { adjustCash, CLOSE, play, quote, session, settle, status, submit } from './log.js';
import { linearFees, type CycleOutput } from '../../../src/domain/mbt/index.js';

const cycles = (r: ReturnType<typeof play>) => r.outputs.filter((o): o is CycleOutput => o.type === 'cycle');
const bought = () => [...session(), submit({ qty: '100' }), quote(1, 10, 10.02)]; // 100 AAPL at 10.02

describe('settle (rows 21–22)', () => {
  it('marks at the mid of the last valid quote before the close and records the cycle P&L', () => {
    const r = play([...bought(), settle([{ seq: 9, bp: 10.1, ap: 10.2, ts: CLOSE - 1000 }])]);
    expect(cycles(r)).toEqual([
      {
        type: 'cycle',
        day: '2026-01-05',
        equity_open: '100000.00',
        equity_close: '100013.00',
        net_deposits: '0.00',
        pnl: '13.00',
        had_activity: true,
        settled_count: 1,
        positions: [{ symbol: 'AAPL', qty: '100', mark: '10.15', mark_source: 'quote', stale_mark: false }],
      },
    ]);
  });

  it('a mark exactly 60 s old is fresh; 60.001 s old is stale and falls back (entry price when no previous mark)', () => {
    const fresh = play([...bought(), settle([{ seq: 9, bp: 10.1, ap: 10.2, ts: CLOSE - 60_000 }])]);
    expect(cycles(fresh)[0]?.positions[0]).toMatchObject({ mark: '10.15', stale_mark: false });
    const stale = play([...bought(), settle([{ seq: 9, bp: 10.1, ap: 10.2, ts: CLOSE - 60_001 }])]);
    expect(cycles(stale)[0]?.positions[0]).toMatchObject({ mark: '10.15', mark_source: 'quote', stale_mark: true });
  });

  it('a crossed mark quote is ignored; the previous settle mark is used and flagged', () => {
    const day2 = '2026-01-06';
    const r = play([
      ...bought(),
      settle([{ seq: 9, bp: 10.1, ap: 10.2, ts: CLOSE - 1000 }]),
      settle([{ seq: 10, bp: 10.5, ap: 10.4, ts: CLOSE + 86_400_000 - 1000 }], day2, CLOSE + 86_400_000),
    ]);
    expect(cycles(r)[1]).toMatchObject({ day: day2, pnl: '0.00', positions: [{ mark: '10.15', mark_source: 'previous_mark', stale_mark: true }] });
  });

  it('is idempotent per day: a second settle of the same day changes nothing', () => {
    const r = play([...bought(), settle([{ seq: 9, bp: 10.1, ap: 10.2, ts: CLOSE - 1000 }]), settle([{ seq: 9, bp: 11, ap: 11.2, ts: CLOSE - 1000 }])]);
    expect(cycles(r)).toHaveLength(1);
    expect(r.replies.at(-1)).toMatchObject({ ok: true, duplicate: true });
  });

  it('net deposits are not P&L; an idle day without positions has no activity', () => {
    const r = play([...session(), adjustCash('500'), settle()]);
    expect(cycles(r)[0]).toMatchObject({ equity_close: '100500.00', net_deposits: '500.00', pnl: '0.00', had_activity: false });
  });

  it('settle expires DAY orders still working (catch-up when the close event was missed) and prunes closed orders', () => {
    const r = play([...session(), submit({ id: 'a', type: 'limit', limit: '9' }), submit({ id: 'g', type: 'limit', limit: '8', tif: 'gtc' }), settle()]);
    expect(r.events).toEqual(['new:a', 'new:g', 'expired:a']);
    expect(Object.keys(r.state.orders)).toEqual(['g']);
    expect(r.clientIds).toEqual(['cid-a→a', 'cid-g→g']);
  });
});

describe('symbols in the state', () => {
  it('settle drops the symbols nothing uses any more (no open order, no position, not halted); the rest stay', () => {
    const r = play([
      ...bought(), // AAPL: a position
      submit({ id: 'm', symbol: 'MSFT', type: 'limit', limit: '1', tif: 'gtc' }), // MSFT: an open GTC order
      submit({ id: 't', symbol: 'TSLA', type: 'limit', limit: '1' }), // TSLA: a DAY order, expired by the settle
      quote(2, 20, 20.02, { S: 'AMD' }),
      status('H', { S: 'NVDA' }), // NVDA: halted
      settle([{ seq: 9, bp: 10.1, ap: 10.2, ts: CLOSE - 1000 }]),
    ]);
    expect(Object.keys(r.state.symbols).sort()).toEqual(['AAPL', 'MSFT', 'NVDA']);
    expect(r.state.symbols.AAPL?.mark).toEqual({ px: '10.15', ts: CLOSE });
  });
  it('a symbol dropped at settle comes back fresh with its next order (the actor feeds its last-known-good quote first)', () => {
    const r = play([
      ...session(),
      submit({ id: 'a', symbol: 'AMD', type: 'limit', limit: '1' }),
      quote(5, 20, 20.02, { S: 'AMD' }),
      settle(),
      submit({ id: 'b', symbol: 'AMD', ts: CLOSE + 86_400_000 - 3_600_000 }),
    ]);
    expect(r.state.symbols.AMD).toMatchObject({ lastSeq: 0 });
    expect(r.state.orders.b?.work.acceptSeq).toBe(0);
  });
});

describe('fees (row 19)', () => {
  it('default zero', () => {
    expect(play(bought()).fills[0]?.fee).toBe('0');
  });
  it('a pluggable schedule is charged per fill, rounded half-up to the cent', () => {
    // 0.5 bps of 1002 = 0.0501 → 0.05 on the sell only; the buy pays nothing.
    const fees = linearFees({ bps: '0.5', sellOnly: true });
    const r = play([...bought(), submit({ id: 's', side: 'sell', qty: '100' }), quote(2, 10.02, 10.03)], {}, { fees });
    expect(r.fills.map((f) => f.fee)).toEqual(['0', '0.05']);
    expect(r.state.account.cash).toBe('99999.95');
  });
});
