// The command HTTP API: POST /api/commands appends a command envelope for the account actor and waits for its
// decision on the user's private channel; GET /api/commands/:id reads the stored decision (processed_commands,
// tenant-scoped). Authenticated and rate-limited like every gateway surface. See docs/commands-api.md.
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Clock } from '../../domain/index.js';
import type { Db } from '../../infra/db/index.js';
import type { Logger } from '../../infra/logging/index.js';
import type { UserEventBus } from '../private-events.js';
import { createCommandSubmitter, isUuid, type CommandDecisionBody, type CommandSubmitter } from './command-submitter.js';
import { admit, identify, readRequest, spend, type AccessDeps } from './market-rest.js';
import { guard, readBody, STATUS_TEXT, type ResState } from './response.js';
import type { RouteModule } from './routes.js';

/** The command types the account actor decides; anything else is refused with 400 `unknown_command`. */
export const ACCOUNT_COMMAND_TYPES = ['account.open', 'account.reset', 'account.adjust_cash'] as const;
export type AccountCommandType = (typeof ACCOUNT_COMMAND_TYPES)[number];

export type CommandErrorCode =
  | 'unauthorized'
  | 'unknown_user'
  | 'invalid_request'
  | 'unknown_command'
  | 'payload_too_large'
  | 'json_required'
  | 'rate_limited'
  | 'id_conflict'
  | 'decision_pending'
  | 'internal';

export interface CommandRoutesOptions {
  /** How long POST waits for the decision before answering 504 `decision_pending`. Default 5,000 ms. */
  decisionWaitMs?: number;
  /** Commands per user per second (Redis limiter, scope `cmd`), on top of the HTTP budget. Default 20. */
  commandsPerSecond?: number;
  /** Largest accepted body. Default 16 KiB. */
  maxBodyBytes?: number;
  /** How long a client-chosen id stays reserved against a second append. Default 24 h. */
  idempotencyTtlSeconds?: number;
  /**
   * How long a user's private-channel subscription is kept after their last command (default 30 s), so a user
   * sending commands pays SUBSCRIBE/UNSUBSCRIBE once, not twice per command. Default 0: unsubscribe at once.
   */
  subscriptionLingerMs?: number;
  /** See CommandSubmitterDeps: concurrent processed_commands reads after a wait ran out. Default 8. */
  maxFallbackReads?: number;
}

export interface CommandRoutesDeps extends AccessDeps {
  /** Appends to the partition streams; holds the idempotency reservations. */
  redis: Redis;
  /** App-role database (processed_commands is read under withTenant). */
  db: Db;
  /** Shared user-events subscriber (the same one the WebSocket private channel uses). */
  events: UserEventBus;
  /** P of the accounts runtime (config.accounts.partitions). */
  partitions: number;
  clock: Clock;
  logger?: Logger;
  options?: CommandRoutesOptions;
  /** Shared with the paper API (one subscription linger per user); built from the deps when absent. */
  submitter?: CommandSubmitter;
}

export { commandIdKey, type CommandDecisionBody } from './command-submitter.js';

const postSchema = z
  .object({
    type: z.enum(ACCOUNT_COMMAND_TYPES),
    payload: z.record(z.string(), z.unknown()).optional(),
    id: z.uuid().optional(),
  })
  .strict();

function send(res: HttpResponse, state: ResState, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (state.aborted) return;
  state.aborted = true;
  const text = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(status === 409 ? '409 Conflict' : (STATUS_TEXT[status] ?? `${status} Status`));
    res.writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(text);
  });
}

function fail(res: HttpResponse, state: ResState, status: number, code: CommandErrorCode, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  send(res, state, status, { code, message, ...extra }, headers);
}

type ParsedCommand =
  | { ok: true; command: z.infer<typeof postSchema> }
  | { ok: false; status: 400 | 413 | 415; code: CommandErrorCode; message: string; extra?: Record<string, unknown> };

/** The body of `POST /api/commands` (null: over `maxBody`), checked without any I/O. */
function parseCommand(body: Buffer | null, contentType: string, maxBody: number): ParsedCommand {
  if (body === null) return { ok: false, status: 413, code: 'payload_too_large', message: `the body is limited to ${maxBody} bytes` };
  if (!contentType.toLowerCase().startsWith('application/json')) return { ok: false, status: 415, code: 'json_required', message: 'content-type must be application/json' };
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, status: 400, code: 'invalid_request', message: 'the body is not valid JSON' };
  }
  const type = (raw as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && !(ACCOUNT_COMMAND_TYPES as readonly string[]).includes(type)) {
    return { ok: false, status: 400, code: 'unknown_command', message: 'unknown command type', extra: { type: type.slice(0, 64), known: ACCOUNT_COMMAND_TYPES } };
  }
  const parsed = postSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, status: 400, code: 'invalid_request', message: `${issue.path.join('.') || '(body)'}: ${issue.message}` };
  }
  return { ok: true, command: parsed.data };
}

