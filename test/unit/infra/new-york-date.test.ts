// newYorkDate is memoised per UTC hour: it must give exactly what Intl gives for the instant itself, also around the
// daylight-saving switches and New York's midnight (both fall on a UTC hour).
import { describe, expect, it } from 'vitest';
import { newYorkDate } from '../../../src/infra/alpaca/market-calendar.js';

const intl = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York', year: 'numeric', month: '2-digit', day: '2-digit' });
const direct = (t: number) => intl.format(new Date(t)); // en-CA formats as YYYY-MM-DD

describe('newYorkDate', () => {
  it('equals the date Intl gives for the instant, minute by minute around both 2026 DST switches and New York midnights', () => {
    const windows = ['2026-03-08T03:00:00Z', '2026-11-01T03:00:00Z', '2026-06-15T02:00:00Z', '2026-12-31T03:00:00Z'].map(Date.parse);
    let checked = 0;
    for (const start of windows) {
      for (let t = start; t < start + 6 * 3_600_000; t += 60_000) {
        for (const at of [t, t + 59_999]) {
          expect(newYorkDate(at)).toBe(direct(at));
          checked++;
        }
      }
    }
    expect(checked).toBe(4 * 360 * 2);
  });

  it('equals Intl on random instants over ten years (and after its memo was filled and cleared)', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647; // Park–Miller: exact in doubles
    const from = Date.parse('2020-01-01T00:00:00Z');
    const span = 10 * 365 * 86_400_000;
    for (let i = 0; i < 20_000; i++) {
      const t = from + Math.floor(rnd() * span);
      expect(newYorkDate(t)).toBe(direct(t));
    }
  });

  it('midnight in New York switches the date at 05:00 UTC in winter and 04:00 UTC in summer', () => {
    expect(newYorkDate(Date.parse('2026-01-15T04:59:59.999Z'))).toBe('2026-01-14');
    expect(newYorkDate(Date.parse('2026-01-15T05:00:00Z'))).toBe('2026-01-15');
    expect(newYorkDate(Date.parse('2026-07-15T03:59:59.999Z'))).toBe('2026-07-14');
    expect(newYorkDate(Date.parse('2026-07-15T04:00:00Z'))).toBe('2026-07-15');
  });
});
