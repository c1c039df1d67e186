// The token-refresh schedule: every tick, one `live.refresh` command per refreshable connection whose access token
// expires soon (or already has), into its user's partition. The actor refreshes (single-flight, fenced by version).
//
// The envelope id is derived from (connection, token version, tick): every replica appends the same id within one tick,
// so the runtime's processed_commands turns the repeats into no-ops. The tick is part of it so that a refresh that
// failed for a passing reason (KMS or the token endpoint down: the actor records that decision) is tried again on the
// next tick, not never; the actor skips a token that is no longer due, so a later id after a success changes nothing.
// Job data and envelopes carry ids only; nothing about tokens leaves PostgreSQL.
import { and, eq, isNotNull, isNull, lte } from 'drizzle-orm';
import { LIVE_COMMAND_TYPES, LIVE_REFRESH_WINDOW_MS, nameUuid } from '../../contracts/index.js';
import { alpacaLiveConnections as t } from '../../infra/db/index.js';
import { appendPerConnection, type LiveFanOutDeps } from './connection-fan-out.js';

export { LIVE_REFRESH_WINDOW_MS };
/** Tick interval of the schedule (well inside the window: a token gets several chances before it expires). */
export const LIVE_REFRESH_EVERY_MS = 60_000;

/** The envelope id of the refresh of one token version in one tick (`tick` = floor(time / LIVE_REFRESH_EVERY_MS)). */
export const liveRefreshCommandId = (connectionId: string, version: number, tick: number): string =>
  nameUuid('raxx-live-refresh', '\0', connectionId, '\0', String(version), '\0', String(tick));

export interface RefreshScheduleDeps extends LiveFanOutDeps {
  /** Default LIVE_REFRESH_WINDOW_MS. */
  windowMs?: number;
  onAppended?(n: number): void;
}

export interface RefreshScheduleResult {
  appended: number;
  batches: number;
}

/** One tick: active, not needing re-authorisation, holding a refresh token, expiring before now + window. */
export async function runRefreshSchedule(deps: RefreshScheduleDeps): Promise<RefreshScheduleResult> {
  const now = deps.now();
  const horizon = new Date(now + (deps.windowMs ?? LIVE_REFRESH_WINDOW_MS));
  const tick = Math.floor(now / LIVE_REFRESH_EVERY_MS);
  const { appended, batches } = await appendPerConnection(deps, {
    where: and(isNull(t.revokedAt), eq(t.needsReauth, false), isNotNull(t.refreshTokenCiphertext), lte(t.expiresAt, horizon)),
    afterId: null,
    command: (c) => ({ id: liveRefreshCommandId(c.id, c.version, tick), type: LIVE_COMMAND_TYPES.refresh, payload: { connectionId: c.id } }),
  });
  deps.onAppended?.(appended);
  if (appended > 0) deps.logger.info({ appended, batches, horizon: horizon.toISOString() }, 'live refresh schedule: refreshes appended');
  return { appended, batches };
}
