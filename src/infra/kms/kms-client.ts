// Builds the @aws-sdk/client-kms client with timeouts that actually fail, bounded retries and rotatable credentials.
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { KmsConfigError } from './errors.js';

export interface KmsClientOptions {
  /** Custom endpoint (the simulator in dev/test); absent: the regional AWS endpoint. */
  endpoint?: string;
  region: string;
  /** Static credentials when given; otherwise the SDK's default provider chain (IRSA, instance role, env, …). */
  accessKeyId?: string;
  /** Read on every request, so a rotated secret takes effect without a restart. Required with accessKeyId. */
  secretAccessKey?: () => string;
  /** Per attempt: connect, socket idle and whole request. Envelope also bounds each call (retries included). */
  timeoutMs: number;
  /** Attempts per call including the first (default 3): throttling and 5xx are retried, client errors are not. */
  maxAttempts?: number;
}

export function createKmsClient(o: KmsClientOptions): KMSClient {
  if (!Number.isInteger(o.timeoutMs) || o.timeoutMs <= 0) throw new KmsConfigError('KMS timeoutMs must be a positive integer');
  const config: KMSClientConfig = {
    region: o.region,
    maxAttempts: o.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: o.timeoutMs,
      socketTimeout: o.timeoutMs,
      requestTimeout: o.timeoutMs,
      // Without it requestTimeout only logs a warning and a hung KMS hangs the call (measured: 60 s and more).
      throwOnRequestTimeout: true,
    },
  };
  if (o.endpoint) config.endpoint = o.endpoint;
  if (o.accessKeyId !== undefined) {
    const { accessKeyId, secretAccessKey } = o;
    if (!accessKeyId || !secretAccessKey) throw new KmsConfigError('KMS accessKeyId needs secretAccessKey');
    // A provider function, and an expiration in the past: the SDK memoises credentials without an expiration for
    // the client's lifetime, and re-asks the provider when they are (about to be) expired — here, on every request.
    config.credentials = async () => ({ accessKeyId, secretAccessKey: secretAccessKey(), expiration: new Date(0) });
  }
  return new KMSClient(config);
}