export function createCommandRoutes(deps: CommandRoutesDeps): RouteModule {
  const o = deps.options ?? {};
  const perSecond = o.commandsPerSecond ?? 20;
  const maxBody = o.maxBodyBytes ?? 16 * 1024;
  const submitter =
    deps.submitter ??
    createCommandSubmitter({
      redis: deps.redis,
      db: deps.db,
      events: deps.events,
      partitions: deps.partitions,
      clock: deps.clock,
      options: {
        ...(o.decisionWaitMs !== undefined ? { decisionWaitMs: o.decisionWaitMs } : {}),
        ...(o.idempotencyTtlSeconds !== undefined ? { idempotencyTtlSeconds: o.idempotencyTtlSeconds } : {}),
        ...(o.subscriptionLingerMs !== undefined ? { subscriptionLingerMs: o.subscriptionLingerMs } : {}),
        ...(o.maxFallbackReads !== undefined ? { maxFallbackReads: o.maxFallbackReads } : {}),
      },
    });

  // POST /api/commands
  const post = (res: HttpResponse, req: HttpRequest): void => {
    const parts = readRequest(req);
    const contentType = req.getHeader('content-type');
    const state = guard(res);
    void (async () => {
      // The body is read first: uWS hands it over only to a reader attached inside the handler.
      const body = await readBody(res, state, maxBody);
      if (state.aborted) return;
      const user = await identify(deps, res, state, parts.token);
      if (!user) return;
      const parsed = parseCommand(body, contentType, maxBody);
      if (!parsed.ok) {
        // A request that will not be appended still counts against the HTTP budget (and over it, 429 comes first).
        if (await spend(deps, res, state, user)) fail(res, state, parsed.status, parsed.code, parsed.message, parsed.extra);
        return;
      }
      // The HTTP budget and the command budget in one Redis call, counted as two calls would be.
      const budget = await spend(deps, res, state, user, undefined, { scope: 'cmd', limit: perSecond, windowMs: 1000 });
      if (!budget) return;
      if (!budget.allowed) {
        const retry = Math.max(1, budget.retryAfterSeconds);
        return fail(res, state, 429, 'rate_limited', `at most ${perSecond} commands per second`, { retryAfterSeconds: retry }, {
          'retry-after': String(retry),
          'x-ratelimit-limit': String(perSecond),
          'x-ratelimit-remaining': '0',
        });
      }

      const commandId = (parsed.command.id ?? randomUUID()).toLowerCase();
      const result = await submitter.submit(
        user.id,
        { commandId, clientChosenId: parsed.command.id !== undefined, type: parsed.command.type, payload: parsed.command.payload ?? {} },
        () => state.aborted,
      );
      if (result.kind === 'conflict') return fail(res, state, 409, 'id_conflict', 'this command id is already in use');
      if (result.kind === 'decided') return send(res, state, 200, decisionBody(result.decision));
      fail(res, state, 504, 'decision_pending', 'the command was accepted for processing but not decided yet; GET /api/commands/{commandId}', { commandId });
    })().catch((err: unknown) => {
      deps.logger?.warn({ err }, 'command request failed');
      fail(res, state, 500, 'internal', 'the request failed; retry with the same id');
    });
  };

  // GET /api/commands/:id
  const get = (res: HttpResponse, req: HttpRequest): void => {
    const parts = readRequest(req);
    const id = req.getParameter(0) ?? '';
    const state = guard(res);
    void (async () => {
      const user = await admit(deps, res, state, parts.token);
      if (!user) return;
      if (!isUuid(id)) return fail(res, state, 400, 'invalid_request', 'the command id must be a UUID');
      const prev = await submitter.stored(user.id, id);
      if (!prev) return fail(res, state, 404, 'unknown_command', 'no decision stored for this command (unknown, not yet decided, or not yours)');
      send(res, state, 200, { ...decisionBody(prev), type: prev.type, processedAt: prev.processedAt });
    })().catch((err: unknown) => {
      deps.logger?.warn({ err }, 'command lookup failed');
      fail(res, state, 500, 'internal', 'the request failed; retry');
    });
  };

  return {
    register(app: TemplatedApp) {
      app.post('/api/commands', post);
      app.get('/api/commands/:id', get);
    },
  };
}

function decisionBody(d: CommandDecisionBody): CommandDecisionBody {
  return {
    commandId: d.commandId,
    outcome: d.outcome,
    ...(d.code !== undefined ? { code: d.code } : {}),
    ...(d.data !== undefined ? { data: d.data } : {}),
    ...(d.seq !== undefined ? { seq: d.seq } : {}),
  };
}
