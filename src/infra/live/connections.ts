// The sealed live-broker connection store: one row per OAuth grant, tokens only as KMS envelopes, one active per user.
//
// Every function runs inside the caller's transaction (`withTenant(db, [userId], …)` for the app role, or a raxx_batch
// transaction). KMS calls are kept out of them where it matters: seal with `sealTokens` *before* opening the
// transaction, then `insertSealedConnection` / `replaceTokens`, so no KMS round trip (up to its timeout) is ever made
// while a row lock is held. Auditing is the caller's job (the audit row names the actor and the reason).
import { randomBytes } from 'node:crypto';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { liveTokenEncryptionContext, type LiveErrorCode } from '../../contracts/live.js';
import type { Executor } from '../db/client.js';
import { toDbError } from '../db/errors.js';
import { alpacaLiveConnections as t } from '../db/schema/live.js';
import type { Envelope, SealedValue } from '../kms/envelope.js';

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** access-token expiry if the broker gave one */
  expiresAt?: Date;
  scope: string;
}

export interface LiveConnection {
  id: string;
  userId: string;
  scopes: string;
  kmsKeyId: string;
  issuedAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  needsReauth: boolean;
  version: number;
  hasRefreshToken: boolean;
}

/** The sealed columns of one row, named as the table's columns. */
export interface SealedColumns {
  accessTokenCiphertext: Buffer;
  accessTokenIv: Buffer;
  accessTokenWrappedDek: Buffer;
  kmsKeyId: string;
  refreshTokenCiphertext: Buffer | null;
  refreshTokenIv: Buffer | null;
  refreshTokenWrappedDek: Buffer | null;
}

/** What `sealTokens` makes: sealed columns plus the non-secret facts of the token set and whom they are bound to. */
export interface SealedTokens {
  /** The encryption context's user and connection: the columns open only in this row. */
  userId: string;
  connectionId: string;
  scope: string;
  expiresAt: Date | undefined;
  columns: SealedColumns;
}

/** No active connection where one was needed (revoked meanwhile, or never connected). */
export class LiveNotConnectedError extends Error {
  readonly code = 'not_connected' satisfies LiveErrorCode;
  override readonly name = 'LiveNotConnectedError';
  constructor() {
    super('no active live connection');
  }
}

const DAY_MS = 86_400_000;

const connectionColumns = {
  id: t.id,
  userId: t.userId,
  scopes: t.scopes,
  kmsKeyId: t.kmsKeyId,
  issuedAt: t.issuedAt,
  expiresAt: t.expiresAt,
  lastUsedAt: t.lastUsedAt,
  revokedAt: t.revokedAt,
  needsReauth: t.needsReauth,
  version: t.version,
  hasRefreshToken: sql<boolean>`${t.refreshTokenCiphertext} is not null`,
};

/** Database errors leave as DbError: drizzle's own messages list every bound parameter (sealed bytes included). */
async function query<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toDbError(err);
  }
}

/**
 * Seals the access (and refresh) token under the connection's encryption context. KMS calls only: run it before the
 * transaction that stores the result. Both tokens end up under one KMS key ARN (the row has one `kms_key_id`).
 */
export async function sealTokens(envelope: Envelope, userId: string, connectionId: string, tokens: TokenSet): Promise<SealedTokens> {
  if (typeof tokens.accessToken !== 'string' || tokens.accessToken.length === 0) throw new TypeError('sealTokens: the access token is empty');
  const context = liveTokenEncryptionContext(userId, connectionId);
  const access = await envelope.seal(tokens.accessToken, context);
  let refresh: SealedValue | undefined;
  if (tokens.refreshToken !== undefined) {
    refresh = await envelope.seal(tokens.refreshToken, context);
    // The alias moved between the two calls (a key rotation in progress): bring the refresh token's data key along.
    if (refresh.kmsKeyId !== access.kmsKeyId) refresh = { ...refresh, ...(await envelope.rewrap(refresh, context, access.kmsKeyId)) };
  }
  return {
    userId,
    connectionId,
    scope: tokens.scope,
    expiresAt: tokens.expiresAt,
    columns: {
      accessTokenCiphertext: access.ciphertext,
      accessTokenIv: access.iv,
      accessTokenWrappedDek: access.wrappedDek,
      kmsKeyId: access.kmsKeyId,
      refreshTokenCiphertext: refresh?.ciphertext ?? null,
      refreshTokenIv: refresh?.iv ?? null,
      refreshTokenWrappedDek: refresh?.wrappedDek ?? null,
    },
  };
}

