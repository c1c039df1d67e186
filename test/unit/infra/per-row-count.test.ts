// perRowCount: a statement text that lists its rows is built once per row count, up to a bound.
import { describe, expect, it } from 'vitest';
import { perRowCount, valuesList } from '../../../src/infra/db/statements.js';

describe('perRowCount', () => {
  it('builds each row count once and returns the same text after', () => {
    const built: number[] = [];
    const text = perRowCount((n) => {
      built.push(n);
      return `values ${valuesList(n, ['uuid', 'text'])}`;
    });
    expect(text(2)).toBe('values ($1::uuid, $2::text), ($3::uuid, $4::text)');
    expect(text(2)).toBe(text(2));
    expect(text(1)).toBe('values ($1::uuid, $2::text)');
    expect(built).toEqual([2, 1]);
  });

  it('keeps at most `max` texts: counts past it are built on every call, still correct', () => {
    const built: number[] = [];
    const text = perRowCount((n) => (built.push(n), `n=${n}`), 2);
    for (const n of [1, 2, 3, 3, 1]) expect(text(n)).toBe(`n=${n}`);
    expect(built).toEqual([1, 2, 3, 3]);
  });
});
