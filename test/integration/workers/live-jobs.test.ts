// The workers' live-handoff jobs on real Redis (DB 'live-workers'), PostgreSQL as the batch role, BullMQ and the
// simulator's KMS: the refresh schedule (near-expiry refreshable connections only, one id per token version across
// ticks), the operator mass revoke (one live.revoke per active connection into the right partition, resumed after a
// crash from its saved cursor, a re-run appends the same ids), the key re-wrap (every active row moved to a new key with
// its token ciphertext unchanged, resumed after a KMS outage mid-run), the operator guard and audit, the ops CLI and the
// workers role process's own wiring. Tokens are canaries: none may show up in an audit row, a job or a log.
import { randomBytes, randomUUID } from 'node:crypto';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import type { Job } from 'bullmq';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_COMMAND_TYPES, liveRefreshPayloadSchema, liveRevokePayloadSchema } from '../../../src/contracts/index.js';
import { createMarketCalendar } from '../../../src/infra/alpaca/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { startOpsServer, type OpsServer } from '../../../src/infra/http/index.js';
import { createKmsClient, Envelope } from '../../../src/infra/kms/index.js';
import { insertSealedConnection, markNeedsReauth, openSealed, readSealed, revokeConnection, sealTokens } from '../../../src/infra/live/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { partitionOf } from '../../../src/runtime/index.js';
import { loadSimConfig } from '../../../src/sim/config.js';
import {
  createOperatorAuth,
  LIVE_OPS_QUEUE,
  LIVE_REFRESH_QUEUE,
  LIVE_REFRESH_EVERY_MS,
  liveRefreshCommandId,
  massRevokeCommandId,
  runKeyRotation,
  runMassRevoke,
  runRefreshSchedule,
  WorkersHost,
  workersMetrics,
  workersOpsRoutes,
  type LiveFanOutDeps,
} from '../../../src/workers/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { spawnTsx, startRoleProcess, type RoleProcess } from '../../support/processes.js';
import { testRedisUrl } from '../../support/redis.js';
import { startTestSimulator } from '../../support/simulator.js';
import { waitFor } from '../../support/wait.js';
import { commandEnvelopes, sessionToken, SIM_KEY, workersRoleEnv } from './fixtures.js';

const P = 8;
const NOW = Date.now();
const TICK = Math.floor(NOW / LIVE_REFRESH_EVERY_MS);
const BATCH = 8;
const run = randomBytes(3).toString('hex');
const prefix = `{wl-${run}}`;
const JWT_SECRET = `live-workers-${run}-0123456789abcdef0123456789`;
const uid = (i: number) => `wl-${run}-${String(i).padStart(3, '0')}`;
const OPERATOR = `wl-${run}-op`;
const PLAIN_USER = `wl-${run}-plain`;
const accessCanary = (i: number) => `canary-at-${run}-${i}-${'x'.repeat(24)}`;
const refreshCanary = (i: number) => `canary-rt-${run}-${i}-${'y'.repeat(24)}`;
const simKms = loadSimConfig({});

let tdb: TestDatabase;
let su: postgres.Sql;
let batch: DbHandle;
let redis: Redis;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let envelope: Envelope;
let kms: ReturnType<typeof createKmsClient>;
let originalArn: string;
const logs: Array<{ obj: object; msg: string }> = [];
const logger = {
  info: (obj: object, msg: string) => logs.push({ obj, msg }),
  warn: (obj: object, msg: string) => logs.push({ obj, msg }),
  error: (obj: object, msg: string) => logs.push({ obj, msg }),
};
let deps: LiveFanOutDeps;

interface Seeded {
  i: number;
  userId: string;
  connectionId: string;
  refresh: boolean;
  near: boolean;
}
const seeded: Seeded[] = [];
const users = new Set<string>();

/** Connections as the database has them now. */
const connections = () =>
  su<Array<{ id: string; user_id: string; version: number; revoked: boolean; needs_reauth: boolean; refresh: boolean; expires_at: Date; kms_key_id: string }>>`
    select id, user_id, version, revoked_at is not null as revoked, needs_reauth, refresh_token_ciphertext is not null as refresh, expires_at, kms_key_id
      from alpaca_live_connections where user_id like ${`wl-${run}-%`} order by id`;
