// The ids the live-handoff jobs derive: stable for the same inputs (what makes a retry or another replica's tick a
// no-op at the actor), different for anything that must be processed again, and valid BullMQ job ids.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LIVE_REVOKE_ALL_JOB, LIVE_ROTATE_KEYS_JOB, liveJobId, liveRefreshCommandId, massRevokeCommandId } from '../../../src/workers/index.js';

const uuid = z.uuid();

describe('live job ids', () => {
  it('a refresh id depends on the connection and the token version only', () => {
    const c = randomUUID();
    const other = randomUUID();
    expect(liveRefreshCommandId(c, 3, 7)).toBe(liveRefreshCommandId(c, 3, 7));
    expect(uuid.safeParse(liveRefreshCommandId(c, 3, 7)).success).toBe(true);
    expect(new Set([liveRefreshCommandId(c, 3, 7), liveRefreshCommandId(c, 4, 7), liveRefreshCommandId(other, 3, 7), liveRefreshCommandId(c, 3, 8)]).size).toBe(4);
    // Separators keep (connection, version) pairs from colliding through concatenation.
    expect(liveRefreshCommandId('a1', 1, 7)).not.toBe(liveRefreshCommandId('a', 11, 7));
  });

  it('a mass-revoke id depends on the run and the connection, and differs from the refresh ids', () => {
    const c = randomUUID();
    const run = liveJobId(LIVE_REVOKE_ALL_JOB, randomUUID());
    expect(massRevokeCommandId(run, c)).toBe(massRevokeCommandId(run, c));
    expect(massRevokeCommandId(run, c)).not.toBe(massRevokeCommandId(liveJobId(LIVE_REVOKE_ALL_JOB, randomUUID()), c));
    expect(massRevokeCommandId(run, c)).not.toBe(massRevokeCommandId(run, randomUUID()));
    expect(massRevokeCommandId(run, c)).not.toBe(liveRefreshCommandId(c, 1, 7));
  });

  it('job ids are valid for BullMQ: no ":" and never integer-like', () => {
    for (const name of [LIVE_REVOKE_ALL_JOB, LIVE_ROTATE_KEYS_JOB] as const) {
      const id = liveJobId(name, randomUUID());
      expect(id).not.toContain(':');
      expect(Number.isInteger(Number(id))).toBe(false);
      expect(id.startsWith(`${name}|`)).toBe(true);
    }
  });
});
