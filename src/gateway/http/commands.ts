// The command HTTP API: POST /api/commands appends a command envelope for the account actor and waits for its
// decision on the user's private channel; GET /api/commands/:id reads the stored decision (processed_commands,
// tenant-scoped). Authenticated and rate-limited like every gateway surface. See docs/commands-api.md.
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { userEventSchema } from '../../contracts/user-events.js';
import type { Clock } from '../../domain/index.js';
import { processedCommands, withTenant, type Db } from '../../infra/db/index.js';
import type { Logger } from '../../infra/logging/index.js';
import type { RateLimiter } from '../../infra/rate-limit/index.js';
import { appendCommand } from '../../runtime/index.js';
import type { UserEventBus } from '../private-events.js';
import { admit, readRequest, type AccessDeps } from './market-rest.js';
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
}

export interface CommandRoutesDeps extends AccessDeps {
  /** Appends to the partition streams; holds the idempotency reservations. */
  redis: Redis;
  /** App-role database (processed_commands is read under withTenant). */
  db: Db;
  /** Shared user-events subscriber (the same one the WebSocket private channel uses). */
  events: UserEventBus;
  /** Generic Redis limiter (createRedisRateLimiter) for the per-user command budget. */
  rateLimiter: RateLimiter;
  /** P of the accounts runtime (config.accounts.partitions). */
  partitions: number;
  clock: Clock;
  logger?: Logger;
  options?: CommandRoutesOptions;
}

export interface CommandDecisionBody {
  commandId: string;
  outcome: 'accepted' | 'rejected';
  code?: string;
  data?: unknown;
  /** The decision event's seq in the user's event log (absent when read from processed_commands). */
  seq?: number;
}

const postSchema = z
  .object({
    type: z.enum(ACCOUNT_COMMAND_TYPES),
    payload: z.record(z.string(), z.unknown()).optional(),
    id: z.uuid().optional(),
  })
  .strict();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Idempotency reservation of a command id (global: ids are unique across users, as in processed_commands). */
export const commandIdKey = (commandId: string) => `cmdid:{${commandId.toLowerCase()}}`;

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

