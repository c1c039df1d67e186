// The account actor computes a cash adjustment's balances itself (src/actors/account/state.ts): they must read exactly
// as PostgreSQL's `numeric` prints the stored row — as many decimals as the operand with the most, no negative zero.
import { describe, expect, it } from 'vitest';
import { numericAdd, numericGte, numericNeg } from '../../../src/actors/account/state.js';

describe('numeric arithmetic as PostgreSQL prints it', () => {
  it.each([
    ['100000', '1.50', '100001.50'],
    ['100001.50', '-1.5', '100000.00'],
    ['100000', '-100000', '0'],
    ['0.50', '-0.50', '0.00'],
    ['0.1', '-0.25', '-0.15'],
    ['-1.5', '1.25', '-0.25'],
    ['98493.5', '-98000', '493.5'],
    ['999999999999999.99999999', '0.00000001', '1000000000000000.00000000'],
    ['12', '0.00000001', '12.00000001'],
  ])('%s + %s = %s', (a, b, sum) => {
    expect(numericAdd(a, b)).toBe(sum);
  });

  it('negates without a negative zero', () => {
    expect(numericNeg('98000')).toBe('-98000');
    expect(numericNeg('-0.25')).toBe('0.25');
    expect(numericNeg('0')).toBe('0');
    expect(numericNeg('0.00')).toBe('0.00');
    expect(numericAdd('100', numericNeg('0.00'))).toBe('100.00');
  });

  it('compares exactly across scales', () => {
    expect(numericGte('10.00', '10')).toBe(true);
    expect(numericGte('9.999', '10')).toBe(false);
    expect(numericGte('-0.01', '0')).toBe(false);
    expect(numericGte('0', '-0.01')).toBe(true);
    expect(numericGte('1000000000000000.00000001', '1000000000000000')).toBe(true);
  });
});
