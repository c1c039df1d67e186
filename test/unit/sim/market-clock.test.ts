// The simulator's NYSE calendar against published exchange calendars, DST, early closes and the shared offset.
import { describe, expect, it } from 'vitest';
import { createMarketClock, earlyCloses, exchangeDay, holidays } from '../../../src/sim/clock/index.js';

const sorted = (s: Set<string>) => [...s].sort();

describe('NYSE holidays computed from the rules', () => {
  it.each([
    [2024, ['2024-01-01', '2024-01-15', '2024-02-19', '2024-03-29', '2024-05-27', '2024-06-19', '2024-07-04', '2024-09-02', '2024-11-28', '2024-12-25']],
    [2025, ['2025-01-01', '2025-01-20', '2025-02-17', '2025-04-18', '2025-05-26', '2025-06-19', '2025-07-04', '2025-09-01', '2025-11-27', '2025-12-25']],
    [2026, ['2026-01-01', '2026-01-19', '2026-02-16', '2026-04-03', '2026-05-25', '2026-06-19', '2026-07-03', '2026-09-07', '2026-11-26', '2026-12-25']],
    [2027, ['2027-01-01', '2027-01-18', '2027-02-15', '2027-03-26', '2027-05-31', '2027-06-18', '2027-07-05', '2027-09-06', '2027-11-25', '2027-12-24']],
  ])('%i matches the exchange calendar', (year, expected) => {
    expect(sorted(holidays(year))).toEqual(expected);
  });

  it('does not move a Saturday New Year to the previous Friday', () => {
    expect(holidays(2022).has('2022-01-01')).toBe(false); // a Saturday: nothing to observe
    expect(exchangeDay('2021-12-31')).toEqual({ date: '2021-12-31', kind: 'full' });
  });

  it('has early closes on July 3, the day after Thanksgiving and Christmas Eve when they trade', () => {
    expect(exchangeDay('2025-07-03')).toEqual({ date: '2025-07-03', kind: 'early' });
    expect(exchangeDay('2025-11-28')).toEqual({ date: '2025-11-28', kind: 'early' });
    expect(exchangeDay('2025-12-24')).toEqual({ date: '2025-12-24', kind: 'early' });
    expect(exchangeDay('2026-07-03')).toBeUndefined(); // the observed Independence Day itself
    expect(exchangeDay('2026-12-24')?.kind).toBe('early');
    expect(exchangeDay('2027-12-24')).toBeUndefined(); // observed Christmas
    expect(earlyCloses(2026).has('2026-11-27')).toBe(true);
  });

  it('closes on weekends', () => {
    expect(exchangeDay('2026-11-21')).toBeUndefined();
    expect(exchangeDay('2026-11-22')).toBeUndefined();
    expect(exchangeDay('2026-11-23')).toEqual({ date: '2026-11-23', kind: 'full' });
  });
});

describe('createMarketClock', () => {
  const at = (iso: string) => () => Date.parse(iso);

  it('opens 09:30 and closes 16:00 New York time across DST', () => {
    const clock = createMarketClock({ mode: 'nyse', offsetMs: 0 });
    expect(clock.session('2026-03-06')!.open.toISOString()).toBe('2026-03-06T14:30:00.000Z'); // EST
    expect(clock.session('2026-03-09')!.open.toISOString()).toBe('2026-03-09T13:30:00.000Z'); // EDT
    expect(clock.session('2026-03-09')!.close.toISOString()).toBe('2026-03-09T20:00:00.000Z');
    expect(clock.session('2025-11-28')!.close.toISOString()).toBe('2025-11-28T18:00:00.000Z'); // 13:00 EST
    expect(clock.session('2026-03-09')!.sessionOpen.toISOString()).toBe('2026-03-09T08:00:00.000Z');
  });

  it('knows open, closed, next open and next close', () => {
    const clock = createMarketClock({ mode: 'nyse', offsetMs: 0, systemNow: at('2026-11-20T21:30:00Z') }); // Friday 16:30 EST, after the close
    expect(clock.isOpen()).toBe(false);
    expect(clock.nextOpen().toISOString()).toBe('2026-11-23T14:30:00.000Z');
    expect(clock.nextClose().toISOString()).toBe('2026-11-23T21:00:00.000Z');
    expect(clock.isOpen(new Date('2026-11-23T15:00:00Z'))).toBe(true);
    expect(clock.isOpen(new Date('2026-11-26T15:00:00Z'))).toBe(false); // Thanksgiving
    expect(clock.nextOpen(new Date('2026-11-25T22:00:00Z')).toISOString()).toBe('2026-11-27T14:30:00.000Z');
    expect(clock.nextClose(new Date('2026-11-27T15:00:00Z')).toISOString()).toBe('2026-11-27T18:00:00.000Z');
  });

  it('lists the calendar between two dates', () => {
    const clock = createMarketClock({ mode: 'nyse', offsetMs: 0 });
    expect(clock.calendar('2026-11-23', '2026-11-30').map((s) => s.date)).toEqual(['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-27', '2026-11-30']);
  });

  it('applies the shared clock offset to now()', () => {
    const clock = createMarketClock({ mode: 'nyse', offsetMs: 3_600_000, systemNow: at('2026-11-23T14:00:00Z') });
    expect(clock.now().toISOString()).toBe('2026-11-23T15:00:00.000Z');
    expect(clock.isOpen()).toBe(true);
  });

  it('is always open in demo mode, weekends included', () => {
    const clock = createMarketClock({ mode: 'always-open', offsetMs: 0, systemNow: at('2026-11-22T03:00:00Z') });
    expect(clock.isOpen()).toBe(true);
    expect(clock.session('2026-11-22')).toBeDefined();
    expect(clock.nextClose().getTime()).toBeGreaterThan(clock.now().getTime());
  });
});