const activeIds = async () => new Set((await connections()).filter((c) => !c.revoked).map((c) => c.id));

async function seedConnection(i: number, o: { refresh: boolean; expiresInMs: number }): Promise<string> {
  const connectionId = randomUUID();
  const sealed = await sealTokens(envelope, uid(i), connectionId, {
    accessToken: accessCanary(i),
    ...(o.refresh ? { refreshToken: refreshCanary(i) } : {}),
    expiresAt: new Date(Date.now() + o.expiresInMs),
    scope: 'trading',
  });
  await batch.db.transaction((tx) => insertSealedConnection(tx, { sealed, now: new Date(), reconsentDays: 90 }));
  return connectionId;
}

const token = (sub: string, role: 'user' | 'operator') => sessionToken(JWT_SECRET, sub, role);

const kmsFault = (path: string, body?: unknown) =>
  fetch(`${sim.url}/_control/kms/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) }).then((r) => {
    expect(r.status).toBe(200);
  });

/** Every text this file produced that an operator or a log reader could see: none may hold a token. */
async function expectNoCanary(extra: unknown[] = []): Promise<void> {
  const audit = await su<Array<{ row: string }>>`select row_to_json(a)::text as row from audit_log a`;
  const texts = [...audit.map((a) => a.row), JSON.stringify(logs), ...extra.map((e) => JSON.stringify(e))];
  for (const s of seeded) {
    for (const t of texts) {
      expect(t).not.toContain(accessCanary(s.i));
      expect(t).not.toContain(refreshCanary(s.i));
    }
  }
}

beforeAll(async () => {
  [tdb, sim] = await Promise.all([createTestDatabase('raxx_wlive'), startTestSimulator({ SIM_SYMBOLS: '5' })]);
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  batch = createDb(tdb.batchUrl, { max: 4, appName: 'wlive-test' });
  redis = createRedis(testRedisUrl('live-workers'), 'wlive-test');
  kms = createKmsClient({
    endpoint: sim.kmsUrl,
    region: simKms.SIM_KMS_REGION,
    accessKeyId: simKms.SIM_KMS_ACCESS_KEY_ID,
    secretAccessKey: () => simKms.SIM_KMS_SECRET_ACCESS_KEY,
    timeoutMs: 5000,
  });
  envelope = new Envelope(kms, { keyId: 'alias/raxx-live-tokens', timeoutMs: 15_000 });
  originalArn = await envelope.keyArn();

  const ids = [...Array.from({ length: 34 }, (_, i) => uid(i)), uid(40), uid(41)];
  for (const id of ids) users.add(id);
  const rows: Array<{ id: string; tier: string; role: string }> = [...ids, PLAIN_USER].map((id) => ({ id, tier: 'pro', role: 'user' }));
  rows.push({ id: OPERATOR, tier: 'pro', role: 'operator' });
  await su`insert into users ${su(rows)}`;
  // 0–29 active: a refresh token unless i % 3 == 0; expiring within 5 min when i is even (i = 1: expired a minute ago),
  // else in 2 h. 4 needs re-authorisation. 30–32 revoked. 33: an old revoked connection and a new active one.
  // 40, 41: never connected.
  for (let i = 0; i < 34; i++) {
    const refresh = i % 3 !== 0;
    const expiresInMs = i === 1 ? -60_000 : i % 2 === 0 ? 5 * 60_000 : 2 * 3600_000;
    if (i === 33) await seedConnection(i, { refresh, expiresInMs });
    const connectionId = await seedConnection(i, { refresh, expiresInMs });
    if (i >= 30 && i <= 32) await batch.db.transaction((tx) => revokeConnection(tx, { userId: uid(i) }));
    if (i === 4) await markNeedsReauth(batch.db, connectionId);
    seeded.push({ i, userId: uid(i), connectionId, refresh, near: expiresInMs <= 10 * 60_000 });
  }
  // A fixed clock: both ticks below fall in one refresh tick, so they must append the same ids.
  deps = { db: batch.db, redis, partitions: P, batchSize: BATCH, now: () => NOW, logger };
}, 60_000);

afterAll(async () => {
  kms?.destroy();
  await closeRedis(redis);
  await batch?.close();
  await su?.end();
  await sim?.close();
  await tdb?.drop();
});

describe('refresh schedule', () => {
  it('appends live.refresh for active, refreshable, near-expiry connections only, the same id on every tick', async () => {
    const expected = seeded.filter((s) => s.i < 30 || s.i === 33).filter((s) => s.refresh && s.near && s.i !== 4);
    expect(expected.length).toBeGreaterThanOrEqual(8);
    const first = await runRefreshSchedule(deps);
    const second = await runRefreshSchedule(deps);
    expect(first.appended).toBe(expected.length);
    expect(second.appended).toBe(expected.length);

    const found = await commandEnvelopes(redis, P, LIVE_COMMAND_TYPES.refresh, users);
    expect(found).toHaveLength(2 * expected.length);
    const byConnection = new Map<string, string[]>();
    for (const e of found) {
      const { connectionId } = liveRefreshPayloadSchema.parse(e.payload);
      expect(e.partition).toBe(partitionOf(e.userId, P));
      byConnection.set(connectionId, [...(byConnection.get(connectionId) ?? []), e.id]);
    }
    expect(new Set(byConnection.keys())).toEqual(new Set(expected.map((s) => s.connectionId)));
    for (const s of expected) expect(byConnection.get(s.connectionId)).toEqual([liveRefreshCommandId(s.connectionId, 1, TICK), liveRefreshCommandId(s.connectionId, 1, TICK)]);

    // The actor stored a new token (version 2, expiring in 1 h): no more refreshes for it; another one whose new
    // token again expires soon gets a new id.
    const [gone, again] = expected as [Seeded, Seeded];
    await su`update alpaca_live_connections set version = 2, expires_at = now() + interval '1 hour' where id = ${gone.connectionId}`;
    await su`update alpaca_live_connections set version = 2 where id = ${again.connectionId}`;
    await runRefreshSchedule(deps);
    const counts = new Map<string, number>();
    for (const e of await commandEnvelopes(redis, P, LIVE_COMMAND_TYPES.refresh, users)) counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
    for (const s of expected) {
      const v1 = counts.get(liveRefreshCommandId(s.connectionId, 1, TICK));
      const v2 = counts.get(liveRefreshCommandId(s.connectionId, 2, TICK));
      expect([v1, v2]).toEqual(s === gone ? [2, undefined] : s === again ? [2, 1] : [3, undefined]);
    }
    // Job data and envelopes carry ids only.
    for (const e of found) expect(Object.keys(e.payload as object)).toEqual(['connectionId']);
  });
});

describe('operator jobs through BullMQ and the workers ops endpoints', () => {
  let host: WorkersHost;
  let ops: OpsServer;
  let connection: Redis;
  const crashOnFirstAttempt = new Set<string>();
  let opToken: string;

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, auth?: string) => {
    const res = await fetch(`${ops.url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const finished = async (jobId: string) => {
    let job: Record<string, unknown> = {};
    await waitFor(
      async () => {
        job = (await call('GET', `/ops/live/jobs/${encodeURIComponent(jobId)}`, undefined, opToken)).body;
        return job.state === 'completed' || job.state === 'failed';
      },
      60_000,
      `job ${jobId} to finish`,
    );
    return job;
  };

  beforeAll(async () => {
    opToken = await token(OPERATOR, 'operator');
    connection = createRedis(testRedisUrl('live-workers'), 'wlive-jobs');
    const metrics = workersMetrics(new Registry());
    /** A crash point: a job's first attempt, right after its first batch's progress was saved (once per job name). */
    const crashNow = (job: Job) => {
      if (!crashOnFirstAttempt.has(job.name) || job.attemptsMade > 0) return false;
      crashOnFirstAttempt.delete(job.name);
      return true;
    };
    host = new WorkersHost({
      connection,
      prefix,
      lockDurationMs: 5000,
      stalledIntervalMs: 2500,
      maxStalledCount: 2,
      settleCheckEveryMs: 3_600_000,
      retentionPattern: '0 0 1 1 *',
      liveRefreshEveryMs: 1000,
      processors: {
        settleCheck: async () => null,
        settleRun: async () => null,
        retentionPurge: async () => null,
        // As a kill between two batches would: the first batch appended and saved, the rest not.
        liveRevokeAll: (job) =>
          runMassRevoke(
            {
              ...deps,
              onBatch: () => {
                if (crashNow(job as Job)) throw new Error('simulated crash after the first batch');
              },
            },
            job,
          ),
        // A KMS outage after the first batch: the next batch fails with kms_unavailable, BullMQ retries later.
        liveRotateKeys: (job) =>
          runKeyRotation(
            {
              db: batch.db,
              envelope,
              batchSize: BATCH,
              logger,
              onBatch: async () => {
                if (crashNow(job as Job)) await kmsFault('faults/internal-error', { count: 1000, operations: ['ReEncrypt'] });
              },
            },
            job,
          ),
        liveRefreshCheck: () => runRefreshSchedule(deps),
      },
      metrics,
      logger,
    });
    await host.start();
    const auth = createOperatorAuth({ issuer: 'raxx-dev-issuer', audience: 'raxx-stream', secret: { current: () => JWT_SECRET }, sql: batch.sql });
    ops = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      role: 'workers',
      registry: new Registry(),
      checks: {},
      extra: workersOpsRoutes({
        auth,
        db: batch.db,
        sql: batch.sql,
        calendar: createMarketCalendar({ tradingUrl: sim.url, credentials: () => SIM_KEY }),
        now: () => Date.now(),
        enqueueSettleRun: (data, jobId) => host.enqueueSettleRun(data, jobId),
        enqueueRetentionRun: (jobId, requestedBy) => host.enqueueRetentionRun(jobId, requestedBy),
        live: host.liveOps((keyId) => envelope.keyArn(keyId)),
        logger,
      }),
    });
  });

  afterAll(async () => {
    await ops?.close();
    await host?.close();
    await closeRedis(connection);
  });

  it('refuses non-operators (401, 403 audited) and bad bodies', async () => {
    expect((await call('POST', '/ops/live/revoke-all', { reason: 'x' })).status).toBe(401);
    const userToken = await token(PLAIN_USER, 'user');
    for (const [path, body] of [
      ['/ops/live/revoke-all', { reason: 'x' }],
      ['/ops/live/rotate-keys', { keyId: 'alias/raxx-live-tokens' }],
    ] as const) {
      const denied = await call('POST', path, body, userToken);
      expect(denied).toEqual({ status: 403, body: expect.objectContaining({ code: 'operator_required' }) });
    }
    // A token claiming operator is not enough: users.role must say so too.
    expect((await call('GET', '/ops/live/jobs', undefined, await token(PLAIN_USER, 'operator'))).status).toBe(403);
    const audit = await su`select outcome, details from audit_log where action = 'ops.access' and actor = ${`user:${PLAIN_USER}`} order by seq`;
    expect(audit.map((a) => (a.details as { path: string }).path)).toEqual(['/ops/live/revoke-all', '/ops/live/rotate-keys', '/ops/live/jobs']);
    expect(audit.every((a) => a.outcome === 'denied')).toBe(true);

    expect((await call('POST', '/ops/live/revoke-all', { reason: '   ' }, opToken)).body).toMatchObject({ code: 'invalid_request' });
    expect((await call('POST', '/ops/live/revoke-all', {}, opToken)).status).toBe(400);
    expect((await call('POST', '/ops/live/rotate-keys', { keyId: 'not a key' }, opToken)).status).toBe(400);
    expect(await call('POST', '/ops/live/rotate-keys', { keyId: 'alias/no-such-key' }, opToken)).toEqual({ status: 422, body: expect.objectContaining({ code: 'kms_key_not_found' }) });
    expect((await call('GET', '/ops/live/jobs/live-revoke-all%7Cnope', undefined, opToken)).status).toBe(404);
    // Nothing was enqueued by any of these.
    expect((await call('GET', '/ops/live/jobs', undefined, opToken)).body).toEqual({ jobs: [] });
  });

  it('mass revoke: one live.revoke per active connection in its partition, resumed after a crash, audited', async () => {
    const active = await activeIds();
    expect(active.size).toBe(31);
    crashOnFirstAttempt.add('live-revoke-all');
    const accepted = await call('POST', '/ops/live/revoke-all', { reason: 'suspected token leak' }, opToken);
    expect(accepted.status).toBe(202);
    const jobId = String(accepted.body.jobId);
    expect(jobId).toMatch(/^live-revoke-all\|[0-9a-f-]{36}$/);
    const job = await finished(jobId);
    expect(job).toMatchObject({ state: 'completed', attemptsMade: 2, failedReason: 'simulated crash after the first batch' });
    expect(job.result).toEqual({ runId: jobId, appended: active.size, batches: Math.ceil(active.size / BATCH) });
    expect(logs.some((l) => l.msg === 'live mass revoke: resuming')).toBe(true);

    const ofRun = (await commandEnvelopes(redis, P, LIVE_COMMAND_TYPES.revoke, users)).filter((e) => e.id === massRevokeCommandId(jobId, liveRevokePayloadSchema.parse(e.payload).connectionId!));
    // Exactly one per active connection: the crash came after the first batch's cursor was saved.
    expect(ofRun).toHaveLength(active.size);
    expect(new Set(ofRun.map((e) => liveRevokePayloadSchema.parse(e.payload).connectionId))).toEqual(active);
    const owner = new Map((await connections()).map((c) => [c.id, c.user_id]));
    for (const e of ofRun) {
      const payload = liveRevokePayloadSchema.parse(e.payload);
      expect(payload).toEqual({ connectionId: payload.connectionId, requestedBy: `operator:${OPERATOR}`, reason: 'suspected token leak' });
      expect(e.userId).toBe(owner.get(payload.connectionId!));
      expect(e.partition).toBe(partitionOf(e.userId, P));
    }
    const [audit] = await su`select chain, actor, outcome, details from audit_log where action = 'live.revoke_all' and correlation_id = ${jobId}`;
    expect(audit).toMatchObject({ chain: 'system', actor: `operator:${OPERATOR}`, outcome: 'success', details: { reason: 'suspected token leak', appended: active.size, by: `operator:${OPERATOR}` } });
    const [requested] = await su`select actor, details from audit_log where action = 'live.revoke_all.requested' and correlation_id = ${jobId}`;
    expect(requested).toMatchObject({ actor: `operator:${OPERATOR}`, details: { reason: 'suspected token leak', via: 'workers-ops' } });

    // A re-run of the same run (as a retry from scratch would) appends the same ids; a connection revoked meanwhile
    // is no longer selected.
    const revokedMeanwhile = seeded.find((s) => s.i === 5)!;
    await batch.db.transaction((tx) => revokeConnection(tx, { userId: revokedMeanwhile.userId }));
    const again = await runMassRevoke(deps, { id: jobId, data: { reason: 'suspected token leak', requestedBy: `operator:${OPERATOR}` }, progress: 0, updateProgress: async () => {} });
    expect(again.appended).toBe(active.size - 1);
    const after = (await commandEnvelopes(redis, P, LIVE_COMMAND_TYPES.revoke, users)).filter((e) => e.id === massRevokeCommandId(jobId, liveRevokePayloadSchema.parse(e.payload).connectionId!));
    expect(after).toHaveLength(2 * active.size - 1);
    expect(new Set(after.map((e) => e.id))).toEqual(new Set(ofRun.map((e) => e.id)));
    expect(after.filter((e) => liveRevokePayloadSchema.parse(e.payload).connectionId === revokedMeanwhile.connectionId)).toHaveLength(1);
    await expectNoCanary([job]);
  });

  it('key re-wrap: every active row moves to a new key with its ciphertext unchanged, resuming after a KMS outage', async () => {
    const created = await kms.send(new CreateKeyCommand({ Description: `wlive ${run}` }));
    const newArn = created.KeyMetadata!.Arn!;
    const snapshot = async () =>
      new Map(
        (
          await su<Array<{ id: string; user_id: string; kms_key_id: string; revoked: boolean; at: Buffer; at_iv: Buffer; at_dek: Buffer; rt: Buffer | null; rt_iv: Buffer | null; rt_dek: Buffer | null }>>`
            select id, user_id, kms_key_id, revoked_at is not null as revoked, access_token_ciphertext as at, access_token_iv as at_iv, access_token_wrapped_dek as at_dek,
                   refresh_token_ciphertext as rt, refresh_token_iv as rt_iv, refresh_token_wrapped_dek as rt_dek
              from alpaca_live_connections where user_id like ${`wl-${run}-%`}`
        ).map((r) => [r.id, r]),
      );
    const before = await snapshot();
    const active = [...before.values()].filter((r) => !r.revoked);
    expect(active.length).toBe(30);
    expect(active.every((r) => r.kms_key_id === originalArn)).toBe(true);

    crashOnFirstAttempt.add('live-rotate-keys');
    const accepted = await call('POST', '/ops/live/rotate-keys', { keyId: created.KeyMetadata!.KeyId }, opToken);
    expect(accepted.status).toBe(202);
    expect(accepted.body.keyArn).toBe(newArn);
    const jobId = String(accepted.body.jobId);
    // The first attempt fails on the injected KMS outage; the retry comes after a 2 s backoff.
    await waitFor(async () => Number((await call('GET', `/ops/live/jobs/${encodeURIComponent(jobId)}`, undefined, opToken)).body.attemptsMade) >= 1, 60_000, 'the first attempt to fail');
    // One re-wrap at a time: another request while this one waits for its retry is refused, naming it.
    const second = await call('POST', '/ops/live/rotate-keys', { keyId: 'alias/raxx-live-tokens' }, opToken);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ code: 'rotation_running' });
    expect(String(second.body.message)).toContain(jobId);
    await kmsFault('faults/clear');
    const job = await finished(jobId);
    expect(job.state).toBe('completed');
    expect(String(job.failedReason)).toMatch(/^KMS ReEncrypt unavailable: KMSInternalException/);
    expect(job.result).toEqual({ keyArn: newArn, rewrapped: active.length, skipped: 0, batches: Math.ceil(active.length / BATCH), remaining: 0 });

    // Resumed, not restarted: one batch started from the beginning (afterId null), the others each after the previous.
    const batches = await su<Array<{ details: { afterId: string | null; count: number } }>>`
      select details from audit_log where action = 'live.key_rewrap' and correlation_id = ${jobId} order by seq`;
    expect(batches.filter((b) => b.details.afterId === null)).toHaveLength(1);
    expect(batches.reduce((n, b) => n + b.details.count, 0)).toBe(active.length);
    const afterIds = batches.map((b) => b.details.afterId).filter((a): a is string => a !== null);
    expect(afterIds).toEqual([...afterIds].sort());
    expect(logs.some((l) => l.msg === 'live key re-wrap: resuming')).toBe(true);
    const [summary] = await su`select outcome, details from audit_log where action = 'live.rotate_keys' and correlation_id = ${jobId}`;
    expect(summary).toMatchObject({ outcome: 'success', details: { destinationKeyArn: newArn, rewrapped: active.length, remaining: 0 } });

    const after = await snapshot();
    for (const [id, was] of before) {
      const now = after.get(id)!;
      if (was.revoked) {
        expect(now).toEqual(was); // shredded rows are left alone
        continue;
      }
      expect(now.kms_key_id).toBe(newArn);
      expect(now.at.equals(was.at) && now.at_iv.equals(was.at_iv)).toBe(true);
      expect(now.at_dek.equals(was.at_dek)).toBe(false);
      expect(now.rt === null ? null : now.rt.equals(was.rt!)).toBe(was.rt === null ? null : true);
      // Opens under the new key with the token it was sealed with.
      const s = seeded.find((x) => x.connectionId === id)!;
      const tokens = await openSealed(envelope, await readSealed(batch.db, { id, userId: now.user_id }));
      expect(tokens.accessToken).toBe(accessCanary(s.i));
      expect(tokens.refreshToken).toBe(s.refresh ? refreshCanary(s.i) : undefined);
    }
    // Once finished, a new re-wrap to the same key is accepted and finds nothing left to move.
    const rerun = await call('POST', '/ops/live/rotate-keys', { keyId: newArn }, opToken);
    expect(rerun.status).toBe(202);
    expect(rerun.body.jobId).not.toBe(jobId);
    expect((await finished(String(rerun.body.jobId))).result).toEqual({ keyArn: newArn, rewrapped: 0, skipped: 0, batches: 0, remaining: 0 });
    await expectNoCanary([job]);
  }, 90_000);

  it('the refresh schedule runs from its job scheduler', async () => {
    const q = host.liveRefreshQueue;
    expect((await q.getJobSchedulers()).map((s) => [s.key, s.every])).toEqual([['live-refresh-every', 1000]]);
    expect(q.name).toBe(LIVE_REFRESH_QUEUE);
    expect(host.liveOpsQueue.name).toBe(LIVE_OPS_QUEUE);
    const count = async () => (await commandEnvelopes(redis, P, LIVE_COMMAND_TYPES.refresh, users)).length;
    const start = await count();
    await waitFor(async () => (await count()) > start, 15_000, 'a scheduled refresh tick');
  });
});

