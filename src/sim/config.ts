// The simulator's settings, read from its own environment variables (it shares no code with the app).
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const bool = z.enum(['0', '1', 'true', 'false']).default('0').transform((v) => v === '1' || v === 'true');
const int = (min: number) => z.coerce.number().int().min(min);
const num = z.coerce.number().min(0);

export const simEnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0).max(65535).default(8710),
  SIM_KMS_PORT: int(0).max(65535).default(8711),
  CLOCK_OFFSET_MS: z.coerce.number().int().default(0),
  SIM_CLOCK: z.enum(['nyse', 'always-open']).default('always-open'),
  SIM_DATA_DIR: z.string().optional(),

  SIM_SEED: z.coerce.number().int().default(42),
  SIM_SYMBOLS: int(1).max(20_000).default(500),
  SIM_RATE: num.default(1000),
  SIM_BATCH_MS: int(1).default(10),
  SIM_HALT_PROBABILITY: z.coerce.number().min(0).max(1).default(0.0002),
  SIM_REPLAY_FILE: z.string().optional(),
  SIM_REPLAY_SPEED: num.default(1),
  SIM_REPLAY_LOOP: bool,

  SIM_KEYS: z.string().default('raxx-dev-key:raxx-dev-secret:algo_trader_plus'),
  SIM_AUTH_TIMEOUT_MS: int(1).default(10_000),
  SIM_PING_INTERVAL_MS: int(1).default(10_000),
  SIM_PONG_TIMEOUT_MS: int(1).default(10_000),
  SIM_SLOW_CLIENT_BYTES: int(1024).default(16 * 1024 * 1024),

  SIM_OAUTH_CLIENTS: z.string().default('raxx-dev-client:raxx-dev-oauth-secret:http://localhost:8720/live/oauth/callback'),
  SIM_OAUTH_AUTO_APPROVE: bool,
  SIM_OAUTH_PKCE: bool,
  SIM_OAUTH_REFRESH_TOKENS: bool,
  SIM_OAUTH_CODE_TTL_MS: int(1).default(600_000),
  SIM_OAUTH_TOKEN_TTL_MS: int(1).default(3_600_000),

  SIM_RATE_LIMIT_PER_MIN: int(0).default(200),
  SIM_LIQUIDITY: z.enum(['unlimited', 'quote-size']).default('unlimited'),
  SIM_STARTING_CASH: num.default(100_000),

  SIM_KMS_ACCESS_KEY_ID: z.string().min(1).default('RAXXSIMKMSACCESSKEY0'),
  SIM_KMS_SECRET_ACCESS_KEY: z.string().min(1).default('raxx-sim-kms-dev-secret-access-key-000000'),
  SIM_KMS_REGION: z.string().min(1).default('us-east-1'),
});

export type SimEnv = z.infer<typeof simEnvSchema>;

export interface SimKey {
  keyId: string;
  secret: string;
  plan: 'basic' | 'algo_trader_plus';
}

export interface SimOAuthClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface SimConfig extends SimEnv {
  keys: SimKey[];
  oauthClients: SimOAuthClient[];
}

export class SimConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid simulator configuration: ${variable}: ${problem}`);
  }
}

/** `keyId:secret:plan` entries separated by commas (or the same in the file SIM_KEYS_FILE). */
function parseKeys(text: string): SimKey[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [keyId, secret, plan = 'algo_trader_plus'] = entry.split(':');
      if (!keyId || !secret || (plan !== 'basic' && plan !== 'algo_trader_plus')) {
        throw new SimConfigError('SIM_KEYS', 'each entry is keyId:secret[:basic|algo_trader_plus]');
      }
      return { keyId, secret, plan };
    });
}

/** `clientId:secret:redirect[|redirect…]` entries separated by commas. */
function parseClients(text: string): SimOAuthClient[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const first = entry.indexOf(':');
      const second = entry.indexOf(':', first + 1);
      const clientId = entry.slice(0, first);
      const clientSecret = entry.slice(first + 1, second);
      const redirectUris = entry.slice(second + 1).split('|').filter(Boolean);
      if (first < 1 || second < 0 || !clientSecret || redirectUris.length === 0) {
        throw new SimConfigError('SIM_OAUTH_CLIENTS', 'each entry is clientId:secret:redirectUri[|redirectUri…]');
      }
      return { clientId, clientSecret, redirectUris };
    });
}

export function loadSimConfig(env: Record<string, string | undefined> = process.env): SimConfig {
  const source = { ...env };
  for (const name of ['SIM_KEYS', 'SIM_OAUTH_CLIENTS', 'SIM_KMS_SECRET_ACCESS_KEY']) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    try {
      source[name] = readFileSync(file, 'utf8').trim();
    } catch {
      throw new SimConfigError(`${name}_FILE`, 'cannot read the file');
    }
  }
  const parsed = simEnvSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SimConfigError(String(issue.path[0] ?? '(environment)'), issue.message);
  }
  return { ...parsed.data, keys: parseKeys(parsed.data.SIM_KEYS), oauthClients: parseClients(parsed.data.SIM_OAUTH_CLIENTS) };
}
