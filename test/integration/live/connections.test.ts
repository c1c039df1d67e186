// The sealed connection store on real PostgreSQL (app role, RLS) with tokens sealed by the simulator's KMS.
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveTokenEncryptionContext } from '../../../src/contracts/live.js';
import { alpacaLiveConnections, createDb, DbError, users, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { createKmsClient, Envelope, SealedTokenInvalidError } from '../../../src/infra/kms/index.js';
import {
  activeConnection,
  consentExpired,
  insertConnection,
  insertSealedConnection,
  LiveNotConnectedError,
  markNeedsReauth,
  openTokens,
  readSealed,
  replaceTokens,
  revokeConnection,
  sealTokens,
  touchLastUsed,
  type LiveConnection,
} from '../../../src/infra/live/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { errorText, rejection } from '../../support/canary.js';
import { simKmsOptions } from '../../support/sim-kms.js';
import { startTestSimulator } from '../../support/simulator.js';

const CANARY = `canary-live-token-${randomUUID()}`;
const RECONSENT_DAYS = 90;
const DAY = 86_400_000;
const NOW = new Date('2026-03-02T15:00:00.000Z');

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let t: TestDatabase;
let app: DbHandle;
let batch: DbHandle;
let envelope: Envelope;
let kmsClose: () => void;
const thrown: unknown[] = [];

const failure = (p: Promise<unknown>) => rejection(p, thrown);

const tokens = (tag: string, refresh = true) => ({
  accessToken: `${CANARY}-access-${tag}`,
  ...(refresh ? { refreshToken: `${CANARY}-refresh-${tag}` } : {}),
  scope: 'account:write trading',
});

/** The raw row as the batch role sees it (no RLS scope needed). */
async function rawRow(id: string) {
  const [row] = await batch.db.select().from(alpacaLiveConnections).where(eq(alpacaLiveConnections.id, id));
  return row!;
}

async function newUser(): Promise<string> {
  const id = `live-user-${randomUUID()}`;
  await batch.db.insert(users).values({ id, tier: 'pro' });
  return id;
}

async function connect(userId: string, tag: string, refresh = true): Promise<LiveConnection> {
  return withTenant(app.db, [userId], (tx) =>
    insertConnection(tx, envelope, { userId, connectionId: randomUUID(), tokens: tokens(tag, refresh), now: NOW, reconsentDays: RECONSENT_DAYS }),
  );
}

beforeAll(async () => {
  [sim, t] = await Promise.all([startTestSimulator(), createTestDatabase('raxx_live_conn')]);
  app = createDb(t.appUrl, { max: 6 });
  batch = createDb(t.batchUrl, { max: 2 });
  const kms = createKmsClient(simKmsOptions(sim.kmsUrl));
  kmsClose = () => kms.destroy();
  envelope = new Envelope(kms, { keyId: 'alias/raxx-live-tokens', timeoutMs: 5_000 });
});

afterAll(async () => {
  kmsClose?.();
  await Promise.allSettled([app?.close(), batch?.close()]);
  await Promise.allSettled([t?.drop(), sim?.close()]);
});

describe('live connections', () => {
  it('stores a connection sealed (no plaintext in any column) and opens it again', async () => {
    const userId = await newUser();
    const connectionId = randomUUID();
    // The split form: KMS before the transaction, only SQL inside it.
    const sealed = await sealTokens(envelope, userId, connectionId, tokens('a'));
    const c = await withTenant(app.db, [userId], (tx) => insertSealedConnection(tx, { sealed, now: NOW, reconsentDays: RECONSENT_DAYS }));
    expect(c).toMatchObject({ id: connectionId, userId, scopes: 'account:write trading', version: 1, needsReauth: false, hasRefreshToken: true });
    expect(c.kmsKeyId).toMatch(/^arn:aws:kms:us-east-1:\d{12}:key\/[0-9a-f-]{36}$/);
    expect(c.issuedAt.toISOString()).toBe(NOW.toISOString());
    expect(c.expiresAt.getTime()).toBe(NOW.getTime() + RECONSENT_DAYS * DAY);
    expect(c.revokedAt).toBeNull();

    const found = await withTenant(app.db, [userId], (tx) => activeConnection(tx, userId));
    expect(found).toEqual(c);
    const opened = await withTenant(app.db, [userId], (tx) => openTokens(tx, envelope, c));
    expect(opened).toEqual({ ...tokens('a'), expiresAt: c.expiresAt });

    const row = await rawRow(connectionId);
    for (const value of Object.values(row)) {
      const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
      expect(bytes.includes(Buffer.from(CANARY))).toBe(false);
    }
    expect(row.accessTokenIv).toHaveLength(12);
  });

  it("uses the broker's expiry when it gives one, and stores no refresh columns without a refresh token", async () => {
    const userId = await newUser();
    const expiresAt = new Date(NOW.getTime() + 3_600_000);
    const c = await withTenant(app.db, [userId], (tx) =>
      insertConnection(tx, envelope, {
        userId,
        connectionId: randomUUID(),
        tokens: { ...tokens('b', false), expiresAt },
        now: NOW,
        reconsentDays: RECONSENT_DAYS,
      }),
    );
    expect(c.expiresAt.toISOString()).toBe(expiresAt.toISOString());
    expect(c.hasRefreshToken).toBe(false);
    const row = await rawRow(c.id);
    expect([row.refreshTokenCiphertext, row.refreshTokenIv, row.refreshTokenWrappedDek]).toEqual([null, null, null]);
    const opened = await withTenant(app.db, [userId], (tx) => openTokens(tx, envelope, c));
    expect(opened).toEqual({ accessToken: `${CANARY}-access-b`, scope: 'account:write trading', expiresAt });
  });

  it('replaceTokens is fenced by version: of two refreshes from the same seen version exactly one wins', async () => {
    const userId = await newUser();
    const c = await connect(userId, 'v1');
    const [x, y] = await Promise.all([sealTokens(envelope, userId, c.id, tokens('x')), sealTokens(envelope, userId, c.id, tokens('y'))]);
    const later = new Date(NOW.getTime() + 7_200_000);
    const results = await Promise.all(
      [x, y].map((sealed) => withTenant(app.db, [userId], (tx) => replaceTokens(tx, { connection: c, sealed, expiresAt: later }))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results[0] ? 'x' : 'y';
    const now = (await withTenant(app.db, [userId], (tx) => activeConnection(tx, userId)))!;
    expect(now.version).toBe(2);
    expect(now.expiresAt.toISOString()).toBe(later.toISOString());
    expect(await withTenant(app.db, [userId], (tx) => openTokens(tx, envelope, now))).toMatchObject({
      accessToken: `${CANARY}-access-${winner}`,
      refreshToken: `${CANARY}-refresh-${winner}`,
    });
    // A third attempt from the stale version loses too.
    expect(await withTenant(app.db, [userId], (tx) => replaceTokens(tx, { connection: c, sealed: x, expiresAt: later }))).toBe(false);
    // Tokens sealed for another connection are refused before any write.
    const other = await sealTokens(envelope, userId, randomUUID(), tokens('z'));
    await expect(withTenant(app.db, [userId], (tx) => replaceTokens(tx, { connection: now, sealed: other, expiresAt: later }))).rejects.toThrow(
      TypeError,
    );
  });

  it('revoke keeps the row, sets revoked_at and overwrites every sealed column with same-length random bytes', async () => {
    const userId = await newUser();
    const c = await connect(userId, 'r');
    const before = await rawRow(c.id);
    expect((await withTenant(app.db, [userId], (tx) => readSealed(tx, c))).columns.accessTokenWrappedDek.equals(before.accessTokenWrappedDek)).toBe(true);
    const at = new Date(NOW.getTime() + 60_000);
    const revoked = await withTenant(app.db, [userId], (tx) => revokeConnection(tx, { userId, at }));
    expect(revoked).toMatchObject({ id: c.id, revokedAt: at, hasRefreshToken: true });

    const after = await rawRow(c.id);
    expect(after.revokedAt?.toISOString()).toBe(at.toISOString());
    expect(after.kmsKeyId).toBe(before.kmsKeyId);
    for (const col of [
      'accessTokenCiphertext',
      'accessTokenIv',
      'accessTokenWrappedDek',
      'refreshTokenCiphertext',
      'refreshTokenIv',
      'refreshTokenWrappedDek',
    ] as const) {
      const was = before[col]!;
      const now = after[col]!;
      expect({ col, length: now.length }).toEqual({ col, length: was.length });
      expect({ col, same: now.equals(was) }).toEqual({ col, same: false });
    }
    // Shredded: the stored bytes no longer open, and the store refuses to try.
    const shredded = { ciphertext: after.accessTokenCiphertext, iv: after.accessTokenIv, wrappedDek: after.accessTokenWrappedDek, kmsKeyId: after.kmsKeyId };
    expect(await failure(envelope.open(shredded, liveTokenEncryptionContext(userId, c.id)))).toBeInstanceOf(SealedTokenInvalidError);
    expect(await failure(withTenant(app.db, [userId], (tx) => openTokens(tx, envelope, c)))).toBeInstanceOf(LiveNotConnectedError);
    expect(await withTenant(app.db, [userId], (tx) => activeConnection(tx, userId))).toBeUndefined();
    // Revoking again is a no-op.
    expect(await withTenant(app.db, [userId], (tx) => revokeConnection(tx, { userId }))).toBeUndefined();

    // A new connection is allowed afterwards.
    const next = await connect(userId, 'r2');
    expect((await withTenant(app.db, [userId], (tx) => activeConnection(tx, userId)))?.id).toBe(next.id);
  });

  it('one active connection per user: connecting again revokes the old one; the unique index refuses a second active row', async () => {
    const userId = await newUser();
    const first = await connect(userId, 'one');
    const firstBytes = (await rawRow(first.id)).accessTokenCiphertext;
    const second = await connect(userId, 'two');
    const old = await rawRow(first.id);
    expect(old.revokedAt).not.toBeNull();
    expect(old.accessTokenCiphertext.equals(firstBytes)).toBe(false);
    expect((await withTenant(app.db, [userId], (tx) => activeConnection(tx, userId)))?.id).toBe(second.id);

    // Bypassing insertConnection (a raw second active row) hits the partial unique index.
    const sealed = await sealTokens(envelope, userId, randomUUID(), tokens('three'));
    const err = await failure(
      withTenant(app.db, [userId], (tx) =>
        tx.insert(alpacaLiveConnections).values({
          id: sealed.connectionId,
          userId,
          scopes: sealed.scope,
          ...sealed.columns,
          issuedAt: NOW,
          expiresAt: NOW,
          version: 1,
        }),
      ),
    );
    expect(err).toBeInstanceOf(DbError);
    expect(err).toMatchObject({ sqlstate: '23505', details: { constraint: 'alpaca_live_connections_one_active_per_user' } });
    const [{ n }] = (await batch.db.execute<{ n: number }>(
      sql`select count(*)::int as n from alpaca_live_connections where user_id = ${userId} and revoked_at is null`,
    )) as unknown as [{ n: number }];
    expect(n).toBe(1);
  });

  it("RLS: user B's scope cannot read, open, revoke or write A's connection", async () => {
    const a = await newUser();
    const b = await newUser();
    const ca = await connect(a, 'rls');
    await withTenant(app.db, [b], async (tx) => {
      expect(await activeConnection(tx, a)).toBeUndefined();
      expect(await revokeConnection(tx, { userId: a })).toBeUndefined();
      await markNeedsReauth(tx, ca.id);
      await touchLastUsed(tx, ca.id, NOW);
    });
    expect(await failure(withTenant(app.db, [b], (tx) => openTokens(tx, envelope, ca)))).toBeInstanceOf(LiveNotConnectedError);
    const untouched = await rawRow(ca.id);
    expect([untouched.revokedAt, untouched.needsReauth, untouched.lastUsedAt]).toEqual([null, false, null]);

    // Writing a connection for A from B's scope is refused by the policy's WITH CHECK.
    const sealed = await sealTokens(envelope, a, randomUUID(), tokens('forged'));
    const err = await failure(withTenant(app.db, [b], (tx) => insertSealedConnection(tx, { sealed, now: NOW, reconsentDays: RECONSENT_DAYS })));
    expect(err).toMatchObject({ sqlstate: '42501' });
    expect((await withTenant(app.db, [a], (tx) => activeConnection(tx, a)))?.id).toBe(ca.id);
  });

  it('markNeedsReauth, touchLastUsed (never backwards) and the re-consent cap', async () => {
    const userId = await newUser();
    const c = await connect(userId, 'm');
    const t1 = new Date(NOW.getTime() + 1_000);
    const t0 = new Date(NOW.getTime() + 500);
    await withTenant(app.db, [userId], async (tx) => {
      await markNeedsReauth(tx, c.id);
      await touchLastUsed(tx, c.id, t1);
      await touchLastUsed(tx, c.id, t0);
    });
    const now = (await withTenant(app.db, [userId], (tx) => activeConnection(tx, userId)))!;
    expect(now.needsReauth).toBe(true);
    expect(now.lastUsedAt?.toISOString()).toBe(t1.toISOString());

    const cap = new Date(NOW.getTime() + RECONSENT_DAYS * DAY);
    expect(consentExpired(now, new Date(cap.getTime() - 1), RECONSENT_DAYS)).toBe(false);
    expect(consentExpired(now, cap, RECONSENT_DAYS)).toBe(true);
  });

  it('canary: no error provoked here carries a token', () => {
    expect(thrown.length).toBeGreaterThanOrEqual(5);
    for (const err of thrown) {
      expect(errorText(err)).not.toContain('canary-live-token');
    }
  });
});
