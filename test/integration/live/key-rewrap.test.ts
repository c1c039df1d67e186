// Key re-wrap batches as the workers run them (raxx_batch, across tenants) against the simulator's KMS and PostgreSQL.
import { randomBytes, randomUUID } from 'node:crypto';
import { CreateAliasCommand, CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../../../src/infra/audit/index.js';
import { alpacaLiveConnections, createDb, DB_ROLES, users, type DbHandle } from '../../../src/infra/db/index.js';
import { createKmsClient, Envelope, KmsUnavailableError } from '../../../src/infra/kms/index.js';
import {
  insertConnection,
  KEY_REWRAP_ACTION,
  openTokens,
  pendingRewraps,
  revokeConnection,
  rewrapBatch,
  type LiveConnection,
} from '../../../src/infra/live/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { errorText, rejection } from '../../support/canary.js';
import { simKmsOptions } from '../../support/sim-kms.js';
import { startTestSimulator } from '../../support/simulator.js';

const CANARY = `canary-live-token-${randomUUID()}`;
const NOW = new Date('2026-03-02T15:00:00.000Z');

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let t: TestDatabase;
let batch: DbHandle;
let owner: DbHandle;
let kms: KMSClient;
let envelope: Envelope;
const thrown: unknown[] = [];
const conns: LiveConnection[] = [];
let revoked: LiveConnection;

type Row = typeof alpacaLiveConnections.$inferSelect;

async function rows(): Promise<Map<string, Row>> {
  const all = await batch.db.select().from(alpacaLiveConnections);
  return new Map(all.map((r) => [r.id, r]));
}

async function newKey(): Promise<{ alias: string; arn: string }> {
  const created = await kms.send(new CreateKeyCommand({ Description: 'live-token key' }));
  const alias = `alias/raxx-live-tokens-${randomBytes(4).toString('hex')}`;
  await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: created.KeyMetadata!.KeyId! }));
  return { alias, arn: created.KeyMetadata!.Arn! };
}

interface AuditRow {
  chain: string;
  actor: string;
  outcome: string;
  details: { count: number; skipped: number; destinationKeyArn: string; afterId: string | null; invalid?: string[] };
}

async function rewrapAudits(): Promise<AuditRow[]> {
  return (await owner.sql`
    select chain, actor, outcome, details from audit_log where action = ${KEY_REWRAP_ACTION} order by id`) as unknown as AuditRow[];
}

async function reEncryptCalls(): Promise<number> {
  const state = (await (await fetch(`${sim.url}/_control/kms/faults`)).json()) as { byOperation: Record<string, number> };
  return state.byOperation.ReEncrypt ?? 0;
}

const tokenOf = (i: number) => ({ accessToken: `${CANARY}-a-${i}`, refreshToken: `${CANARY}-r-${i}`, scope: 'trading' });

beforeAll(async () => {
  [sim, t] = await Promise.all([startTestSimulator(), createTestDatabase('raxx_live_rewrap')]);
  batch = createDb(t.batchUrl, { max: 4 });
  owner = createDb(t.ownerUrl, { max: 2, role: DB_ROLES.owner });
  kms = createKmsClient(simKmsOptions(sim.kmsUrl));
  envelope = new Envelope(kms, { keyId: 'alias/raxx-live-tokens', timeoutMs: 5_000 });

  // 25 active connections across 25 users (one active each), plus one revoked (shredded) connection.
  for (let i = 0; i < 26; i++) {
    const userId = `rewrap-user-${i}-${randomUUID()}`;
    await batch.db.insert(users).values({ id: userId, tier: 'pro_plus' });
    const c = await batch.db.transaction((tx) =>
      insertConnection(tx, envelope, { userId, connectionId: randomUUID(), tokens: tokenOf(i), now: NOW, reconsentDays: 90 }),
    );
    if (i < 25) conns.push(c);
    else revoked = (await batch.db.transaction((tx) => revokeConnection(tx, { userId })))!;
  }
});

afterAll(async () => {
  kms?.destroy();
  await Promise.allSettled([batch?.close(), owner?.close()]);
  await Promise.allSettled([t?.drop(), sim?.close()]);
});

