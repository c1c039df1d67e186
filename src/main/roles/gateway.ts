// Composition of the `gateway` role: the uWebSockets.js server wired to Redis (hub, tier changes), PostgreSQL (tiers)
// and the session keys, plus the internal ops listener (/metrics, /healthz, /readyz) on GATEWAY_OPS_PORT, which the
// public port never serves metrics from.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { TIER_CHANGED_CHANNEL } from '../../contracts/index.js';
import { offsetClock } from '../../domain/index.js';
import { createMarketDataHub, createSessionAuth, registerHubMetrics, startGateway, TierDirectory, type SessionLimits } from '../../gateway/index.js';
import { createDb } from '../../infra/db/index.js';
import { startOpsServer } from '../../infra/http/index.js';
import { DemandLease } from '../../infra/market-data/index.js';
import { closeRedis, createRedis } from '../../infra/redis/index.js';
import { createRedisRateLimiter, createRedisRequestLimiter } from '../../infra/rate-limit/index.js';
import { createCommandRoutes } from '../../gateway/http/commands.js';
import { createPrivateEvents, createUserEventBus } from '../../gateway/private-events.js';
import { httpRequestsPerMinute } from '../../domain/index.js';
import { opsRoutes } from '../../gateway/http/ops-routes.js';
import { createSseRoutes } from '../../gateway/http/sse.js';
import { createMarketRestRoutes } from '../../gateway/http/market-rest.js';
import { createAssetDirectory, createMarketDataRestClient, createTradingClockClient } from '../../infra/alpaca/index.js';
import { createCommandSubmitter } from '../../gateway/http/command-submitter.js';
import { hubMarks } from '../../gateway/http/paper/marks.js';
import { createPaperRoutes } from '../../gateway/http/paper/routes.js';
import { createLiveRoutes } from '../../gateway/http/live/routes.js';
import { createLivePageRoutes } from '../../gateway/http/live/page.js';
import { Passkeys } from '../../infra/webauthn/index.js';
import { envelopeFromConfig, oauthFromConfig, standingFromConfig } from './live-deps.js';
import { createPaperStream } from '../../gateway/paper-stream.js';
import type { MarketDataHub } from '../../gateway/index.js';
import type { RoleContext, RunningRole } from '../role-context.js';
import { storageChecks } from './readiness.js';

export interface GatewayRoleOverrides {
  /** Tests tighten or loosen the per-socket limits. */
  limits?: Partial<SessionLimits>;
}

export interface RunningGateway extends RunningRole {
  /** The internal ops listener (metrics and probes). */
  opsUrl: string;
}

