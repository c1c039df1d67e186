// The live handoff's adapters built from config, shared by the roles that need them (gateway, accounts, workers).
import type { Config } from '../../config/index.js';
import { OAuthConnect } from '../../infra/alpaca/index.js';
import type { Db } from '../../infra/db/index.js';
import { createKmsClient, Envelope } from '../../infra/kms/index.js';

/** KMS client (timeouts that fire, fail closed) and the envelope sealing live tokens under KMS_KEY_ID. */
export function envelopeFromConfig(config: Config): Envelope {
  const secret = config.secrets.KMS_SECRET_ACCESS_KEY;
  const kms = createKmsClient({
    ...(config.kms.endpoint ? { endpoint: config.kms.endpoint } : {}),
    region: config.kms.region,
    ...(config.kms.accessKeyId && secret ? { accessKeyId: config.kms.accessKeyId, secretAccessKey: () => secret.current() } : {}),
    timeoutMs: config.kms.timeoutMs,
  });
  return new Envelope(kms, { keyId: config.kms.keyId, timeoutMs: config.kms.timeoutMs });
}

/** The Alpaca OAuth client (connect flow in the gateway, token refresh in the actors). */
export function oauthFromConfig(config: Config, db: Db): OAuthConnect {
  return new OAuthConnect(db, {
    ...config.alpaca.oauth,
    clientSecret: () => config.secrets.ALPACA_OAUTH_CLIENT_SECRET?.current() ?? '',
  });
}

/** The live-eligibility facts every role reads the same way. */
export function standingFromConfig(config: Config) {
  return { envDisabled: config.alpaca.liveHandoffDisabled, gateCycles: config.accounts.gateCycles };
}
