// The live-handoff HTTP surface under /api/live/…: standing, passkeys and step-up, the Alpaca OAuth connect flow
// (its callback on the configured redirect path), live order drafts and their step-up-bound submit, cancel and
// disconnect. Orders and disconnects are commands in the user's partition; the gateway only verifies, consumes the
// single-use step-up challenge and waits for the actor's decision. See docs/live-handoff.md.
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { z } from 'zod';
import { LIVE_COMMAND_TYPES, liveOrderDraftSchema, nameUuid, type LiveCommandType, type LiveErrorCode } from '../../../contracts/index.js';
import { live } from '../../../domain/index.js';
import type { OAuthConnect } from '../../../infra/alpaca/index.js';
import { appendAudit } from '../../../infra/audit/index.js';
import { withTenant, type Db } from '../../../infra/db/index.js';
import type { Envelope } from '../../../infra/kms/index.js';
import { activeConnection, consentExpired, insertSealedConnection, sealTokens, type LiveConnection } from '../../../infra/live/connections.js';
import { getLiveOrder, insertDraft, listLiveOrders, liveOrderJson } from '../../../infra/live/live-orders.js';
import { readStanding, setTradingMode, type StandingOptions, type UserStanding } from '../../../infra/live/standing.js';
import type { Logger } from '../../../infra/logging/index.js';
import type { RateLimiter } from '../../../infra/rate-limit/index.js';
import type { Passkeys } from '../../../infra/webauthn/index.js';
import { StepUpError } from '../../../infra/webauthn/index.js';
import type { UserRecord } from '../../tier-directory.js';
import type { CommandSubmitter } from '../command-submitter.js';
import { admit, readRequest, sendJson, type AccessDeps } from '../market-rest.js';
import { guard, readBody, type ResState } from '../response.js';
import type { RouteModule } from '../routes.js';
import { liveErrorStatus } from './errors.js';

export interface LiveRoutesDeps extends AccessDeps {
  db: Db;
  submitter: CommandSubmitter;
  passkeys: Passkeys;
  oauth: OAuthConnect;
  envelope: Envelope;
  standing: StandingOptions;
  reconsentDays: number;
  /** Path of the OAuth redirect URI on this gateway (config ALPACA_OAUTH_REDIRECT_URI's path). */
  callbackPath: string;
  /** Where the callback sends the browser afterwards (a relative path of this app, never from the request). */
  returnPath?: string;
  /** Live commands per user per minute (Redis limiter, scope `live`). Default 30. */
  commandsPerMinute?: number;
  rateLimiter?: RateLimiter;
  logger?: Logger;
  now?: () => Date;
}

interface Ctx {
  res: HttpResponse;
  state: ResState;
  user: UserRecord;
  /** The session token: the OAuth state is bound to it. */
  session: string;
  query: URLSearchParams;
  params: string[];
  body: Record<string, unknown>;
}

type Handler = (c: Ctx) => Promise<void>;

