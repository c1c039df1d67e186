// Nanosecond timestamps: conversions between Date/ms, bigint nanoseconds and RFC 3339 with 9 fractional digits.
import type { Nanos } from './types.js';

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SEC = 1_000_000_000n;
export const NS_PER_MIN = 60n * NS_PER_SEC;
export const NS_PER_DAY = 1440n * NS_PER_MIN;

export function msToNanos(ms: number): Nanos {
  const whole = Math.floor(ms);
  return BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6));
}

export function nanosToMs(ns: Nanos): number {
  return Number(ns / NS_PER_MS);
}

/** `2026-03-02T14:30:00.123456789Z` (always 9 fractional digits, UTC). */
export function formatRfc3339Nanos(ns: Nanos): string {
  let sec = ns / NS_PER_SEC;
  let frac = ns % NS_PER_SEC;
  if (frac < 0n) {
    frac += NS_PER_SEC;
    sec -= 1n;
  }
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  return `${base}.${frac.toString().padStart(9, '0')}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Parses RFC 3339 with up to 9 fractional digits (any offset) into nanoseconds; undefined if malformed. */
export function parseRfc3339Nanos(text: string): Nanos | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const secMs = Date.parse(`${m[1]}${m[3] === 'Z' ? 'Z' : m[3]}`);
  if (Number.isNaN(secMs)) return undefined;
  const frac = BigInt((m[2] ?? '').padEnd(9, '0'));
  return BigInt(secMs) * NS_PER_MS + frac;
}
