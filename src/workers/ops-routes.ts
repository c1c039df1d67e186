// The workers' operator endpoints, served on the role's own ops server: run the settle fan-out for a given session,
// read a day's fan-out progress, run the retention purge now, the live handoff's mass revoke and key re-wrap and their
// progress. Authenticated like the gateway's /ops; audited here.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type postgres from 'postgres';
import { z } from 'zod';
import { SESSION_COOKIE, tradingDaySchema } from '../contracts/index.js';
import { appendAudit } from '../infra/audit/index.js';
import type { MarketCalendar } from '../infra/alpaca/index.js';
import type { Db } from '../infra/db/index.js';
import { KmsUnavailableError } from '../infra/kms/index.js';
import type { OperatorAuth } from './operator-auth.js';
import { requestToken } from './operator-auth.js';
import {
  LIVE_REVOKE_ALL_JOB,
  LIVE_ROTATE_KEYS_JOB,
  liveJobId,
  liveRevokeAllDataSchema,
  settleRunJobId,
  type LiveRevokeAllData,
  type LiveRotateKeysData,
} from './queues.js';

export type WorkersOpsErrorCode =
  | 'unauthorized'
  | 'operator_required'
  | 'invalid_request'
  | 'json_required'
  | 'payload_too_large'
  | 'not_a_session'
  | 'close_not_passed'
  | 'calendar_unavailable'
  | 'not_found'
  | 'kms_key_not_found'
  | 'kms_unavailable'
  | 'rotation_running'
  | 'internal';

