// Decimal arithmetic for MBT: exact decimal strings in state and outputs, never binary floats.
import { Decimal as DecimalJs } from 'decimal.js';

/** A private Decimal class: wide precision, half-up rounding, plain notation (never "1e-9"). */
export const Dec = DecimalJs.clone({
  precision: 60,
  rounding: DecimalJs.ROUND_HALF_UP,
  toExpNeg: -60,
  toExpPos: 60,
});
export type Dec = InstanceType<typeof Dec>;

export const ZERO = new Dec(0);

/** A decimal from a state/input string or an upstream JSON number (numbers go through their shortest string form). */
export function d(value: string | number | Dec): Dec {
  return value instanceof Dec ? value : new Dec(typeof value === 'number' ? String(value) : value);
}

/** Canonical decimal string: no exponent, no trailing zeros ("1.50" → "1.5", "-0" → "0"). */
export function str(value: Dec): string {
  return value.isZero() ? '0' : value.toString();
}

/** Money shown to users: half-up to the cent, always two decimals. */
export function cents(value: Dec): string {
  return value.toDecimalPlaces(2, Dec.ROUND_HALF_UP).toFixed(2);
}

/** Half-up to the cent, as a Decimal (collar prices, fees). */
export function roundCents(value: Dec): Dec {
  return value.toDecimalPlaces(2, Dec.ROUND_HALF_UP);
}

/** Quantities keep at most 9 decimals; notional orders truncate (never round up past what the notional pays for). */
export function truncQty(value: Dec): Dec {
  return value.toDecimalPlaces(9, Dec.ROUND_DOWN);
}

export function min(a: Dec, b: Dec): Dec {
  return a.lte(b) ? a : b;
}

export function max(a: Dec, b: Dec): Dec {
  return a.gte(b) ? a : b;
}

/** Number of decimals a decimal string carries as written ("10.50" → 2). */
export function decimalsOf(value: string): number {
  const dot = value.indexOf('.');
  return dot < 0 ? 0 : value.length - dot - 1;
}

/** Strict decimal string (optional minus, no exponent). */
export const DECIMAL_RE = /^-?(0|[1-9]\d*)(\.\d+)?$/;