describe('rewrapBatch', () => {
  it('moves 25 connections in 3 batches of ≤ 10, resumable from nextAfterId; ciphertext and version untouched', async () => {
    const before = await rows();
    const { alias, arn } = await newKey();
    expect(await pendingRewraps(batch.db, arn)).toBe(25);
    const sortedIds = conns.map((c) => c.id).sort();

    // First batch, then "stop": a later run continues from what it returned.
    const first = await rewrapBatch(batch.db, envelope, { destinationKeyId: alias, batchSize: 10 });
    expect(first).toEqual({ rewrapped: 10, skipped: 0, nextAfterId: sortedIds[9], done: false });
    expect(await pendingRewraps(batch.db, arn)).toBe(15);

    const results = [first];
    let afterId = first.nextAfterId;
    for (let guard = 0; guard < 10 && !results.at(-1)!.done; guard++) {
      const next = await rewrapBatch(batch.db, envelope, { destinationKeyId: alias, batchSize: 10, afterId });
      results.push(next);
      afterId = next.nextAfterId;
    }
    expect(results.map((r) => r.rewrapped)).toEqual([10, 10, 5]);
    expect(results.at(-1)).toMatchObject({ done: true, nextAfterId: sortedIds[24] });

    const after = await rows();
    for (const c of conns) {
      const was = before.get(c.id)!;
      const now = after.get(c.id)!;
      expect(now.kmsKeyId).toBe(arn);
      expect(now.kmsKeyId).not.toBe(was.kmsKeyId);
      expect(now.accessTokenCiphertext.equals(was.accessTokenCiphertext)).toBe(true);
      expect(now.refreshTokenCiphertext!.equals(was.refreshTokenCiphertext!)).toBe(true);
      expect(now.accessTokenIv.equals(was.accessTokenIv)).toBe(true);
      expect(now.accessTokenWrappedDek.equals(was.accessTokenWrappedDek)).toBe(false);
      expect(now.refreshTokenWrappedDek!.equals(was.refreshTokenWrappedDek!)).toBe(false);
      expect(now.version).toBe(was.version);
    }
    // The revoked (shredded) row is not a candidate and stays as it was.
    expect(after.get(revoked.id)!.kmsKeyId).toBe(before.get(revoked.id)!.kmsKeyId);
    expect(after.get(revoked.id)!.accessTokenWrappedDek.equals(before.get(revoked.id)!.accessTokenWrappedDek)).toBe(true);

    // Every token still opens, now through the new key.
    for (const [i, c] of conns.entries()) {
      const opened = await batch.db.transaction((tx) => openTokens(tx, envelope, { ...c, kmsKeyId: arn }));
      expect(opened).toMatchObject({ accessToken: tokenOf(i).accessToken, refreshToken: tokenOf(i).refreshToken });
    }

    // One audit row per batch on the system chain.
    const audits = await rewrapAudits();
    expect(audits.map((a) => [a.chain, a.outcome, a.details.count, a.details.afterId, a.details.destinationKeyArn])).toEqual([
      ['system', 'success', 10, null, arn],
      ['system', 'success', 10, sortedIds[9], arn],
      ['system', 'success', 5, sortedIds[19], arn],
    ]);
    expect((await verifyAuditLog(owner.sql)).ok).toBe(true);

    // A second full run finds nothing to do: no KMS call, no write, no audit row.
    const calls = await reEncryptCalls();
    const again = await rewrapBatch(batch.db, envelope, { destinationKeyId: alias, batchSize: 10 });
    expect(again).toEqual({ rewrapped: 0, skipped: 0, nextAfterId: undefined, done: true });
    expect(await reEncryptCalls()).toBe(calls);
    expect(await rewrapAudits()).toHaveLength(3);
  });

  it('KMS unavailable aborts the batch with nothing written', async () => {
    const before = await rows();
    const audits = (await rewrapAudits()).length;
    const { alias } = await newKey();
    await fetch(`${sim.url}/_control/kms/faults/internal-error`, { method: 'POST', body: JSON.stringify({ count: 3, operations: ['ReEncrypt'] }) });
    const err = await rejection(rewrapBatch(batch.db, envelope, { destinationKeyId: alias, batchSize: 10 }), thrown);
    expect(err).toBeInstanceOf(KmsUnavailableError);
    const after = await rows();
    for (const [id, row] of before) expect({ id, key: after.get(id)!.kmsKeyId }).toEqual({ id, key: row.kmsKeyId });
    expect(await rewrapAudits()).toHaveLength(audits);
  });

  it('skips a row locked by another transaction (SKIP LOCKED) and one that does not open; a later pass takes the locked one', async () => {
    const { alias, arn } = await newKey();
    const [locked, broken] = [conns[3]!, conns[7]!];
    // A row whose wrapped key was damaged: KMS refuses it, the batch goes on without it.
    await batch.db
      .update(alpacaLiveConnections)
      .set({ accessTokenWrappedDek: randomBytes(120) })
      .where(eq(alpacaLiveConnections.id, broken.id));

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let lockTaken!: () => void;
    const taken = new Promise<void>((r) => (lockTaken = r));
    const holder = batch.sql.begin(async (tx) => {
      await tx`select id from alpaca_live_connections where id = ${locked.id} for update`;
      lockTaken();
      await held;
    });
    await taken;
    let pass;
    try {
      pass = await rewrapBatch(batch.db, envelope, { destinationKeyId: alias, batchSize: 100, correlationId: 'rewrap-test' });
    } finally {
      release();
      await holder;
    }
    expect(pass).toMatchObject({ rewrapped: 23, skipped: 2, done: true });
    const last = (await rewrapAudits()).at(-1)!;
    expect(last).toMatchObject({ outcome: 'failure', details: { count: 23, skipped: 2, destinationKeyArn: arn, invalid: [broken.id] } });

    const second = await rewrapBatch(batch.db, envelope, { destinationKeyId: alias, batchSize: 100 });
    expect(second).toMatchObject({ rewrapped: 1, skipped: 1 });
    const after = await rows();
    expect(after.get(locked.id)!.kmsKeyId).toBe(arn);
    expect(after.get(broken.id)!.kmsKeyId).not.toBe(arn);
    expect(await pendingRewraps(batch.db, arn)).toBe(1);
  });

  it('canary: no audit row and no error carries a token', async () => {
    const [{ text }] = (await owner.sql`select coalesce(string_agg(a::text, ' '), '') as text from audit_log a`) as unknown as [{ text: string }];
    expect(text).toContain(KEY_REWRAP_ACTION);
    expect(text).not.toContain('canary-live-token');
    expect(thrown.length).toBeGreaterThan(0);
    for (const err of thrown) {
      expect(errorText(err)).not.toContain('canary-live-token');
    }
    // The table itself holds no plaintext either.
    const [{ n }] = (await batch.db.execute<{ n: number }>(
      sql`select count(*)::int as n from alpaca_live_connections where position(convert_to(${CANARY}, 'UTF8') in access_token_ciphertext) > 0`,
    )) as unknown as [{ n: number }];
    expect(n).toBe(0);
  });
});
