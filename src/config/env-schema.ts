// The environment variables every role understands, with their defaults (README "Configuration" mirrors this table).
import { z } from 'zod';

const bool = z
  .enum(['0', '1', 'true', 'false', ''])
  .default('0')
  .transform((v) => v === '1' || v === 'true');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );

/** One entry per variable: its schema (with default) and the line the README shows. */
export const envSchema = z.object({
  RAXX_ENV: z.enum(['dev', 'test', 'production']).default('dev'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  CLOCK_OFFSET_MS: z.coerce.number().int().default(0),

  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:16379'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://raxx_app@127.0.0.1:15432/raxx'),
  DATABASE_BATCH_URL: url(['postgres:', 'postgresql:']).default('postgres://raxx_batch@127.0.0.1:15432/raxx'),
  DATABASE_MIGRATION_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:15432/raxx'),
  DATABASE_MIGRATION_ROLE: z.string().default('raxx_owner'),
  DATABASE_POOL_MAX: positiveInt.default(10),

  ALPACA_DATA_STREAM_URL: url(['ws:', 'wss:']).default('ws://127.0.0.1:8710'),
  ALPACA_DATA_FEED: z.enum(['sip', 'iex', 'delayed_sip', 'test']).default('sip'),
  ALPACA_DATA_REST_URL: url(['http:', 'https:']).default('http://127.0.0.1:8710'),
  ALPACA_TRADING_URL: url(['http:', 'https:']).default('http://127.0.0.1:8710'),
  ALPACA_OAUTH_AUTHORIZE_URL: url(['http:', 'https:']).default('http://127.0.0.1:8710/oauth/authorize'),
  ALPACA_OAUTH_TOKEN_URL: url(['http:', 'https:']).default('http://127.0.0.1:8710/oauth/token'),
  ALPACA_OAUTH_CLIENT_ID: z.string().default('raxx-dev-client'),
  ALPACA_OAUTH_REDIRECT_URI: url(['http:', 'https:']).default('http://localhost:8720/live/oauth/callback'),
  ALPACA_OAUTH_SCOPES: z.string().regex(/^[a-z:]+( [a-z:]+)*$/, 'must be space-separated scopes such as "trading"').default('trading'),
  ALPACA_OAUTH_PKCE: z.enum(['0', '1', 'true', 'false', '']).default('1').transform((v) => v === '1' || v === 'true'),
  ALPACA_LIVE_HANDOFF_DISABLED: bool,
  ALPACA_BROKER_TIMEOUT_MS: positiveInt.max(60_000).default(5000),
  LIVE_RECONSENT_DAYS: positiveInt.max(365).default(90),
  LIVE_ACTIONS_PER_MINUTE: positiveInt.default(30),
  ALPACA_MARKET_DATA_DISABLED: bool,

  KMS_ENDPOINT: z.union([z.literal(''), url(['http:', 'https:'])]).default('http://127.0.0.1:8711'),
  KMS_REGION: z.string().min(1).default('us-east-1'),
  KMS_KEY_ID: z.string().min(1).default('alias/raxx-live-tokens'),
  /** Empty: the AWS SDK's default credential chain (IRSA, instance role…). Dev/test: the simulator's key id. */
  KMS_ACCESS_KEY_ID: z.string().default('RAXXSIMKMSACCESSKEY0'),
  KMS_TIMEOUT_MS: positiveInt.max(30_000).default(2000),

  WEBAUTHN_RP_ID: z.string().min(1).default('localhost'),
  WEBAUTHN_RP_NAME: z.string().min(1).default('Raxx Stream'),
  /** Exact origins a passkey ceremony may come from (comma-separated); empty = GATEWAY_ALLOWED_ORIGINS. */
  WEBAUTHN_ORIGINS: z.string().default(''),

  SESSION_JWT_ISSUER: z.string().min(1).default('raxx-dev-issuer'),
  SESSION_JWT_AUDIENCE: z.string().min(1).default('raxx-stream'),
  SESSION_JWKS_URL: z.union([z.literal(''), url(['http:', 'https:'])]).default(''),

  ACCOUNTS_PARTITIONS: positiveInt.max(4096).default(64),
  ACCOUNTS_LEASE_TTL_MS: positiveInt.min(500).default(5000),
  ACCOUNTS_QUOTE_LINGER_MS: z.coerce.number().int().min(0).default(60_000),
  ACCOUNTS_MAX_CONCURRENT_TURNS: positiveInt.max(64).default(8),
  ACCOUNTS_MAX_TURN_PARTITIONS: positiveInt.max(64).default(16),
  ACCOUNTS_TURN_LINGER_MS: z.coerce.number().int().min(0).max(50).default(5),
  ACCOUNTS_BLIND_TURNS: z.enum(['0', '1', 'true', 'false', '']).default('1').transform((v) => v === '1' || v === 'true'),
  PAPER_STARTING_CASH: z
    .string()
    .regex(/^\d+(\.\d{1,4})?$/, 'must be a decimal amount such as 100000 or 2500.50')
    .default('100000'),
  MBT_GATE_CYCLES: positiveInt.default(20),
  FREE_TIER_DELAY_MS: positiveInt.default(15 * 60 * 1000),

  FEED_LEASE_TTL_MS: positiveInt.min(500).default(3000),
  FEED_LEASE_RENEW_MS: positiveInt.default(1000),
  FEED_DEMAND_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  FEED_REPLAY_WINDOW_MS: positiveInt.min(120_000).default(130_000),
  FEED_STALL_TIMEOUT_MS: positiveInt.default(15_000),
  FEED_SLOT_BACKOFF_MS: positiveInt.default(10_000),
  FEED_SYMBOLS: z.string().default(''),

  GATEWAY_ALLOWED_ORIGINS: z.string().default('http://127.0.0.1:8720,http://localhost:8720,http://127.0.0.1:8700,http://localhost:8700'),
  GATEWAY_HEARTBEAT_MS: positiveInt.default(15_000),
  GATEWAY_MAX_BACKPRESSURE_BYTES: positiveInt.default(1024 * 1024),
  GATEWAY_MAX_FRAME_BYTES: positiveInt.default(16 * 1024),
  GATEWAY_PACK_WINDOW_MS: z.coerce.number().min(0).max(2).default(2),
  GATEWAY_TIER_CACHE_MS: positiveInt.default(60_000),
  GATEWAY_OPS_PORT: port.default(0),
  GATEWAY_OPS_REQUESTS_PER_MINUTE: positiveInt.default(60),

  WORKERS_QUEUE_PREFIX: z.string().regex(/^[^:\s]{1,64}$/, 'must be 1-64 characters without ":" or spaces').default('{raxx-workers}'),
  WORKERS_LOCK_DURATION_MS: positiveInt.min(500).default(30_000),
  WORKERS_STALLED_INTERVAL_MS: positiveInt.min(250).default(15_000),
  WORKERS_MAX_STALLED_COUNT: z.coerce.number().int().min(0).default(2),
  WORKERS_SETTLE_CHECK_MS: positiveInt.min(1000).default(60_000),
  WORKERS_SETTLE_BATCH_SIZE: positiveInt.max(10_000).default(500),
  WORKERS_SETTLE_BATCH_PAUSE_MS: z.coerce.number().int().min(0).default(0),
  WORKERS_RETENTION_PATTERN: z.string().min(9).default('0 7 * * *'),
  WORKERS_RETENTION_BATCH_SIZE: positiveInt.max(100_000).default(1000),
  RETENTION_FREE_DAYS: positiveInt.default(90),
  RETENTION_PRO_DAYS: positiveInt.default(1095),
  RETENTION_COMMANDS_DAYS: positiveInt.default(30),

  DEV_DATA_DIR: z.string().optional(),
  DEV_STATUS_PORT: port.default(8700),
  DEV_SIM_PORT: port.default(8710),
  DEV_GATEWAY_PORT: port.default(8720),
});

export type RawEnv = z.infer<typeof envSchema>;

/** Secret variables: each may be given as NAME or, preferably, as a file path in NAME_FILE. */
export const secretNames = [
  'ALPACA_KEY_ID',
  'ALPACA_SECRET_KEY',
  'ALPACA_OAUTH_CLIENT_SECRET',
  'SESSION_JWT_SECRET',
  'KMS_SECRET_ACCESS_KEY',
] as const;
export type SecretName = (typeof secretNames)[number];

/** Connection URLs may carry passwords, so they too may come from NAME_FILE. */
export const fileableNames = ['REDIS_URL', 'DATABASE_URL', 'DATABASE_BATCH_URL', 'DATABASE_MIGRATION_URL'] as const;
