// Configuration: the only module that reads process.env.
export { childEnvironment, loadConfig, secretValues, MIN_FREE_TIER_DELAY_MS, type Config, type Env } from './config.js';
export { ConfigError } from './errors.js';
export { secretFromEnv, staticSecret, type SecretProvider } from './secret.js';
export { envSchema, secretNames } from './env-schema.js';