class OpsError extends Error {
  constructor(
    readonly status: number,
    readonly code: WorkersOpsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface WorkersOpsDeps {
  auth: OperatorAuth;
  /** Batch role: audit rows and settle_fanouts reads. */
  db: Db;
  sql: postgres.Sql;
  calendar: MarketCalendar;
  now(): number;
  enqueueSettleRun(data: { tradingDay: string; closeAt: string; requestedBy: string }, jobId: string): Promise<void>;
  enqueueRetentionRun(jobId: string, requestedBy: string): Promise<void>;
  live: {
    enqueueRevokeAll(data: LiveRevokeAllData, jobId: string): Promise<void>;
    /** Returns the id of the re-wrap that runs: another one's when a re-wrap is already unfinished. */
    enqueueRotateKeys(data: LiveRotateKeysData, jobId: string): Promise<string>;
    /** The ARN a key id or alias names now (KMS DescribeKey); KmsUnavailableError when KMS refuses or is away. */
    resolveKeyArn(keyId: string): Promise<string>;
    job(jobId: string): Promise<unknown>;
    recentJobs(limit: number): Promise<unknown[]>;
  };
  logger: { warn(obj: object, msg: string): void };
  maxBodyBytes?: number;
}

const settleRunBody = z.object({ date: tradingDaySchema, force: z.boolean().optional() }).strict();
const revokeAllBody = liveRevokeAllDataSchema.pick({ reason: true }).strict();
/** A key id, key ARN, alias name or alias ARN (KMS's own limit is 2048). */
const rotateKeysBody = z.object({ keyId: z.string().regex(/^[A-Za-z0-9:/_.-]{1,2048}$/, 'must be a KMS key id, key ARN, alias name or alias ARN') }).strict();
const LIVE_JOB_ID = /^[A-Za-z0-9|_-]{1,200}$/;
/** KMS answers these for a key that does not exist (or a malformed id): the operator's mistake, not an outage. */
const UNKNOWN_KEY = new Set(['NotFoundException', 'InvalidArnException', 'ValidationException']);

/** Returns the ops server's `extra` handler: true when the request was one of ours. */
export function workersOpsRoutes(deps: WorkersOpsDeps): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const maxBody = deps.maxBodyBytes ?? 16 * 1024;

  async function authenticate(req: IncomingMessage, method: string, path: string): Promise<string> {
    const result = await deps.auth.check(requestToken(req.headers.authorization, req.headers.cookie, SESSION_COOKIE));
    if (result.ok) return result.operatorId;
    if (result.status === 401) throw new OpsError(401, 'unauthorized', result.reason);
    await appendAudit(deps.db, {
      actor: `user:${result.userId}`,
      action: 'ops.access',
      outcome: 'denied',
      details: { method, path, tokenRole: result.tokenRole, userRole: result.userRole, via: 'workers-ops' },
    }).catch((err: unknown) => deps.logger.warn({ err }, 'ops denial audit failed'));
    throw new OpsError(403, 'operator_required', 'this endpoint is for operators only');
  }

  async function settleRun(operator: string, body: unknown) {
    const { date, force } = parseBody(settleRunBody, body);
    let sessions;
    try {
      sessions = await deps.calendar.sessions(date, date);
    } catch {
      throw new OpsError(502, 'calendar_unavailable', 'the market calendar could not be read; try again');
    }
    const session = sessions.find((s) => s.date === date);
    if (!session) throw new OpsError(422, 'not_a_session', `${date} is not a trading day on the market calendar`);
    if (session.closeAt.getTime() > deps.now() && !force) {
      throw new OpsError(409, 'close_not_passed', `the ${date} session closes at ${session.closeAt.toISOString()}; pass force to settle before the close`);
    }
    const jobId = settleRunJobId(date, randomUUID());
    const closeAt = session.closeAt.toISOString();
    await deps.enqueueSettleRun({ tradingDay: date, closeAt, requestedBy: `operator:${operator}` }, jobId);
    await appendAudit(deps.db, {
      actor: `operator:${operator}`,
      action: 'settle.run',
      outcome: 'success',
      correlationId: jobId,
      details: { tradingDay: date, closeAt, force: force ?? false, via: 'workers-ops' },
    });
    return { status: 202, body: { jobId, tradingDay: date, closeAt, acceptedAt: new Date(deps.now()).toISOString() } };
  }

  async function settleDay(date: string) {
    if (!tradingDaySchema.safeParse(date).success) throw new OpsError(400, 'invalid_request', 'the date must be YYYY-MM-DD');
    const [row] = await deps.sql`
      select trading_day::text as "tradingDay", close_at as "closeAt", cursor, users_appended as "usersAppended",
             completed_at as "completedAt", scheduled, triggered_by as "triggeredBy", updated_at as "updatedAt"
        from settle_fanouts where trading_day = ${date}`;
    if (!row) throw new OpsError(404, 'not_found', `no settle fan-out has started for ${date}`);
    return { status: 200, body: row };
  }

  async function retentionRun(operator: string) {
    const jobId = `retention-run|${randomUUID()}`;
    await deps.enqueueRetentionRun(jobId, `operator:${operator}`);
    await appendAudit(deps.db, { actor: `operator:${operator}`, action: 'retention.purge', outcome: 'success', correlationId: jobId, details: { via: 'workers-ops' } });
    return { status: 202, body: { jobId } };
  }

  async function revokeAll(operator: string, body: unknown) {
    const { reason } = parseBody(revokeAllBody, body);
    const jobId = liveJobId(LIVE_REVOKE_ALL_JOB, randomUUID());
    const requestedBy = `operator:${operator}`;
    await deps.live.enqueueRevokeAll({ reason, requestedBy }, jobId);
    await appendAudit(deps.db, { actor: requestedBy, action: 'live.revoke_all.requested', outcome: 'success', correlationId: jobId, details: { reason, via: 'workers-ops' } });
    return { status: 202, body: { jobId, acceptedAt: new Date(deps.now()).toISOString() } };
  }

  async function rotateKeys(operator: string, body: unknown) {
    const { keyId } = parseBody(rotateKeysBody, body);
    let keyArn: string;
    try {
      keyArn = await deps.live.resolveKeyArn(keyId);
    } catch (err) {
      if (err instanceof KmsUnavailableError && UNKNOWN_KEY.has(err.reason)) throw new OpsError(422, 'kms_key_not_found', `KMS knows no key ${keyId}`);
      if (err instanceof KmsUnavailableError) throw new OpsError(502, 'kms_unavailable', `KMS could not describe the key (${err.reason}); try again`);
      throw err;
    }
    const jobId = liveJobId(LIVE_ROTATE_KEYS_JOB, randomUUID());
    const requestedBy = `operator:${operator}`;
    const running = await deps.live.enqueueRotateKeys({ keyArn, requestedBy }, jobId);
    if (running !== jobId) throw new OpsError(409, 'rotation_running', `key re-wrap ${running} is not finished yet; see GET /ops/live/jobs/${running}`);
    await appendAudit(deps.db, {
      actor: requestedBy,
      action: 'live.rotate_keys.requested',
      outcome: 'success',
      correlationId: jobId,
      details: { keyId, destinationKeyArn: keyArn, via: 'workers-ops' },
    });
    return { status: 202, body: { jobId, keyArn, acceptedAt: new Date(deps.now()).toISOString() } };
  }

  async function liveJob(jobId: string) {
    if (!LIVE_JOB_ID.test(jobId)) throw new OpsError(400, 'invalid_request', 'not a job id');
    const job = await deps.live.job(jobId);
    if (!job) throw new OpsError(404, 'not_found', `no live job ${jobId} (unknown, or no longer kept)`);
    return { status: 200, body: job };
  }

  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!path.startsWith('/ops/')) return false;
    const method = req.method ?? 'GET';
    try {
      // The session check comes first: an unauthenticated caller gets 401 and its body is never buffered.
      const operator = await authenticate(req, method, path);
      const raw = method === 'POST' ? await readBody(req, maxBody) : null;
      const day = /^\/ops\/settle\/days\/([^/]+)$/.exec(path);
      const liveJobPath = /^\/ops\/live\/jobs\/([^/]+)$/.exec(path);
      let out: { status: number; body: unknown };
      if (method === 'POST' && path === '/ops/settle/runs') out = await settleRun(operator, parseJson(req, raw));
      else if (method === 'GET' && day) out = await settleDay(decodeURIComponent(day[1]!));
      else if (method === 'POST' && path === '/ops/retention/runs') out = await retentionRun(operator);
      else if (method === 'POST' && path === '/ops/live/revoke-all') out = await revokeAll(operator, parseJson(req, raw));
      else if (method === 'POST' && path === '/ops/live/rotate-keys') out = await rotateKeys(operator, parseJson(req, raw));
      else if (method === 'GET' && path === '/ops/live/jobs') out = { status: 200, body: { jobs: await deps.live.recentJobs(20) } };
      else if (method === 'GET' && liveJobPath) out = await liveJob(decodeURIComponent(liveJobPath[1]!));
      else throw new OpsError(404, 'not_found', `no such operator endpoint: ${method} ${path}`);
      send(res, out.status, out.body);
    } catch (err) {
      if (err instanceof OpsError) send(res, err.status, { code: err.code, message: err.message });
      else {
        deps.logger.warn({ err, path }, 'workers ops request failed');
        send(res, 500, { code: 'internal', message: 'the request failed; see the workers log' });
      }
    }
    return true;
  };
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new OpsError(400, 'invalid_request', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return parsed.data;
}

/** The body, or 'too_large' past `limit` bytes (the rest is drained, not buffered). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? 'too_large' : Buffer.concat(chunks);
}

function parseJson(req: IncomingMessage, raw: Buffer | 'too_large' | null): unknown {
  if (raw === 'too_large') throw new OpsError(413, 'payload_too_large', 'the body is too large');
  if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) throw new OpsError(415, 'json_required', 'send Content-Type: application/json');
  try {
    return JSON.parse((raw ?? Buffer.alloc(0)).toString('utf8'));
  } catch {
    throw new OpsError(400, 'invalid_request', 'the body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
