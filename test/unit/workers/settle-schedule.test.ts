// Pure pieces of the settle fan-out: the deterministic command id, the catch-up rule, New York wall times.
import { describe, expect, it } from 'vitest';
import { settleCommandId } from '../../../src/contracts/index.js';
import { newYorkDate, newYorkWallTime } from '../../../src/infra/alpaca/index.js';
import { envelopeSchema } from '../../../src/runtime/index.js';
import { sessionsToFanOut, type SessionClose } from '../../../src/workers/index.js';

describe('settleCommandId', () => {
  it('is a version-5 UUID the envelope schema accepts, the same for the same (user, day) and different otherwise', () => {
    const id = settleCommandId('user-1', '2026-03-02');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(envelopeSchema.parse({ id, userId: 'user-1', type: 'mbt.settle', payload: {}, issuedAt: 'x' }).id).toBe(id);
    expect(settleCommandId('user-1', '2026-03-02')).toBe(id);
    const others = [settleCommandId('user-2', '2026-03-02'), settleCommandId('user-1', '2026-03-03'), settleCommandId('user-1|2026-03-02', '2026-03-02')];
    expect(new Set([id, ...others]).size).toBe(4);
  });

  it('refuses a day that is not YYYY-MM-DD', () => {
    expect(() => settleCommandId('u', '2026-3-2')).toThrow();
  });
});

describe('sessionsToFanOut', () => {
  const s = (date: string, close: string): SessionClose => ({ date, closeAt: new Date(close) });
  const week = [s('2026-03-02', '2026-03-02T21:00:00Z'), s('2026-03-03', '2026-03-03T21:00:00Z'), s('2026-03-04', '2026-03-04T21:00:00Z'), s('2026-03-05', '2026-03-05T21:00:00Z')];
  const at = (iso: string) => Date.parse(iso);

  it.each([
    ['catch-up after the watermark, oldest first', '2026-03-02', '2026-03-05T22:00:00Z', ['2026-03-03', '2026-03-04', '2026-03-05']],
    ['a close exactly now counts as passed', '2026-03-03', '2026-03-04T21:00:00Z', ['2026-03-04']],
    ['one millisecond before the close it does not', '2026-03-03', '2026-03-04T20:59:59.999Z', []],
    ['nothing after the watermark', '2026-03-05', '2026-03-06T12:00:00Z', []],
    ['first run: only the latest passed close', null, '2026-03-04T23:00:00Z', ['2026-03-04']],
    ['first run before any close: nothing', null, '2026-03-01T12:00:00Z', []],
  ] as const)('%s', (_name, watermark, now, expected) => {
    expect(sessionsToFanOut([...week].reverse(), watermark, at(now)).map((x) => x.date)).toEqual(expected);
  });
});

describe('New York wall time', () => {
  it.each([
    ['2026-01-05', '16:00', '2026-01-05T21:00:00.000Z'], // EST
    ['2026-07-06', '16:00', '2026-07-06T20:00:00.000Z'], // EDT
    ['2026-03-09', '09:30', '2026-03-09T13:30:00.000Z'], // the Monday after the spring change
    ['2026-11-27', '13:00', '2026-11-27T18:00:00.000Z'], // early close, EST again
  ])('%s %s is %s', (date, hhmm, iso) => {
    expect(newYorkWallTime(date, hhmm).toISOString()).toBe(iso);
  });

  it('dates an instant by the New York calendar, not UTC', () => {
    expect(newYorkDate(Date.parse('2026-03-03T03:00:00Z'))).toBe('2026-03-02');
    expect(newYorkDate(Date.parse('2026-03-03T05:00:00Z'))).toBe('2026-03-03');
  });
});
