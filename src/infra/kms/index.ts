// Public surface of the KMS layer: the client factory, envelope encryption and its typed errors.
export { createKmsClient, type KmsClientOptions } from './kms-client.js';
export { canonicalContextJson, Envelope, gcmOpen, gcmSeal, IV_BYTES, TAG_BYTES, type EnvelopeOptions, type SealedValue } from './envelope.js';
export { KmsConfigError, KmsUnavailableError, SealedTokenInvalidError, toKmsFailure, type SealedTokenInvalidReason } from './errors.js';
