// The simulated AWS KMS: createKmsServer() for the composition root, which serves it on its own loopback port.
export {
  createKmsServer,
  DEFAULT_INITIAL_ALIASES,
  DEFAULT_KMS_ACCOUNT_ID,
  DEFAULT_KMS_CREDENTIALS,
  DEFAULT_KMS_REGION,
  type KmsCredentials,
  type KmsFaultState,
  type KmsServer,
  type KmsServerOptions,
} from './server.js';
export { KEYS_FILE } from './store.js';