/**
 * Stores a sealed connection as the user's one active connection: any other active one is revoked (crypto-shredded)
 * first, in the same transaction. expires_at = the broker's expiry, else now + reconsentDays.
 */
export async function insertSealedConnection(
  tx: Executor,
  a: { sealed: SealedTokens; now: Date; reconsentDays: number },
): Promise<LiveConnection> {
  const { sealed, now } = a;
  await revokeAll(tx, sealed.userId, undefined, now);
  const [row] = await query(() =>
    tx
      .insert(t)
      .values({
        id: sealed.connectionId,
        userId: sealed.userId,
        scopes: sealed.scope,
        ...sealed.columns,
        issuedAt: now,
        expiresAt: sealed.expiresAt ?? new Date(now.getTime() + a.reconsentDays * DAY_MS),
        version: 1,
      })
      .returning(connectionColumns),
  );
  return row!;
}

/**
 * sealTokens + insertSealedConnection in one call. It makes KMS calls inside the caller's transaction: prefer the
 * split form on request paths.
 */
export async function insertConnection(
  tx: Executor,
  envelope: Envelope,
  a: { userId: string; connectionId: string; tokens: TokenSet; now: Date; reconsentDays: number },
): Promise<LiveConnection> {
  const sealed = await sealTokens(envelope, a.userId, a.connectionId, a.tokens);
  return insertSealedConnection(tx, { sealed, now: a.now, reconsentDays: a.reconsentDays });
}

export async function activeConnection(tx: Executor, userId: string): Promise<LiveConnection | undefined> {
  const [row] = await query(() =>
    tx
      .select(connectionColumns)
      .from(t)
      .where(and(eq(t.userId, userId), isNull(t.revokedAt))),
  );
  return row;
}

/** The stored envelopes of an active connection (no KMS call); LiveNotConnectedError once it is revoked. */
export async function readSealed(tx: Executor, connection: Pick<LiveConnection, 'id' | 'userId'>): Promise<SealedTokens> {
  const [row] = await query(() =>
    tx
      .select({
        scopes: t.scopes,
        expiresAt: t.expiresAt,
        accessTokenCiphertext: t.accessTokenCiphertext,
        accessTokenIv: t.accessTokenIv,
        accessTokenWrappedDek: t.accessTokenWrappedDek,
        kmsKeyId: t.kmsKeyId,
        refreshTokenCiphertext: t.refreshTokenCiphertext,
        refreshTokenIv: t.refreshTokenIv,
        refreshTokenWrappedDek: t.refreshTokenWrappedDek,
      })
      .from(t)
      .where(and(eq(t.id, connection.id), eq(t.userId, connection.userId), isNull(t.revokedAt))),
  );
  if (!row) throw new LiveNotConnectedError();
  const { scopes, expiresAt, ...columns } = row;
  return { userId: connection.userId, connectionId: connection.id, scope: scopes, expiresAt, columns };
}

/**
 * Opens sealed tokens (KMS Decrypt per token; no database). `expiresAt` is the row's: the broker's expiry when it
 * gave one, else the re-consent deadline.
 */
export async function openSealed(envelope: Envelope, sealed: SealedTokens): Promise<TokenSet> {
  const context = liveTokenEncryptionContext(sealed.userId, sealed.connectionId);
  const c = sealed.columns;
  const accessToken = await envelope.open(
    { ciphertext: c.accessTokenCiphertext, iv: c.accessTokenIv, wrappedDek: c.accessTokenWrappedDek, kmsKeyId: c.kmsKeyId },
    context,
  );
  const tokens: TokenSet = { accessToken, scope: sealed.scope };
  if (sealed.expiresAt) tokens.expiresAt = sealed.expiresAt;
  if (c.refreshTokenCiphertext && c.refreshTokenIv && c.refreshTokenWrappedDek) {
    tokens.refreshToken = await envelope.open(
      { ciphertext: c.refreshTokenCiphertext, iv: c.refreshTokenIv, wrappedDek: c.refreshTokenWrappedDek, kmsKeyId: c.kmsKeyId },
      context,
    );
  }
  return tokens;
}

/** readSealed + openSealed. Holds no lock, but keeps the transaction open across the KMS calls. */
export async function openTokens(tx: Executor, envelope: Envelope, connection: LiveConnection): Promise<TokenSet> {
  return openSealed(envelope, await readSealed(tx, connection));
}

