// Parses and validates the environment once, failing fast with the name of the bad variable.
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { envSchema, fileableNames, secretNames, type RawEnv, type SecretName } from './env-schema.js';
import { secretFromEnv, type SecretProvider } from './secret.js';

export const MIN_FREE_TIER_DELAY_MS = 15 * 60 * 1000;

export type Env = Record<string, string | undefined>;

export interface Config {
  env: RawEnv['RAXX_ENV'];
  http: { host: string; port: number };
  log: { level: RawEnv['LOG_LEVEL']; format: RawEnv['LOG_FORMAT'] };
  clock: { offsetMs: number };
  redis: { url: string };
  database: {
    appUrl: string;
    batchUrl: string;
    migrationUrl: string;
    /** Role the migrator switches to (SET ROLE) so tables are owned by it; undefined = the login role. */
    migrationRole: string | undefined;
    poolMax: number;
  };
  alpaca: {
    dataStreamUrl: string;
    dataFeed: RawEnv['ALPACA_DATA_FEED'];
    dataRestUrl: string;
    tradingUrl: string;
    oauth: { authorizeUrl: string; tokenUrl: string; clientId: string; redirectUri: string; scopes: string; pkce: boolean };
    liveHandoffDisabled: boolean;
    brokerTimeoutMs: number;
    reconsentDays: number;
    /** Live writes (connect, draft, submit, cancel, disconnect) per user per minute. */
    liveActionsPerMinute: number;
    marketDataDisabled: boolean;
  };
  kms: { endpoint: string | undefined; region: string; keyId: string; accessKeyId: string | undefined; timeoutMs: number };
  webauthn: { rpId: string; rpName: string; origins: string[] };
  session: { issuer: string; audience: string; jwksUrl: string | undefined };
  accounts: { partitions: number; leaseTtlMs: number; startingCash: string; gateCycles: number; quoteLingerMs: number; maxConcurrentTurns: number; maxTurnPartitions: number; turnLingerMs: number; blindTurns: boolean };
  tiers: { freeDelayMs: number };
  feed: {
    leaseTtlMs: number;
    leaseRenewMs: number;
    demandGraceMs: number;
    replayWindowMs: number;
    stallTimeoutMs: number;
    slotBackoffMs: number;
    /** Symbols the feed always subscribes, whatever the demand (comma-separated). */
    alwaysSymbols: string[];
  };
  gateway: {
    allowedOrigins: string[];
    heartbeatMs: number;
    maxBackpressureBytes: number;
    maxFrameBytes: number;
    /** Ticks of one topic within this window travel as one array frame (≤ 2 ms; 0 = no packing). */
    packWindowMs: number;
    tierCacheMs: number;
    /** The internal listener (/metrics, /healthz, /readyz), never the public port; 0 = any free port. */
    opsPort: number;
    /** `/ops/*` requests per user per minute (shared Redis limiter). */
    opsRequestsPerMinute: number;
  };
  workers: {
    /** BullMQ key prefix of the workers' queues (a hash tag keeps each queue in one Redis Cluster slot). */
    queuePrefix: string;
    lockDurationMs: number;
    stalledIntervalMs: number;
    maxStalledCount: number;
    settle: { checkEveryMs: number; batchSize: number; batchPauseMs: number };
    retention: { pattern: string; batchSize: number; freeDays: number; proDays: number; commandsDays: number };
  };
  /** Only the dev orchestrator (`npm start`) reads these. */
  dev: { dataDir: string | undefined; statusPort: number; simPort: number; gatewayPort: number };
  secrets: Partial<Record<SecretName, SecretProvider>>;
}

