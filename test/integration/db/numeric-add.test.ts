// numericAdd (src/actors/account/state.ts) against PostgreSQL itself: the balances the account actor computes for a
// cash adjustment must print exactly as the `numeric` sum the row stores. Random decimals of the shapes a balance and
// an adjustment take (up to 15 integer digits and 8 decimals, either sign), summed by both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { numericAdd, numericGte, numericNeg } from '../../../src/actors/account/state.js';
import { testAdminUrl } from '../../support/database.js';

let su: postgres.Sql;
beforeAll(() => {
  su = postgres(testAdminUrl(), { max: 1, onnotice: () => {} });
});
afterAll(() => su?.end());

// Deterministic: a failure names its inputs and reproduces.
function* decimals(seed: number, n: number): Generator<string> {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < n; i++) {
    const int = Math.floor(next() * 10 ** Math.floor(next() * 16)).toString().slice(0, 15);
    const places = Math.floor(next() * 9);
    const frac = places ? `.${Math.floor(next() * 10 ** places).toString().padStart(places, '0')}` : '';
    yield `${next() < 0.4 ? '-' : ''}${int}${frac}`.replace(/^-(0(\.0*)?)$/, '$1');
  }
}

describe('numericAdd matches PostgreSQL numeric', () => {
  it('for 2,000 random pairs, sums, differences and comparisons', async () => {
    const a = [...decimals(7, 2000)];
    const b = [...decimals(11, 2000)];
    const rows = await su<{ sum: string; diff: string; gte: boolean }[]>`
      select (x::numeric + y::numeric)::text as sum, (x::numeric - y::numeric)::text as diff, x::numeric >= y::numeric as gte
        from unnest(${a}::text[], ${b}::text[]) with ordinality as t(x, y, i) order by i`;
    const mismatches = rows.flatMap((r, i) => {
      const mine = { sum: numericAdd(a[i]!, b[i]!), diff: numericAdd(a[i]!, numericNeg(b[i]!)), gte: numericGte(a[i]!, b[i]!) };
      return mine.sum === r.sum && mine.diff === r.diff && mine.gte === r.gte ? [] : [{ a: a[i], b: b[i], pg: r, mine }];
    });
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});