export async function startGatewayRole(ctx: RoleContext, overrides: GatewayRoleOverrides = {}): Promise<RunningGateway> {
  const { config, logger } = ctx;
  const clock = offsetClock(config.clock.offsetMs);
  const owner = `gateway:${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  // Auto-pipelined: under load the requests of one tick share a write (limiter scripts, appends, id reservations).
  const redis = createRedis(config.redis.url, 'raxx-gateway', { autoPipelining: true });
  const subscriber = createRedis(config.redis.url, 'raxx-gateway-md');
  const tierEvents = createRedis(config.redis.url, 'raxx-gateway-tiers');
  for (const r of [redis, subscriber, tierEvents]) r.on('error', () => {}); // readiness reports outages
  const db = createDb(config.database.appUrl, { max: 4, appName: 'raxx-gateway' });
  ctx.onShutdown(async () => {
    await Promise.all([closeRedis(redis), closeRedis(subscriber), closeRedis(tierEvents), db.close()]);
  });

  const secret = config.secrets.SESSION_JWT_SECRET;
  if (!secret && !config.session.jwksUrl) {
    logger.warn('neither SESSION_JWKS_URL nor SESSION_JWT_SECRET is set: every WebSocket upgrade will be refused (401)');
  }
  const auth = createSessionAuth({
    issuer: config.session.issuer,
    audience: config.session.audience,
    secret,
    jwksUrl: config.session.jwksUrl,
  });
  const directory = new TierDirectory(db.db, { cacheMs: config.gateway.tierCacheMs });
  const demand = new DemandLease(redis, owner, { onError: (err) => logger.debug({ err }, 'demand lease renewal failed') });

  // One budget per user across every replica and every HTTP surface (the paper API will reuse it).
  const requestLimiter = createRedisRequestLimiter(redis, { perMinute: httpRequestsPerMinute });
  const sseSubscriber = createRedis(config.redis.url, 'raxx-gateway-sse');
  sseSubscriber.on('error', () => {});
  ctx.onShutdown(() => closeRedis(sseSubscriber));
  // startGateway builds the hub (it publishes through the app); the HTTP surfaces reach it once it exists.
  let hub: MarketDataHub | undefined;
  const hubRef = () => {
    if (!hub) throw new Error('market-data hub not started');
    return hub;
  };
  const upstream = createMarketDataRestClient({
    baseUrl: config.alpaca.dataRestUrl,
    keyId: () => config.secrets.ALPACA_KEY_ID?.current() ?? '',
    secret: () => config.secrets.ALPACA_SECRET_KEY?.current() ?? '',
  });
  const sse = createSseRoutes({
    auth,
    directory,
    limiter: requestLimiter,
    hub: hubRef,
    subscriber: sseSubscriber,
    clock,
    logger,
    registry: ctx.metrics,
    options: { heartbeatMs: config.gateway.heartbeatMs },
  });
  const userEventsSubscriber = createRedis(config.redis.url, 'raxx-gateway-user-events');
  userEventsSubscriber.on('error', () => {});
  const userEvents = createUserEventBus(userEventsSubscriber, (err) => logger.warn({ err }, 'user-events subscriber'));
  ctx.onShutdown(async () => {
    await userEvents.close();
    await closeRedis(userEventsSubscriber);
  });
  // One append-and-wait path for /api/commands and the paper API (one subscription linger per user).
  const submitter = createCommandSubmitter({ redis, db: db.db, events: userEvents, partitions: config.accounts.partitions, clock, options: { subscriptionLingerMs: 30_000 } });
  const upstreamKeys = () => ({ keyId: config.secrets.ALPACA_KEY_ID?.current() ?? '', secret: config.secrets.ALPACA_SECRET_KEY?.current() ?? '' });
  const assets = createAssetDirectory({ tradingUrl: config.alpaca.tradingUrl, credentials: upstreamKeys, onError: (err) => logger.warn({ err }, 'asset list refresh failed') });
  ctx.onShutdown(() => assets.close());
  // The live handoff: passkeys, the OAuth connect flow, the KMS envelope that seals what it returns.
  const passkeys = new Passkeys(db.db, { rpId: config.webauthn.rpId, rpName: config.webauthn.rpName, origins: config.webauthn.origins });
  const paperStream = createPaperStream({ auth, directory, bus: userEvents, maxBackpressureBytes: config.gateway.maxBackpressureBytes, logger });
  const routes = [
    opsRoutes({
      auth,
      db: db.db,
      redis,
      logger,
      rateLimiter: createRedisRateLimiter(redis),
      requestsPerMinute: config.gateway.opsRequestsPerMinute,
      liveDisabledByEnv: config.alpaca.liveHandoffDisabled,
      freshStepUp: (operatorId) => passkeys.hasFreshStepUp(operatorId),
    }),
    createCommandRoutes({
      auth,
      directory,
      // The HTTP budget, and the command budget with it in the same call.
      limiter: requestLimiter,
      redis,
      db: db.db,
      events: userEvents,
      partitions: config.accounts.partitions,
      clock,
      logger,
      submitter,
    }),
    createPaperRoutes({
      auth,
      directory,
      limiter: requestLimiter,
      db: db.db,
      submitter,
      assets,
      clock: createTradingClockClient({ tradingUrl: config.alpaca.tradingUrl, credentials: upstreamKeys }),
      marks: hubMarks(hubRef),
      rateLimiter: createRedisRateLimiter(redis),
      logger,
      options: { gateCycles: config.accounts.gateCycles },
    }),
    createLiveRoutes({
      auth,
      directory,
      limiter: requestLimiter,
      db: db.db,
      submitter,
      passkeys,
      oauth: oauthFromConfig(config, db.db),
      envelope: envelopeFromConfig(config),
      standing: standingFromConfig(config),
      reconsentDays: config.alpaca.reconsentDays,
      callbackPath: new URL(config.alpaca.oauth.redirectUri).pathname,
      commandsPerMinute: config.alpaca.liveActionsPerMinute,
      rateLimiter: createRedisRateLimiter(redis),
      logger,
    }),
    createLivePageRoutes(),
    paperStream,
    sse,
    createMarketRestRoutes({ auth, directory, limiter: requestLimiter, hub: hubRef, redis, upstream, clock, logger }),
  ];

  // The internal listener starts first and stops last (shutdown steps run in reverse): probes keep answering while
  // the public listener drains, and /readyz says "draining" so no new client is sent here.
  const started: { gateway?: Awaited<ReturnType<typeof startGateway>> } = {};
  const ops = await startOpsServer({
    host: config.http.host,
    port: config.gateway.opsPort,
    role: ctx.role,
    registry: ctx.metrics,
    checks: {
      ...storageChecks(redis, db),
      listener: async () => {
        if (!started.gateway) throw Object.assign(new Error('starting'), { code: 'starting' });
        if (started.gateway.draining()) throw Object.assign(new Error('draining'), { code: 'draining' });
      },
    },
    describe: () => ({ connections: started.gateway?.connections() ?? 0, streams: sse.streams() }),
  });
  ctx.onShutdown(() => ops.close());

  const running = await startGateway({
    routes,
    privateChannel: createPrivateEvents({ redis, bus: userEvents, maxBackpressureBytes: config.gateway.maxBackpressureBytes, logger }),
    options: {
      host: config.http.host,
      port: config.http.port,
      role: ctx.role,
      env: config.env,
      allowedOrigins: config.gateway.allowedOrigins,
      heartbeatMs: config.gateway.heartbeatMs,
      maxBackpressureBytes: config.gateway.maxBackpressureBytes,
      maxFrameBytes: config.gateway.maxFrameBytes,
      ...(overrides.limits ? { limits: overrides.limits } : {}),
    },
    logger,
    registry: ctx.metrics,
    clock,
    auth,
    directory,
    checks: {
      ...storageChecks(redis, db),
    },
    createHub: async (outlet) =>
      (hub = await createMarketDataHub({
        redis,
        subscriber,
        demand,
        publish: outlet.publish,
        onStatus: outlet.onStatus,
        packWindowMs: config.gateway.packWindowMs,
        now: () => clock.now(),
        onError: (err) => logger.warn({ err }, 'market-data hub error'),
      })),
  });
  started.gateway = running;
  registerHubMetrics(ctx.metrics, () => hubRef().stats());
  ctx.onShutdown(() => running.close());
  ctx.onShutdown(() => sse.close()); // steps run in reverse: streams end before the gateway closes
  ctx.onShutdown(() => paperStream.close());

  // A tier change reaches this replica's sockets at once (the cache is bypassed for that user).
  tierEvents.on('message', (channel: string, userId: string) => {
    if (channel !== TIER_CHANGED_CHANNEL) return;
    running.tierChanged(userId).catch((err: unknown) => logger.warn({ err, user: userId }, 'tier change failed'));
  });
  await tierEvents.subscribe(TIER_CHANGED_CHANNEL);

  return { url: running.url, opsUrl: ops.url, note: `WebSocket ${running.url.replace(/^http/, 'ws')}/ws; metrics ${ops.url}/metrics` };
}