/** Reads NAME_FILE into NAME for values that may hold credentials. */
function resolveFileables(env: Env): Env {
  const out: Env = { ...env };
  for (const name of fileableNames) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    try {
      out[name] = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`${name}_FILE`, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return out;
}

export function loadConfig(env: Env = process.env): Config {
  const parsed = envSchema.safeParse(resolveFileables(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? '(environment)'), issue.message);
  }
  const e = parsed.data;
  if (e.FEED_LEASE_RENEW_MS * 2 > e.FEED_LEASE_TTL_MS) {
    // A leader must get at least two renewal attempts in before its lease can expire.
    throw new ConfigError('FEED_LEASE_RENEW_MS', 'must be at most half of FEED_LEASE_TTL_MS');
  }
  if (e.FREE_TIER_DELAY_MS < MIN_FREE_TIER_DELAY_MS && e.RAXX_ENV !== 'test') {
    // Licensing: Free users must never see data fresher than 15 minutes outside an explicit test environment.
    throw new ConfigError('FREE_TIER_DELAY_MS', 'must be at least 900000 (15 minutes) unless RAXX_ENV=test');
  }

  if (e.RETENTION_COMMANDS_DAYS > Math.min(e.RETENTION_FREE_DAYS, e.RETENTION_PRO_DAYS)) {
    // processed_commands and dead letters hold order contents: they must not outlive the shortest history horizon.
    throw new ConfigError('RETENTION_COMMANDS_DAYS', 'must be at most RETENTION_FREE_DAYS and RETENTION_PRO_DAYS');
  }
  if (e.GATEWAY_OPS_PORT !== 0 && e.GATEWAY_OPS_PORT === e.PORT) {
    // The internal listener must not be the public one: /metrics would be reachable by every client.
    throw new ConfigError('GATEWAY_OPS_PORT', 'must differ from PORT (or be 0)');
  }

  const secrets: Config['secrets'] = {};
  for (const name of secretNames) {
    const provider = secretFromEnv(env, name);
    if (provider) secrets[name] = provider;
  }

  return {
    env: e.RAXX_ENV,
    http: { host: e.HOST, port: e.PORT },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    clock: { offsetMs: e.CLOCK_OFFSET_MS },
    redis: { url: e.REDIS_URL },
    database: {
      appUrl: e.DATABASE_URL,
      batchUrl: e.DATABASE_BATCH_URL,
      migrationUrl: e.DATABASE_MIGRATION_URL,
      migrationRole: e.DATABASE_MIGRATION_ROLE || undefined,
      poolMax: e.DATABASE_POOL_MAX,
    },
    alpaca: {
      dataStreamUrl: e.ALPACA_DATA_STREAM_URL,
      dataFeed: e.ALPACA_DATA_FEED,
      dataRestUrl: e.ALPACA_DATA_REST_URL,
      tradingUrl: e.ALPACA_TRADING_URL,
      oauth: {
        authorizeUrl: e.ALPACA_OAUTH_AUTHORIZE_URL,
        tokenUrl: e.ALPACA_OAUTH_TOKEN_URL,
        clientId: e.ALPACA_OAUTH_CLIENT_ID,
        redirectUri: e.ALPACA_OAUTH_REDIRECT_URI,
        scopes: e.ALPACA_OAUTH_SCOPES,
        pkce: e.ALPACA_OAUTH_PKCE,
      },
      liveHandoffDisabled: e.ALPACA_LIVE_HANDOFF_DISABLED,
      brokerTimeoutMs: e.ALPACA_BROKER_TIMEOUT_MS,
      reconsentDays: e.LIVE_RECONSENT_DAYS,
      liveActionsPerMinute: e.LIVE_ACTIONS_PER_MINUTE,
      marketDataDisabled: e.ALPACA_MARKET_DATA_DISABLED,
    },
    kms: { endpoint: e.KMS_ENDPOINT || undefined, region: e.KMS_REGION, keyId: e.KMS_KEY_ID, accessKeyId: e.KMS_ACCESS_KEY_ID || undefined, timeoutMs: e.KMS_TIMEOUT_MS },
    webauthn: {
      rpId: e.WEBAUTHN_RP_ID,
      rpName: e.WEBAUTHN_RP_NAME,
      origins: (e.WEBAUTHN_ORIGINS || e.GATEWAY_ALLOWED_ORIGINS).split(',').map((o) => o.trim()).filter(Boolean),
    },
    session: { issuer: e.SESSION_JWT_ISSUER, audience: e.SESSION_JWT_AUDIENCE, jwksUrl: e.SESSION_JWKS_URL || undefined },
    accounts: {
      partitions: e.ACCOUNTS_PARTITIONS,
      leaseTtlMs: e.ACCOUNTS_LEASE_TTL_MS,
      startingCash: e.PAPER_STARTING_CASH,
      gateCycles: e.MBT_GATE_CYCLES,
      quoteLingerMs: e.ACCOUNTS_QUOTE_LINGER_MS,
      maxConcurrentTurns: e.ACCOUNTS_MAX_CONCURRENT_TURNS,
      maxTurnPartitions: e.ACCOUNTS_MAX_TURN_PARTITIONS,
      turnLingerMs: e.ACCOUNTS_TURN_LINGER_MS,
      blindTurns: e.ACCOUNTS_BLIND_TURNS,
    },
    tiers: { freeDelayMs: e.FREE_TIER_DELAY_MS },
    feed: {
      leaseTtlMs: e.FEED_LEASE_TTL_MS,
      leaseRenewMs: e.FEED_LEASE_RENEW_MS,
      demandGraceMs: e.FEED_DEMAND_GRACE_MS,
      replayWindowMs: e.FEED_REPLAY_WINDOW_MS,
      stallTimeoutMs: e.FEED_STALL_TIMEOUT_MS,
      slotBackoffMs: e.FEED_SLOT_BACKOFF_MS,
      alwaysSymbols: e.FEED_SYMBOLS.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean),
    },
    gateway: {
      allowedOrigins: e.GATEWAY_ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
      heartbeatMs: e.GATEWAY_HEARTBEAT_MS,
      maxBackpressureBytes: e.GATEWAY_MAX_BACKPRESSURE_BYTES,
      maxFrameBytes: e.GATEWAY_MAX_FRAME_BYTES,
      packWindowMs: e.GATEWAY_PACK_WINDOW_MS,
      tierCacheMs: e.GATEWAY_TIER_CACHE_MS,
      opsPort: e.GATEWAY_OPS_PORT,
      opsRequestsPerMinute: e.GATEWAY_OPS_REQUESTS_PER_MINUTE,
    },
    workers: {
      queuePrefix: e.WORKERS_QUEUE_PREFIX,
      lockDurationMs: e.WORKERS_LOCK_DURATION_MS,
      stalledIntervalMs: e.WORKERS_STALLED_INTERVAL_MS,
      maxStalledCount: e.WORKERS_MAX_STALLED_COUNT,
      settle: { checkEveryMs: e.WORKERS_SETTLE_CHECK_MS, batchSize: e.WORKERS_SETTLE_BATCH_SIZE, batchPauseMs: e.WORKERS_SETTLE_BATCH_PAUSE_MS },
      retention: { pattern: e.WORKERS_RETENTION_PATTERN, batchSize: e.WORKERS_RETENTION_BATCH_SIZE, freeDays: e.RETENTION_FREE_DAYS, proDays: e.RETENTION_PRO_DAYS, commandsDays: e.RETENTION_COMMANDS_DAYS },
    },
    dev: { dataDir: e.DEV_DATA_DIR, statusPort: e.DEV_STATUS_PORT, simPort: e.DEV_SIM_PORT, gatewayPort: e.DEV_GATEWAY_PORT },
    secrets,
  };
}

/** Every secret value currently known, for the log redactor. */
export function secretValues(config: Pick<Config, 'secrets'>): string[] {
  return Object.values(config.secrets).map((s) => s.current());
}

/** The environment a child process (a role started by `npm start`) inherits, with overrides. */
export function childEnvironment(overrides: Record<string, string>): Env {
  return { ...process.env, ...overrides };
}
