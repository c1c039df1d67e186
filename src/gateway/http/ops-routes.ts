// Operator endpoints under /ops: the market-data kill switch, user tiers, the bar-close rule registry, the live-handoff
// kill switch and gate overrides.
// Only operators (token role `operator` AND users.role = 'operator' in PostgreSQL); every action is audited here,
// with the operator's id, so the gateway is the one writer of these settings. Every caller with a valid token has a
// per-user budget (shared Redis limiter) checked before any database work, so /ops cannot be used to flood the
// audit log or PostgreSQL.
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { LIVE_HANDOFF_SWITCH, TIER_CHANGED_CHANNEL, marketDataChannels, marketDataKeys, symbolSchema } from '../../contracts/index.js';
import { appendAudit } from '../../infra/audit/index.js';
import { liveGateOverrides, runtimeSwitches, TIERS, users, withTenant, type Db } from '../../infra/db/index.js';
import type { Logger } from '../../infra/logging/index.js';
import type { RateLimiter } from '../../infra/rate-limit/index.js';
import { disableRule, isValidRuleId, listEnabledRules, upsertRule } from '../../infra/market-data/index.js';
import { extractToken, type SessionAuth } from '../auth.js';
import { guard, readBody, respond } from './response.js';
import type { RouteModule } from './routes.js';

export interface OpsRoutesDeps {
  auth: SessionAuth;
  /** PostgreSQL as the app role (raxx_app): user rows under withTenant, rules, audit. */
  db: Db;
  /** A command connection (not a subscriber): the kill switch, the status key, PUBLISH. */
  redis: Redis;
  logger: Logger;
  /** Request body limit in bytes (default 16 KiB). */
  maxBodyBytes?: number;
  /** The shared Redis limiter (createRedisRateLimiter): scope `ops`, subject the token's user id. */
  rateLimiter: RateLimiter;
  /** `/ops/*` requests per user per minute (GATEWAY_OPS_REQUESTS_PER_MINUTE; default 60). */
  requestsPerMinute?: number;
  /** ALPACA_LIVE_HANDOFF_DISABLED: shown next to the runtime toggle (the environment flag wins). */
  liveDisabledByEnv?: boolean;
  /** Whether an operator confirmed with a passkey in the last 5 minutes (gate overrides need it); absent = never. */
  freshStepUp?: (operatorId: string) => Promise<boolean>;
}

export type OpsErrorCode =
  | 'unauthorized'
  | 'operator_required'
  | 'invalid_request'
  | 'json_required'
  | 'payload_too_large'
  | 'user_not_found'
  | 'rule_not_found'
  | 'step_up_required'
  | 'rate_limited'
  | 'internal';

/** A refusal with its HTTP status; the body is `{code, message}`. */
export class OpsError extends Error {
  override readonly name = 'OpsError';
  constructor(
    readonly status: number,
    readonly code: OpsErrorCode,
    message: string,
    /** Extra body fields and response headers (429: `retryAfterSeconds`, `Retry-After`). */
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Operator {
  id: string;
  actor: string;
}

interface Ctx {
  operator: Operator;
  params: string[];
  body: unknown;
}

type Handler = (ctx: Ctx) => Promise<{ status?: number; body: unknown }>;

const killSwitchBody = z.object({ on: z.boolean() }).strict();
const tierBody = z.object({ tier: z.enum(TIERS) }).strict();
const ruleBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    symbols: z.array(symbolSchema).min(1).max(1000),
  })
  .strict();
const userIdSchema = z.string().min(1).max(200);
const liveSwitchBody = z.object({ on: z.boolean(), reason: z.string().trim().min(1).max(200) }).strict();
const overrideBody = z.object({ reason: z.string().trim().min(1).max(200) }).strict();

