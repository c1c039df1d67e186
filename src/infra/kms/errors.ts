// Typed KMS/envelope failures. Messages name what failed, never a blob, a data key or a plaintext.
import type { LiveErrorCode } from '../../contracts/live.js';

/**
 * KMS could not answer: throttled after the retries, a 5xx, a timeout, a network failure, a disabled or missing key,
 * bad credentials. Callers fail closed (no live order without a token) and may try again later.
 */
export class KmsUnavailableError extends Error {
  readonly code = 'kms_unavailable' satisfies LiveErrorCode;
  override readonly name = 'KmsUnavailableError';
  constructor(
    /** Which KMS operation failed (e.g. `Decrypt`). */
    readonly operation: string,
    /** The AWS error name (`ThrottlingException`, `TimeoutError`, …) — never the AWS message. */
    readonly reason: string,
    /** HTTP status when KMS answered at all. */
    readonly httpStatus?: number,
  ) {
    super(`KMS ${operation} unavailable: ${reason}${httpStatus ? ` (HTTP ${httpStatus})` : ''}`);
  }
}

export type SealedTokenInvalidReason =
  /** KMS refused the wrapped data key: wrong encryption context (swapped row), edited blob. */
  | 'invalid_ciphertext'
  /** The wrapped data key belongs to another KMS key than the one named. */
  | 'incorrect_key'
  /** AES-GCM authentication failed: token ciphertext, IV or tag edited, or a data key from another row. */
  | 'tampered'
  /** Stored columns of the wrong shape (IV length, ciphertext shorter than a tag). */
  | 'malformed';

/** The sealed token does not open and never will: tampered, swapped between rows, shredded, or under the wrong key. */
export class SealedTokenInvalidError extends Error {
  readonly code = 'sealed_token_invalid' satisfies LiveErrorCode;
  override readonly name = 'SealedTokenInvalidError';
  constructor(readonly reason: SealedTokenInvalidReason) {
    super(`sealed token does not open (${reason})`);
  }
}

/** The KMS client options cannot work (e.g. an access key id without a secret). */
export class KmsConfigError extends Error {
  readonly code = 'kms_config_invalid';
  override readonly name = 'KmsConfigError';
}

const AWS_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

/**
 * Maps whatever a KMS call threw to one of the typed errors above: the single place that decides what is the
 * sealed value's fault (never retry, re-authorise) and what is KMS's (fail closed, try later). The original
 * error is dropped on purpose — SDK errors carry request metadata that loggers would serialise.
 */
export function toKmsFailure(operation: string, err: unknown, timedOut: boolean): KmsUnavailableError | SealedTokenInvalidError {
  if (err instanceof KmsUnavailableError || err instanceof SealedTokenInvalidError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  // Network failures arrive as a plain Error with an errno code (ECONNREFUSED, ECONNRESET, …): the code says more.
  const errno = typeof e.code === 'string' && /^E[A-Z]{2,30}$/.test(e.code) ? e.code : undefined;
  const name = errno ?? (typeof e.name === 'string' && AWS_NAME.test(e.name) ? e.name : 'UnknownError');
  if (name === 'InvalidCiphertextException') return new SealedTokenInvalidError('invalid_ciphertext');
  if (name === 'IncorrectKeyException') return new SealedTokenInvalidError('incorrect_key');
  const status = e.$metadata?.httpStatusCode;
  return new KmsUnavailableError(operation, timedOut ? 'timeout' : name, typeof status === 'number' ? status : undefined);
}