class LiveHttpError extends Error {
  constructor(
    readonly code: LiveErrorCode | 'invalid_request' | 'internal' | 'rate_limited' | 'decision_pending',
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const PREFIX = '/api/live';
const MAX_BODY = 32 * 1024;
const submitBody = z.object({ assertion: z.record(z.string(), z.unknown()) });
const passkeyBody = z.object({ response: z.record(z.string(), z.unknown()) });
const draftBody = z.object({ draft: z.unknown() });
const issues = (e: z.ZodError) => e.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');

function connectionJson(c: LiveConnection | undefined, now: Date, reconsentDays: number) {
  if (!c) return null;
  return {
    id: c.id,
    scopes: c.scopes,
    issued_at: c.issuedAt.toISOString(),
    expires_at: c.expiresAt.toISOString(),
    last_used_at: c.lastUsedAt?.toISOString() ?? null,
    needs_reauth: c.needsReauth || consentExpired(c, now, reconsentDays),
  };
}

export function createLiveRoutes(deps: LiveRoutesDeps): RouteModule {
  const now = deps.now ?? (() => new Date());
  const perMinute = deps.commandsPerMinute ?? 30;
  const returnPath = deps.returnPath ?? '/live/';

  function fail(c: Pick<Ctx, 'res' | 'state'>, err: LiveHttpError): void {
    const status = liveErrorStatus(err.code);
    sendJson(c.res, c.state, status, { code: err.code, message: err.message, ...err.extra });
  }

  function route(fn: Handler, opts: { params?: number; body?: boolean } = {}) {
    return (res: HttpResponse, req: HttpRequest): void => {
      const parts = readRequest(req);
      const params = Array.from({ length: opts.params ?? 0 }, (_, i) => decodeURIComponent(req.getParameter(i) ?? ''));
      const contentType = req.getHeader('content-type').toLowerCase();
      const state = guard(res);
      void (async () => {
        const raw = opts.body ? await readBody(res, state, MAX_BODY) : null;
        if (state.aborted) return;
        const user = await admit(deps, res, state, parts.token);
        if (!user) return;
        let body: Record<string, unknown> = {};
        if (opts.body) {
          if (raw === null) return fail({ res, state }, new LiveHttpError('invalid_request', `the request body is limited to ${MAX_BODY} bytes`));
          if (!contentType.startsWith('application/json')) return fail({ res, state }, new LiveHttpError('invalid_request', 'content-type must be application/json'));
          try {
            const parsed: unknown = raw.length ? JSON.parse(raw.toString('utf8')) : {};
            if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
            body = parsed as Record<string, unknown>;
          } catch {
            return fail({ res, state }, new LiveHttpError('invalid_request', 'the body must be a JSON object'));
          }
        }
        await fn({ res, state, user, session: parts.token, query: parts.query, params, body });
      })().catch((err: unknown) => {
        if (err instanceof LiveHttpError) return fail({ res, state }, err);
        if (err instanceof StepUpError) return fail({ res, state }, new LiveHttpError(err.code, stepUpMessage(err), { reason: err.reason }));
        const code = (err as { code?: unknown }).code;
        if (code === 'oauth_state_invalid' || code === 'oauth_exchange_failed' || code === 'kms_unavailable' || code === 'needs_reauth') {
          return fail({ res, state }, new LiveHttpError(code, (err as Error).message));
        }
        deps.logger?.warn({ err }, 'live API request failed');
        fail({ res, state }, new LiveHttpError('internal', 'internal server error'));
      });
    };
  }

  async function standingOf(userId: string): Promise<{ standing: UserStanding; connection: LiveConnection | undefined; passkey: boolean }> {
    const [read, passkey] = await Promise.all([
      withTenant(deps.db, [userId], async (tx) => ({ standing: await readStanding(tx, userId, deps.standing), connection: await activeConnection(tx, userId) })),
      deps.passkeys.hasPasskey(userId),
    ]);
    if (!read.standing) throw new LiveHttpError('not_connected', 'unknown user');
    return { standing: read.standing, connection: read.connection, passkey };
  }

  /** Eligible (kill switch, tier, gate or override), or a LiveHttpError saying why and how far from the gate. */
  function requireEligible(standing: UserStanding): void {
    const e = live.liveEligibility(standing);
    if (!e.eligible) throw new LiveHttpError(e.code, e.message, e.missing ? { missing: e.missing } : {});
  }

  /** Runs the checks of a live action; a refusal is audited (outcome `denied`, its code) before it is answered. */
  async function audited(userId: string, action: string, checks: () => void): Promise<void> {
    try {
      checks();
    } catch (err) {
      if (err instanceof LiveHttpError) {
        await withTenant(deps.db, [userId], (tx) => appendAudit(tx, { actor: userId, subject: userId, action, outcome: 'denied', details: { code: err.code } }));
      }
      throw err;
    }
  }

  async function budget(c: Ctx): Promise<void> {
    if (!deps.rateLimiter) return;
    const d = await deps.rateLimiter.limit('live', c.user.id, perMinute, 60_000);
    if (!d.allowed) throw new LiveHttpError('rate_limited', `at most ${perMinute} live actions per minute`, { retryAfterSeconds: Math.max(1, d.retryAfterSeconds) });
  }

  /** Appends a live command and waits for the actor's decision; answers with it. */
  async function command(c: Ctx, type: LiveCommandType, payload: Record<string, unknown>, commandId: string = randomUUID()): Promise<void> {
    const r = await deps.submitter.submit(c.user.id, { commandId, clientChosenId: false, type, payload }, () => c.state.aborted);
    if (r.kind === 'pending') {
      throw new LiveHttpError('decision_pending', 'the account actor has not decided yet; the outcome stays retrievable', { commandId: r.commandId });
    }
    if (r.kind === 'conflict') throw new LiveHttpError('internal', 'command id conflict');
    const decision = r.decision;
    let data = (decision.data ?? {}) as Record<string, unknown>;
    if (!('order' in data) && !('code' in data)) {
      const stored = await deps.submitter.stored(c.user.id, decision.commandId);
      data = (stored?.data ?? data) as Record<string, unknown>;
    }
    const { type: _type, ...rest } = data;
    if (decision.outcome === 'accepted') return sendJson(c.res, c.state, 200, { commandId: decision.commandId, ...rest });
    const code = (decision.code ?? 'internal') as LiveErrorCode;
    const { code: _code, message, ...extra } = rest as { code?: string; message?: string };
    throw new LiveHttpError(code, message ?? code, { commandId: decision.commandId, ...extra });
  }

  // ---- standing ----

  const getStatus: Handler = async (c) => {
    const { standing, connection, passkey } = await standingOf(c.user.id);
    const e = live.liveEligibility(standing);
    sendJson(c.res, c.state, 200, {
      tier: standing.tier,
      mode: standing.mode,
      kill_switch: standing.killSwitch.disabled,
      eligible: e.eligible,
      ...(e.eligible ? { via: e.via } : { code: e.code, message: e.message }),
      gate: standing.gate,
      override: standing.override !== null,
      passkey,
      fresh_step_up: await deps.passkeys.hasFreshStepUp(c.user.id),
      connection: connectionJson(connection, now(), deps.reconsentDays),
    });
  };

  // ---- passkeys and step-up ----

  const passkeyOptions: Handler = async (c) => {
    sendJson(c.res, c.state, 200, await deps.passkeys.registrationOptions({ id: c.user.id, name: c.user.id }));
  };

  const passkeyRegister: Handler = async (c) => {
    const b = passkeyBody.safeParse(c.body);
    if (!b.success) throw new LiveHttpError('invalid_request', issues(b.error));
    const r = await deps.passkeys.verifyRegistration(c.user.id, b.data.response as never);
    sendJson(c.res, c.state, 200, { registered: true, credentialId: r.credentialId });
  };

  const stepUpOptions: Handler = async (c) => {
    await deps.passkeys.passkeyRequired(c.user.id);
    sendJson(c.res, c.state, 200, await deps.passkeys.stepUpOptions(c.user.id, { purpose: 'step_up' }));
  };

  const stepUpVerify: Handler = async (c) => {
    const b = passkeyBody.safeParse(c.body);
    if (!b.success) throw new LiveHttpError('invalid_request', issues(b.error));
    const r = await deps.passkeys.verifyStepUp(c.user.id, b.data.response as never, { purpose: 'step_up' });
    sendJson(c.res, c.state, 200, { verified: true, verifiedAt: r.verifiedAt.toISOString() });
  };

  // ---- connect (OAuth) ----

  const connect: Handler = async (c) => {
    await budget(c);
    const { standing } = await standingOf(c.user.id);
    const fresh = await deps.passkeys.hasFreshStepUp(c.user.id);
    await audited(c.user.id, 'live.authorize', () => {
      requireEligible(standing);
      // Enrollment is a step-up action: a passkey assertion no older than 5 minutes.
      if (!fresh) throw new LiveHttpError('step_up_required', 'confirm with your passkey first (POST /api/live/step-up)');
    });
    const begun = await deps.oauth.begin(c.user.id, c.session);
    await withTenant(deps.db, [c.user.id], (tx) => appendAudit(tx, { actor: c.user.id, subject: c.user.id, action: 'live.authorize', outcome: 'success', details: { stage: 'begin', expiresAt: begun.expiresAt.toISOString() } }));
    sendJson(c.res, c.state, 200, { authorizeUrl: begun.authorizeUrl, expiresAt: begun.expiresAt.toISOString() });
  };

  /** The AS redirects the browser here; the session cookie identifies the user, the state must match it. */
  const callback: Handler = async (c) => {
    const q = {
      state: c.query.get('state') ?? undefined,
      code: c.query.get('code') ?? undefined,
      error: c.query.get('error') ?? undefined,
    };
    const back = (params: Record<string, string>) => {
      if (c.state.aborted) return;
      c.state.aborted = true;
      const target = `${returnPath}?${new URLSearchParams(params).toString()}`;
      c.res.cork(() => c.res.writeStatus('302 Found').writeHeader('location', target).writeHeader('cache-control', 'no-store').end());
    };
    try {
      const { standing } = await standingOf(c.user.id);
      // The kill switch and eligibility are checked again: minutes may have passed on the consent page.
      requireEligible(standing);
      const tokens = await deps.oauth.complete(c.user.id, c.session, q);
      const connectionId = randomUUID();
      // Sealed (KMS) before the transaction: no row lock waits on the key service.
      const sealed = await sealTokens(deps.envelope, c.user.id, connectionId, tokens);
      await withTenant(deps.db, [c.user.id], async (tx) => {
        await insertSealedConnection(tx, { sealed, now: now(), reconsentDays: deps.reconsentDays });
        await setTradingMode(tx, c.user.id, 'live', c.user.id, 'connected Alpaca');
        await appendAudit(tx, { actor: c.user.id, subject: c.user.id, action: 'live.connect', outcome: 'success', details: { connectionId, scopes: tokens.scope, refreshable: tokens.refreshToken !== undefined } });
        await appendAudit(tx, { actor: c.user.id, subject: c.user.id, action: 'live.mode_change', outcome: 'success', details: { mode: 'live' } });
      });
      back({ connected: '1' });
    } catch (err) {
      const code = err instanceof LiveHttpError ? err.code : ((err as { code?: string }).code ?? 'internal');
      if (code === 'internal' || typeof code !== 'string') deps.logger?.warn({ err }, 'OAuth callback failed');
      await withTenant(deps.db, [c.user.id], (tx) => appendAudit(tx, { actor: c.user.id, subject: c.user.id, action: 'live.connect', outcome: 'failure', details: { code } })).catch(() => undefined);
      back({ error: String(code) });
    }
  };

  const disconnect: Handler = async (c) => {
    await budget(c);
    await command(c, LIVE_COMMAND_TYPES.revoke, { requestedBy: c.user.id, reason: 'user disconnected' });
  };

  // ---- live orders ----

  const createDraft: Handler = async (c) => {
    await budget(c);
    const b = draftBody.safeParse(c.body);
    const d = liveOrderDraftSchema.safeParse(b.success ? b.data.draft : undefined);
    if (!d.success) throw new LiveHttpError('draft_invalid', issues(d.error));
    const { standing, connection, passkey } = await standingOf(c.user.id);
    await audited(c.user.id, 'live.draft', () => {
      requireEligible(standing);
      if (standing.mode !== 'live' || !connection) throw new LiveHttpError('not_connected', 'connect your Alpaca account first');
      if (connection.needsReauth || consentExpired(connection, now(), deps.reconsentDays)) throw new LiveHttpError('needs_reauth', 'connect Alpaca again');
      if (!passkey) throw new LiveHttpError('passkey_required', 'register a passkey first');
    });
    if (!connection) return;
    const id = randomUUID();
    const row = await withTenant(deps.db, [c.user.id], async (tx) => {
      const inserted = await insertDraft(tx, { id, userId: c.user.id, draft: d.data, connectionId: connection.id });
      await appendAudit(tx, { actor: c.user.id, subject: c.user.id, action: 'live.draft', outcome: 'success', details: { liveOrderId: id, ...d.data } });
      return inserted;
    });
    const stepUp = await deps.passkeys.stepUpOptions(c.user.id, { purpose: 'live_submit', liveOrderId: row.id, draftHash: row.draftHash });
    sendJson(c.res, c.state, 201, { order: liveOrderJson(row), stepUp });
  };

  const draftStepUp: Handler = async (c) => {
    const row = await withTenant(deps.db, [c.user.id], (tx) => getLiveOrder(tx, c.user.id, c.params[0]!));
    if (!row) throw new LiveHttpError('draft_not_found', 'live order not found');
    if (row.status !== 'draft' && row.status !== 'in_doubt') throw new LiveHttpError('draft_already_submitted', `this order was already submitted (${row.status})`);
    sendJson(c.res, c.state, 200, await deps.passkeys.stepUpOptions(c.user.id, { purpose: 'live_submit', liveOrderId: row.id, draftHash: row.draftHash }));
  };

  const submit: Handler = async (c) => {
    await budget(c);
    const b = submitBody.safeParse(c.body);
    if (!b.success) throw new LiveHttpError('invalid_request', issues(b.error));
    const row = await withTenant(deps.db, [c.user.id], (tx) => getLiveOrder(tx, c.user.id, c.params[0]!));
    if (!row) throw new LiveHttpError('draft_not_found', 'live order not found');
    // The assertion must be bound to this stored draft; the challenge is consumed here, exactly once.
    const verified = await deps.passkeys.verifyStepUp(c.user.id, b.data.assertion as never, { purpose: 'live_submit', liveOrderId: row.id, draftHash: row.draftHash });
    // One command per consumed challenge, whichever gateway consumed it.
    await command(c, LIVE_COMMAND_TYPES.submit, { liveOrderId: row.id }, nameUuid('raxx-live-submit', '\0', verified.challengeId));
  };

  const cancel: Handler = async (c) => {
    await budget(c);
    const row = await withTenant(deps.db, [c.user.id], (tx) => getLiveOrder(tx, c.user.id, c.params[0]!));
    if (!row) throw new LiveHttpError('draft_not_found', 'live order not found');
    await command(c, LIVE_COMMAND_TYPES.cancel, { liveOrderId: row.id });
  };

  const listOrders: Handler = async (c) => {
    const rows = await withTenant(deps.db, [c.user.id], (tx) => listLiveOrders(tx, c.user.id));
    sendJson(c.res, c.state, 200, rows.map(liveOrderJson));
  };

  const getOrder: Handler = async (c) => {
    const row = await withTenant(deps.db, [c.user.id], (tx) => getLiveOrder(tx, c.user.id, c.params[0]!));
    if (!row) throw new LiveHttpError('draft_not_found', 'live order not found');
    sendJson(c.res, c.state, 200, liveOrderJson(row));
  };

  const uuidParam = (fn: Handler): Handler => async (c) => {
    if (!z.uuid().safeParse(c.params[0]).success) throw new LiveHttpError('draft_not_found', 'live order not found');
    await fn(c);
  };

  return {
    register(app: TemplatedApp) {
      app.get(`${PREFIX}/status`, route(getStatus));
      app.post(`${PREFIX}/passkeys/options`, route(passkeyOptions));
      app.post(`${PREFIX}/passkeys`, route(passkeyRegister, { body: true }));
      app.post(`${PREFIX}/step-up/options`, route(stepUpOptions));
      app.post(`${PREFIX}/step-up`, route(stepUpVerify, { body: true }));
      app.post(`${PREFIX}/connect`, route(connect));
      app.get(deps.callbackPath, route(callback));
      app.post(`${PREFIX}/disconnect`, route(disconnect));
      app.post(`${PREFIX}/orders`, route(createDraft, { body: true }));
      app.get(`${PREFIX}/orders`, route(listOrders));
      app.get(`${PREFIX}/orders/:id`, route(uuidParam(getOrder), { params: 1 }));
      app.post(`${PREFIX}/orders/:id/step-up`, route(uuidParam(draftStepUp), { params: 1 }));
      app.post(`${PREFIX}/orders/:id/submit`, route(uuidParam(submit), { params: 1, body: true }));
      app.del(`${PREFIX}/orders/:id`, route(uuidParam(cancel), { params: 1 }));
    },
  };
}

function stepUpMessage(err: StepUpError): string {
  if (err.code === 'passkey_required') return 'register a passkey first';
  return `the passkey confirmation was not accepted (${err.reason}); request a new challenge and try again`;
}