export function opsRoutes(deps: OpsRoutesDeps): RouteModule {
  const { auth, db, redis, logger } = deps;
  const maxBody = deps.maxBodyBytes ?? 16 * 1024;
  const perMinute = deps.requestsPerMinute ?? 60;

  /** One request of `userId` against the /ops budget; an OpsError 429 when it is spent. */
  async function spend(userId: string): Promise<void> {
    let decision;
    try {
      decision = await deps.rateLimiter.limit('ops', userId, perMinute, 60_000);
    } catch (err) {
      // Fail open: an operator must still reach the kill switch or a tier change while Redis misbehaves.
      logger.warn({ err, user: userId }, 'ops rate limiter failed; request allowed');
      return;
    }
    if (decision.allowed) return;
    const retry = Math.max(1, decision.retryAfterSeconds);
    throw new OpsError(429, 'rate_limited', `at most ${perMinute} /ops requests per minute`, { retryAfterSeconds: retry }, {
      'retry-after': String(retry),
      'x-ratelimit-limit': String(perMinute),
      'x-ratelimit-remaining': '0',
    });
  }

  /** The operator behind a request, or an OpsError (401 without a valid session, 403 unless both role checks pass). */
  async function authenticate(token: string, method: string, path: string): Promise<Operator> {
    if (token === '') throw new OpsError(401, 'unauthorized', 'a session token is required');
    const claims = await auth.verify(token);
    if (!claims) throw new OpsError(401, 'unauthorized', 'the session token is invalid or expired');
    await spend(claims.sub);
    const rows = await withTenant(db, [claims.sub], (tx) => tx.select({ role: users.role }).from(users).where(eq(users.id, claims.sub)).limit(1));
    if (claims.role !== 'operator' || rows[0]?.role !== 'operator') {
      await appendAudit(db, {
        actor: `user:${claims.sub}`,
        action: 'ops.access',
        outcome: 'denied',
        details: { method, path, tokenRole: claims.role ?? 'user', userRole: rows[0]?.role ?? null },
      }).catch((err: unknown) => logger.warn({ err }, 'ops denial audit failed'));
      throw new OpsError(403, 'operator_required', 'this endpoint is for operators only');
    }
    return { id: claims.sub, actor: `operator:${claims.sub}` };
  }

  function route(app: TemplatedApp, method: 'get' | 'post' | 'put' | 'del', pattern: string, params: number, hasBody: boolean, handler: Handler): void {
    app[method](pattern, (res: HttpResponse, req) => {
      // Everything from `req` is read now: it is gone after the first await.
      const token = extractToken({ authorization: req.getHeader('authorization'), cookie: req.getHeader('cookie'), accessToken: '' });
      const contentType = req.getHeader('content-type').toLowerCase();
      const path = req.getUrl();
      const values = Array.from({ length: params }, (_, i) => decodeParam(req.getParameter(i) ?? ''));
      const state = guard(res);
      // The body must be read from the first tick too (uWS drops chunks nobody listens for).
      const bodyPromise = hasBody ? readBody(res, state, maxBody) : Promise.resolve(null);
      void (async () => {
        const raw = await bodyPromise;
        if (state.aborted) return;
        const operator = await authenticate(token, method === 'del' ? 'DELETE' : method.toUpperCase(), path);
        let body: unknown = undefined;
        if (hasBody) {
          if (raw === null) throw new OpsError(413, 'payload_too_large', `the body must be at most ${maxBody} bytes`);
          if (!contentType.startsWith('application/json')) throw new OpsError(415, 'json_required', 'send Content-Type: application/json');
          try {
            body = JSON.parse(raw.toString('utf8'));
          } catch {
            throw new OpsError(400, 'invalid_request', 'the body is not valid JSON');
          }
        }
        const out = await handler({ operator, params: values, body });
        respond(res, state, out.status ?? 200, out.body);
      })().catch((err: unknown) => {
        if (err instanceof OpsError) return respond(res, state, err.status, { code: err.code, message: err.message, ...err.extra }, err.headers);
        logger.warn({ err, path }, 'ops request failed');
        respond(res, state, 500, { code: 'internal', message: 'the request failed; see the gateway log' });
      });
    });
  }

  // ---- market data ----

  const marketDataStatus: Handler = async () => {
    const [kill, status] = await Promise.all([redis.get(marketDataKeys.killSwitch), redis.get(marketDataKeys.status)]);
    return { body: { killSwitch: kill === '1', hub: parseJson(status) } };
  };

  const killSwitch: Handler = async ({ operator, body }) => {
    const { on } = parse(killSwitchBody, body);
    const action = on ? 'market_data.disable' : 'market_data.enable';
    try {
      if (on) await redis.set(marketDataKeys.killSwitch, '1');
      else await redis.del(marketDataKeys.killSwitch);
      // Wake the feed leader now rather than at its next poll.
      await redis.publish(marketDataChannels.demandChanged, 'kill-switch');
    } catch (err) {
      await appendAudit(db, { actor: operator.actor, action, outcome: 'failure', details: { via: 'ops-api', reason: 'redis' } }).catch(() => {});
      throw err;
    }
    await appendAudit(db, { actor: operator.actor, action, outcome: 'success', details: { via: 'ops-api' } });
    return { body: { killSwitch: on } };
  };

  // ---- users ----

  const setTier: Handler = async ({ operator, params, body }) => {
    const userId = parse(userIdSchema, params[0]);
    const { tier } = parse(tierBody, body);
    const from = await withTenant(db, [userId], async (tx) => {
      const rows = await tx.select({ tier: users.tier }).from(users).where(eq(users.id, userId)).for('update').limit(1);
      const old = rows[0]?.tier;
      if (old === undefined) return undefined;
      await tx.update(users).set({ tier, updatedAt: sql`now()` }).where(eq(users.id, userId));
      await appendAudit(tx, { actor: operator.actor, action: 'user.tier.change', outcome: 'success', subject: userId, details: { from: old, to: tier, via: 'ops-api' } });
      return old;
    });
    if (from === undefined) {
      await appendAudit(db, { actor: operator.actor, action: 'user.tier.change', outcome: 'failure', details: { userId, to: tier, reason: 'user_not_found', via: 'ops-api' } });
      throw new OpsError(404, 'user_not_found', `no user ${userId}`);
    }
    // After the commit: gateways re-read the row and move the user's open sockets.
    let notified = true;
    try {
      await redis.publish(TIER_CHANGED_CHANNEL, userId);
    } catch (err) {
      notified = false;
      logger.warn({ err, user: userId }, 'tier change committed but not published; gateways pick it up when their cache expires');
    }
    return { body: { user: userId, from, tier, notified } };
  };

  // ---- bar-close rules ----

  const listRules: Handler = async () => {
    const rules = await listEnabledRules(db);
    return { body: { rules: rules.map(ruleJson) } };
  };

  const putRule: Handler = async ({ operator, params, body }) => {
    const id = ruleId(params[0]);
    const input = parse(ruleBody, body);
    const rule = await db.transaction(async (tx) => {
      const saved = await upsertRule(tx, { id, name: input.name ?? id, symbols: input.symbols, createdBy: operator.actor });
      await appendAudit(tx, { actor: operator.actor, action: 'market_data.rule.set', outcome: 'success', details: { ruleId: id, name: saved.name, symbols: [...saved.symbols], via: 'ops-api' } });
      return saved;
    });
    return { body: { rule: ruleJson(rule) } };
  };

  const deleteRule: Handler = async ({ operator, params }) => {
    const id = ruleId(params[0]);
    const found = await db.transaction(async (tx) => {
      const ok = await disableRule(tx, id);
      await appendAudit(tx, { actor: operator.actor, action: 'market_data.rule.disable', outcome: ok ? 'success' : 'failure', details: { ruleId: id, via: 'ops-api' } });
      return ok;
    });
    if (!found) throw new OpsError(404, 'rule_not_found', `no rule ${id}`);
    return { body: { rule: id, enabled: false } };
  };

  // ---- live handoff ----

  const liveStatus: Handler = async () => {
    const rows = await db.select().from(runtimeSwitches).where(eq(runtimeSwitches.name, LIVE_HANDOFF_SWITCH));
    const row = rows[0];
    return {
      body: {
        env: deps.liveDisabledByEnv ?? false,
        runtime: row ? { on: row.enabled, setBy: row.setBy, reason: row.reason, updatedAt: row.updatedAt.toISOString() } : { on: false },
        disabled: (deps.liveDisabledByEnv ?? false) || (row?.enabled ?? false),
      },
    };
  };

  /** The runtime kill switch: actors read it per command, so it applies to the next live submit anywhere. */
  const liveKillSwitch: Handler = async ({ operator, body }) => {
    const { on, reason } = parse(liveSwitchBody, body);
    await db.transaction(async (tx) => {
      await tx
        .insert(runtimeSwitches)
        .values({ name: LIVE_HANDOFF_SWITCH, enabled: on, setBy: operator.actor, reason })
        .onConflictDoUpdate({ target: runtimeSwitches.name, set: { enabled: on, setBy: operator.actor, reason, updatedAt: sql`now()` } });
      await appendAudit(tx, { actor: operator.actor, action: on ? 'live.kill_switch.on' : 'live.kill_switch.off', outcome: 'success', details: { reason, via: 'ops-api' } });
    });
    return { body: { on, reason, env: deps.liveDisabledByEnv ?? false } };
  };

  /** Grants a user live eligibility without the paper gate: audited, and only right after the operator's own step-up. */
  const grantOverride: Handler = async ({ operator, params, body }) => {
    const userId = parse(userIdSchema, params[0]);
    const { reason } = parse(overrideBody, body);
    if (!(deps.freshStepUp && (await deps.freshStepUp(operator.id)))) {
      await appendAudit(db, { actor: operator.actor, action: 'live.gate_override', outcome: 'denied', subject: userId, details: { code: 'step_up_required' } }).catch(() => {});
      throw new OpsError(403, 'step_up_required', 'confirm with your passkey first (POST /api/live/step-up), then retry within 5 minutes');
    }
    const found = await withTenant(db, [userId], async (tx) => {
      const rows = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).limit(1);
      if (!rows[0]) return false;
      await tx
        .insert(liveGateOverrides)
        .values({ userId, grantedBy: operator.actor, reason })
        .onConflictDoUpdate({ target: liveGateOverrides.userId, set: { grantedBy: operator.actor, reason, createdAt: sql`now()`, revokedAt: null } });
      await appendAudit(tx, { actor: operator.actor, action: 'live.gate_override', outcome: 'success', subject: userId, details: { reason, via: 'ops-api' } });
      return true;
    });
    if (!found) throw new OpsError(404, 'user_not_found', `no user ${userId}`);
    return { body: { user: userId, override: true, reason } };
  };

  const revokeOverride: Handler = async ({ operator, params }) => {
    const userId = parse(userIdSchema, params[0]);
    const changed = await withTenant(db, [userId], async (tx) => {
      const rows = await tx.update(liveGateOverrides).set({ revokedAt: sql`now()` }).where(eq(liveGateOverrides.userId, userId)).returning({ userId: liveGateOverrides.userId });
      await appendAudit(tx, { actor: operator.actor, action: 'live.gate_override.revoke', outcome: rows.length ? 'success' : 'failure', subject: userId, details: { via: 'ops-api' } });
      return rows.length > 0;
    });
    return { body: { user: userId, override: false, changed } };
  };

  return {
    register(app) {
      route(app, 'get', '/ops/live', 0, false, liveStatus);
      route(app, 'post', '/ops/live/kill-switch', 0, true, liveKillSwitch);
      route(app, 'post', '/ops/live/users/:id/override', 1, true, grantOverride);
      route(app, 'del', '/ops/live/users/:id/override', 1, false, revokeOverride);
      route(app, 'get', '/ops/market-data', 0, false, marketDataStatus);
      route(app, 'post', '/ops/market-data/kill-switch', 0, true, killSwitch);
      route(app, 'post', '/ops/users/:id/tier', 1, true, setTier);
      route(app, 'get', '/ops/rules', 0, false, listRules);
      route(app, 'put', '/ops/rules/:id', 1, true, putRule);
      route(app, 'del', '/ops/rules/:id', 1, false, deleteRule);
    },
  };
}

// ---- helpers ----

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new OpsError(400, 'invalid_request', `${where}${issue?.message ?? 'invalid input'}`);
}

function ruleId(value: string | undefined): string {
  if (!value || !isValidRuleId(value)) {
    throw new OpsError(400, 'invalid_request', 'a rule id is a letter, then letters, digits, _ . - (at most 64)');
  }
  return value;
}

function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function parseJson(text: string | null): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function ruleJson(rule: { id: string; name: string; symbols: readonly string[]; enabled: boolean; createdBy: string | null; updatedAt: Date }) {
  return { id: rule.id, name: rule.name, symbols: [...rule.symbols], enabled: rule.enabled, createdBy: rule.createdBy, updatedAt: rule.updatedAt.toISOString() };
}
