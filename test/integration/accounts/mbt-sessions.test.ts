// Session clock events from the market calendar (what the account actor steps before an input): the four events of a
// session, and exactly the ones an engine has not seen yet — read from the simulator's real /v2/calendar.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clockEventsOf, clockInputsBetween, createSessionCache } from '../../../src/actors/account/index.js';
import { createMarketCalendar, newYorkWallTime, type MarketSession } from '../../../src/infra/alpaca/index.js';
import { startTestSimulator } from '../../support/simulator.js';

const session = (date: string, close = '16:00'): MarketSession => ({ date, openAt: newYorkWallTime(date, '09:30'), closeAt: newYorkWallTime(date, close) });

describe('MBT session events', () => {
  it('a session is pre_open 04:00, regular_open, regular_close, extended_close four hours later (early closes too)', () => {
    const full = clockEventsOf(session('2026-03-09'));
    expect(full.map((e) => [e.event, new Date(e.ts).toISOString()])).toEqual([
      ['pre_open', '2026-03-09T08:00:00.000Z'], // EDT began on 2026-03-08
      ['regular_open', '2026-03-09T13:30:00.000Z'],
      ['regular_close', '2026-03-09T20:00:00.000Z'],
      ['extended_close', '2026-03-10T00:00:00.000Z'],
    ]);
    expect(full[0]).toMatchObject({ regularCloseTs: full[2]!.ts, extendedCloseTs: full[3]!.ts });
    const early = clockEventsOf(session('2026-11-27', '13:00'));
    expect(new Date(early[3]!.ts).toISOString()).toBe('2026-11-27T22:00:00.000Z'); // 17:00 ET
  });

  it('steps only what the engine missed: (since, now]; a fresh engine starts with the current session', () => {
    const days = [session('2026-03-09'), session('2026-03-10')];
    const tuesdayNoon = newYorkWallTime('2026-03-10', '12:00').getTime();
    expect(clockInputsBetween(days, 0, tuesdayNoon).map((e) => `${e.day} ${e.event}`)).toEqual(['2026-03-10 pre_open', '2026-03-10 regular_open']);
    const mondayOpen = newYorkWallTime('2026-03-09', '09:30').getTime();
    expect(clockInputsBetween(days, mondayOpen, tuesdayNoon).map((e) => `${e.day} ${e.event}`)).toEqual([
      '2026-03-09 regular_close',
      '2026-03-09 extended_close',
      '2026-03-10 pre_open',
      '2026-03-10 regular_open',
    ]);
    expect(clockInputsBetween(days, tuesdayNoon, tuesdayNoon)).toEqual([]);
  });

  describe('from the simulator calendar', () => {
    let sim: Awaited<ReturnType<typeof startTestSimulator>>;
    beforeAll(async () => {
      sim = await startTestSimulator({ SIM_CLOCK: 'nyse', SIM_SYMBOLS: '5' });
    });
    afterAll(async () => {
      await sim?.close();
    });

    it('the cache reads the sessions around now once, and they yield ordered events', async () => {
      let calls = 0;
      const calendar = createMarketCalendar({ tradingUrl: sim.url, credentials: () => ({ keyId: 'raxx-dev-key', secret: 'raxx-dev-secret' }) });
      const cache = createSessionCache({ sessions: (a, b) => (calls++, calendar.sessions(a, b)) });
      const now = Date.now();
      const sessions = await cache.around(now);
      expect(await cache.around(now + 1000)).toBe(sessions);
      expect(calls).toBe(1);
      expect(sessions!.length).toBeGreaterThan(3);
      const events = clockInputsBetween(sessions!, now - 7 * 86_400_000, now);
      expect(events.length).toBeGreaterThan(0);
      expect(events.every((e, i) => i === 0 || e.ts > events[i - 1]!.ts)).toBe(true);
    });
  });
});