describe('the workers role process and the ops CLI', () => {
  let role: RoleProcess | undefined;

  afterAll(async () => {
    await role?.stop('SIGKILL');
  });

  it('re-wraps back to the configured alias from `ops live rotate-keys --wait`, and lists the job in `ops live status`', async () => {
    role = startRoleProcess('workers', {
      ...workersRoleEnv({ redisUrl: testRedisUrl('live-workers'), appUrl: tdb.appUrl, batchUrl: tdb.batchUrl, simUrl: sim.url, jwtSecret: JWT_SECRET, partitions: P, prefix: `{wl-${run}-role}` }),
      WORKERS_SETTLE_BATCH_SIZE: String(BATCH),
      KMS_ENDPOINT: sim.kmsUrl,
      KMS_REGION: simKms.SIM_KMS_REGION,
      KMS_ACCESS_KEY_ID: simKms.SIM_KMS_ACCESS_KEY_ID,
      KMS_SECRET_ACCESS_KEY: simKms.SIM_KMS_SECRET_ACCESS_KEY,
      KMS_KEY_ID: 'alias/raxx-live-tokens',
    });
    const { url } = await role.ready;
    const op = await token(OPERATOR, 'operator');
    const cli = async (args: string[]) => {
      const child = spawnTsx('src/main/ops.ts', ['live', ...args, '--workers', url, '--token', op], {});
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((res) => child.once('exit', res));
      return { code, out };
    };

    const rotated = await cli(['rotate-keys', '--key', 'alias/raxx-live-tokens', '--wait']);
    expect(rotated.out).toContain(`re-wrap of every live connection to ${originalArn} enqueued as job live-rotate-keys|`);
    expect(rotated.out).toMatch(/completed: \{"keyArn":"[^"]+","rewrapped":30,"skipped":0,"batches":4,"remaining":0\}/);
    expect(rotated.code).toBe(0);
    const rows = (await connections()).filter((c) => !c.revoked);
    expect(rows.every((c) => c.kms_key_id === originalArn)).toBe(true);

    const status = await cli(['status']);
    expect(status.code).toBe(0);
    const listed = JSON.parse(status.out) as { jobs: Array<{ name: string; state: string; data: { keyArn: string } }> };
    expect(listed.jobs).toEqual([expect.objectContaining({ name: 'live-rotate-keys', state: 'completed', data: expect.objectContaining({ keyArn: originalArn }) })]);
    expect((await cli(['revoke-all'])).code).toBe(2); // --reason is required
    expect(role.lines.join('\n')).not.toContain('canary-');
    expect((await role.stop('SIGTERM')).code).toBe(0);
    role = undefined;
  }, 120_000);
});
