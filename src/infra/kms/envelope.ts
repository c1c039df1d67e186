// Envelope encryption with AWS KMS: one fresh data key per sealed value, AES-256-GCM locally, the data key wrapped by KMS.
//
// The same encryption context goes to KMS (which binds the wrapped data key to it: Decrypt needs the exact context)
// and into the GCM AAD (which binds the token ciphertext to it), so a value moved to another row opens nowhere.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  ReEncryptCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { KmsUnavailableError, SealedTokenInvalidError, toKmsFailure } from './errors.js';

export interface SealedValue {
  /** AES-256-GCM ciphertext ‖ 16-byte tag. */
  ciphertext: Buffer;
  /** 12 random bytes, fresh per seal. */
  iv: Buffer;
  /** The data key as KMS wrapped it (opaque; only KMS opens it, and only with the same context). */
  wrappedDek: Buffer;
  /** The key ARN KMS answered (not the alias asked for), passed back as KeyId on Decrypt. */
  kmsKeyId: string;
}

export interface EnvelopeOptions {
  /** Key to seal new values under: key id, ARN, alias name or alias ARN. */
  keyId: string;
  /** Bound on each KMS call, retries included (AbortSignal.timeout). */
  timeoutMs: number;
}

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
const DEK_BYTES = 32;

/**
 * The context as sorted-key JSON: the AAD. Built by hand rather than JSON.stringify(object) so that integer-like
 * keys cannot be reordered by the engine.
 */
export function canonicalContextJson(context: Record<string, string>): string {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

function checkContext(context: Record<string, string>): Buffer {
  const entries = Object.entries(context);
  // An empty context would bind the value to nothing: a sealed value could be moved anywhere.
  if (entries.length === 0) throw new TypeError('envelope: the encryption context must not be empty');
  if (entries.some(([, v]) => typeof v !== 'string')) throw new TypeError('envelope: encryption context values must be strings');
  return Buffer.from(canonicalContextJson(context), 'utf8');
}

/** A view on the SDK's bytes (no copy), so zeroing it zeroes the only copy in JS memory. */
const view = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** The local half of seal: AES-256-GCM under `dek` with a fresh random 96-bit IV; ciphertext ‖ tag. */
export function gcmSeal(dek: Buffer, aad: Buffer, plaintext: Buffer): { ciphertext: Buffer; iv: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return { ciphertext: Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]), iv };
}

/** The local half of open: ciphertext ‖ tag; SealedTokenInvalidError('tampered') when authentication fails. */
export function gcmOpen(dek: Buffer, iv: Buffer, aad: Buffer, sealed: Buffer): Buffer {
  if (iv.length !== IV_BYTES || sealed.length < TAG_BYTES) throw new SealedTokenInvalidError('malformed');
  try {
    const decipher = createDecipheriv('aes-256-gcm', dek, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealedTokenInvalidError('tampered');
  }
}

export class Envelope {
  constructor(
    private readonly kms: KMSClient,
    private readonly opts: EnvelopeOptions,
  ) {}

  /** GenerateDataKey (AES_256, EncryptionContext = context), then AES-256-GCM with AAD = canonical context. */
  async seal(plaintext: string, context: Record<string, string>): Promise<SealedValue> {
    const aad = checkContext(context);
    const out = await this.call('GenerateDataKey', (abortSignal) =>
      this.kms.send(new GenerateDataKeyCommand({ KeyId: this.opts.keyId, KeySpec: 'AES_256', EncryptionContext: context }), { abortSignal }),
    );
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId) throw new KmsUnavailableError('GenerateDataKey', 'incomplete_response');
    const dek = view(out.Plaintext);
    const data = Buffer.from(plaintext, 'utf8');
    try {
      if (dek.length !== DEK_BYTES) throw new KmsUnavailableError('GenerateDataKey', 'incomplete_response');
      return { ...gcmSeal(dek, aad, data), wrappedDek: Buffer.from(out.CiphertextBlob), kmsKeyId: out.KeyId };
    } finally {
      dek.fill(0);
      data.fill(0);
    }
  }

  /** Decrypt (KeyId = sealed.kmsKeyId, same context), then opens the GCM ciphertext. */
  async open(sealed: SealedValue, context: Record<string, string>): Promise<string> {
    const aad = checkContext(context);
    if (sealed.iv.length !== IV_BYTES || sealed.ciphertext.length < TAG_BYTES || sealed.wrappedDek.length === 0) {
      throw new SealedTokenInvalidError('malformed');
    }
    const out = await this.call('Decrypt', (abortSignal) =>
      this.kms.send(new DecryptCommand({ CiphertextBlob: sealed.wrappedDek, KeyId: sealed.kmsKeyId, EncryptionContext: context }), {
        abortSignal,
      }),
    );
    if (!out.Plaintext) throw new KmsUnavailableError('Decrypt', 'incomplete_response');
    const dek = view(out.Plaintext);
    try {
      if (dek.length !== DEK_BYTES) throw new SealedTokenInvalidError('malformed');
      const data = gcmOpen(dek, sealed.iv, aad, sealed.ciphertext);
      const text = data.toString('utf8');
      data.fill(0);
      return text;
    } finally {
      dek.fill(0);
    }
  }

  /** ReEncrypt the wrapped data key under `destinationKeyId` (same context); the token ciphertext is untouched. */
  async rewrap(
    sealed: Pick<SealedValue, 'wrappedDek' | 'kmsKeyId'>,
    context: Record<string, string>,
    destinationKeyId: string,
  ): Promise<{ wrappedDek: Buffer; kmsKeyId: string }> {
    checkContext(context);
    const out = await this.call('ReEncrypt', (abortSignal) =>
      this.kms.send(
        new ReEncryptCommand({
          CiphertextBlob: sealed.wrappedDek,
          SourceKeyId: sealed.kmsKeyId,
          SourceEncryptionContext: context,
          DestinationKeyId: destinationKeyId,
          DestinationEncryptionContext: context,
        }),
        { abortSignal },
      ),
    );
    if (!out.CiphertextBlob || !out.KeyId) throw new KmsUnavailableError('ReEncrypt', 'incomplete_response');
    return { wrappedDek: Buffer.from(out.CiphertextBlob), kmsKeyId: out.KeyId };
  }

  /** The key ARN an id or alias names now (DescribeKey): what `kmsKeyId` of a value sealed under it would be. */
  async keyArn(keyId: string = this.opts.keyId): Promise<string> {
    const out = await this.call('DescribeKey', (abortSignal) => this.kms.send(new DescribeKeyCommand({ KeyId: keyId }), { abortSignal }));
    const arn = out.KeyMetadata?.Arn;
    if (!arn) throw new KmsUnavailableError('DescribeKey', 'incomplete_response');
    return arn;
  }

  private async call<T>(operation: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      return await run(signal);
    } catch (err) {
      throw toKmsFailure(operation, err, signal.aborted);
    }
  }
}