/**
 * Stores refreshed tokens if nobody else did first: `version = seen` fences concurrent refreshers; false = lost the
 * race (re-read). The refresh columns become exactly what `sealed` holds: seal the old refresh token again if the
 * broker did not rotate it.
 */
export async function replaceTokens(
  tx: Executor,
  a: { connection: LiveConnection; sealed: SealedTokens; expiresAt: Date },
): Promise<boolean> {
  const { connection, sealed } = a;
  if (sealed.userId !== connection.userId || sealed.connectionId !== connection.id) {
    throw new TypeError('replaceTokens: the tokens were sealed for another connection');
  }
  const rows = await query(() =>
    tx
      .update(t)
      .set({ ...sealed.columns, scopes: sealed.scope, expiresAt: a.expiresAt, version: sql`${t.version} + 1` })
      .where(and(eq(t.id, connection.id), eq(t.version, connection.version), isNull(t.revokedAt)))
      .returning({ id: t.id }),
  );
  return rows.length === 1;
}

/**
 * Revokes and crypto-shreds: sets revoked_at and overwrites every sealed column with random bytes of the same length,
 * keeping the row (and its non-secret facts) for the record. The active connection of the user, or only
 * `connectionId` if given; undefined when there was none (already revoked: nothing to do).
 */
export async function revokeConnection(
  tx: Executor,
  a: { userId: string; connectionId?: string; at?: Date },
): Promise<LiveConnection | undefined> {
  const [revoked] = await revokeAll(tx, a.userId, a.connectionId, a.at);
  return revoked;
}

async function revokeAll(tx: Executor, userId: string, connectionId: string | undefined, at: Date | undefined): Promise<LiveConnection[]> {
  const targets = await query(() =>
    tx
      .select({
        id: t.id,
        access: sql<number>`octet_length(${t.accessTokenCiphertext})`,
        accessIv: sql<number>`octet_length(${t.accessTokenIv})`,
        accessDek: sql<number>`octet_length(${t.accessTokenWrappedDek})`,
        refresh: sql<number | null>`octet_length(${t.refreshTokenCiphertext})`,
        refreshIv: sql<number | null>`octet_length(${t.refreshTokenIv})`,
        refreshDek: sql<number | null>`octet_length(${t.refreshTokenWrappedDek})`,
      })
      .from(t)
      .where(and(eq(t.userId, userId), isNull(t.revokedAt), connectionId === undefined ? undefined : eq(t.id, connectionId)))
      .for('update'),
  );
  const noise = (n: number | null) => (n === null ? null : randomBytes(Number(n)));
  const out: LiveConnection[] = [];
  for (const r of targets) {
    const [row] = await query(() =>
      tx
        .update(t)
        .set({
          revokedAt: at ?? sql`now()`,
          accessTokenCiphertext: noise(r.access)!,
          accessTokenIv: noise(r.accessIv)!,
          accessTokenWrappedDek: noise(r.accessDek)!,
          refreshTokenCiphertext: noise(r.refresh),
          refreshTokenIv: noise(r.refreshIv),
          refreshTokenWrappedDek: noise(r.refreshDek),
        })
        .where(eq(t.id, r.id))
        .returning(connectionColumns),
    );
    out.push(row!);
  }
  return out;
}

/** The broker refused the token (401) or a refresh failed for good: live use stops until the user reconnects. */
export async function markNeedsReauth(tx: Executor, connectionId: string): Promise<void> {
  await query(() => tx.update(t).set({ needsReauth: true }).where(eq(t.id, connectionId)));
}

/** Records a use; never moves last_used_at backwards (uses may be recorded out of order). */
export async function touchLastUsed(tx: Executor, connectionId: string, at: Date): Promise<void> {
  await query(() =>
    tx
      .update(t)
      .set({ lastUsedAt: at })
      .where(and(eq(t.id, connectionId), or(isNull(t.lastUsedAt), lt(t.lastUsedAt, at)))),
  );
}

/** The re-consent cap: a grant older than reconsentDays needs the user to authorise again, whatever the broker says. */
export function consentExpired(c: Pick<LiveConnection, 'issuedAt'>, now: Date, reconsentDays: number): boolean {
  return c.issuedAt.getTime() + reconsentDays * DAY_MS <= now.getTime();
}