export function createCommandRoutes(deps: CommandRoutesDeps): RouteModule {
  const o = deps.options ?? {};
  const waitMs = o.decisionWaitMs ?? 5_000;
  const perSecond = o.commandsPerSecond ?? 20;
  const maxBody = o.maxBodyBytes ?? 16 * 1024;
  const idemTtl = o.idempotencyTtlSeconds ?? 24 * 3600;

  /** The stored decision of `commandId`, visible only inside `userId`'s tenant scope. */
  async function stored(userId: string, commandId: string): Promise<(CommandDecisionBody & { type: string; processedAt: string }) | null> {
    if (!UUID.test(commandId)) return null;
    const rows = await withTenant(deps.db, [userId], (tx) =>
      tx
        .select({ type: processedCommands.type, code: processedCommands.resultCode, result: processedCommands.result, at: processedCommands.processedAt })
        .from(processedCommands)
        .where(and(eq(processedCommands.commandId, commandId.toLowerCase()), eq(processedCommands.userId, userId))),
    );
    const row = rows[0];
    if (!row) return null;
    const r = (row.result ?? {}) as { outcome?: 'accepted' | 'rejected'; code?: string; result?: unknown };
    return {
      commandId: commandId.toLowerCase(),
      type: row.type,
      outcome: r.outcome ?? 'accepted',
      code: row.code,
      ...(r.result !== undefined ? { data: r.result } : {}),
      processedAt: new Date(row.at as unknown as string | Date).toISOString(),
    };
  }

  /** Subscribes (confirmed) for `userId`'s decision of `commandId`; `wait()` resolves with it or null on timeout. */
  async function watch(userId: string, commandId: string): Promise<{ wait(ms: number): Promise<CommandDecisionBody | null>; stop(): void }> {
    let found: CommandDecisionBody | null = null;
    let wake: (() => void) | null = null;
    const fn = (frame: string): void => {
      if (found) return;
      let ev;
      try {
        const p = userEventSchema.safeParse(JSON.parse(frame));
        if (!p.success) return;
        ev = p.data;
      } catch {
        return;
      }
      if (ev.kind !== 'decision' || ev.commandId?.toLowerCase() !== commandId) return;
      found = {
        commandId,
        outcome: ev.outcome ?? 'accepted',
        ...(ev.code !== undefined ? { code: ev.code } : {}),
        ...(ev.data !== undefined ? { data: ev.data } : {}),
        seq: ev.seq,
      };
      wake?.();
    };
    await deps.events.add(userId, fn);
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      deps.events.remove(userId, fn);
    };
    return {
      stop,
      wait: (ms) =>
        new Promise((resolve) => {
          if (found) return resolve(found);
          const timer = setTimeout(() => {
            wake = null;
            resolve(found);
          }, ms);
          wake = () => {
            clearTimeout(timer);
            wake = null;
            resolve(found);
          };
        }),
    };
  }

  // POST /api/commands
  const post = (res: HttpResponse, req: HttpRequest): void => {
    const parts = readRequest(req);
    const contentType = req.getHeader('content-type');
    const state = guard(res);
    void (async () => {
      // The body is read first: uWS hands it over only to a reader attached inside the handler.
      const body = await readBody(res, state, maxBody);
      if (state.aborted) return;
      const user = await admit(deps, res, state, parts.token);
      if (!user) return;
      if (body === null) return fail(res, state, 413, 'payload_too_large', `the body is limited to ${maxBody} bytes`);
      if (!contentType.toLowerCase().startsWith('application/json')) return fail(res, state, 415, 'json_required', 'content-type must be application/json');
      let raw: unknown;
      try {
        raw = JSON.parse(body.toString('utf8'));
      } catch {
        return fail(res, state, 400, 'invalid_request', 'the body is not valid JSON');
      }
      const type = (raw as { type?: unknown } | null)?.type;
      if (typeof type === 'string' && !(ACCOUNT_COMMAND_TYPES as readonly string[]).includes(type)) {
        return fail(res, state, 400, 'unknown_command', 'unknown command type', { type: type.slice(0, 64), known: ACCOUNT_COMMAND_TYPES });
      }
      const parsed = postSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return fail(res, state, 400, 'invalid_request', `${issue.path.join('.') || '(body)'}: ${issue.message}`);
      }
      const cmd = await deps.rateLimiter.limit('cmd', user.id, perSecond, 1000);
      if (!cmd.allowed) {
        const retry = Math.max(1, cmd.retryAfterSeconds);
        return fail(res, state, 429, 'rate_limited', `at most ${perSecond} commands per second`, { retryAfterSeconds: retry }, {
          'retry-after': String(retry),
          'x-ratelimit-limit': String(perSecond),
          'x-ratelimit-remaining': '0',
        });
      }

      const commandId = (parsed.data.id ?? randomUUID()).toLowerCase();
      // Subscribed before anything is appended (or looked up), so the decision cannot slip past.
      const w = await watch(user.id, commandId);
      try {
        if (parsed.data.id !== undefined) {
          const prev = await stored(user.id, commandId);
          if (prev) return send(res, state, 200, decisionBody(prev));
        }
        const reserved = await deps.redis.set(commandIdKey(commandId), user.id, 'EX', idemTtl, 'NX');
        if (reserved === null) {
          const owner = await deps.redis.get(commandIdKey(commandId));
          if (owner !== null && owner !== user.id) return fail(res, state, 409, 'id_conflict', 'this command id is already in use');
          // Same user, same id: already appended once; wait for that command's decision instead.
        } else {
          try {
            await appendCommand(
              deps.redis,
              { id: commandId, userId: user.id, type: parsed.data.type, payload: parsed.data.payload ?? {}, issuedAt: new Date(deps.clock.now()).toISOString() },
              deps.partitions,
            );
          } catch (err) {
            await deps.redis.del(commandIdKey(commandId)).catch(() => {});
            throw err;
          }
        }
        if (state.aborted) return;
        const decision = (await w.wait(waitMs)) ?? (await stored(user.id, commandId).then((s) => (s ? decisionBody(s) : null)));
        if (decision) return send(res, state, 200, decision);
        fail(res, state, 504, 'decision_pending', 'the command was accepted for processing but not decided yet; GET /api/commands/{commandId}', { commandId });
      } finally {
        w.stop();
      }
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
      if (!UUID.test(id)) return fail(res, state, 400, 'invalid_request', 'the command id must be a UUID');
      const prev = await stored(user.id, id);
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
