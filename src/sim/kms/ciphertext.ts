// The simulator's opaque ciphertext blob: AES-256-GCM under one version of a key, bound to the encryption context.
//
//   offset  size  field
//        0     4  magic "RXK1"
//        4    16  key id (UUID bytes)
//       20     4  key version (uint32 BE)
//       24    12  IV
//       36    16  GCM tag
//       52     n  ciphertext
//
// AAD = bytes 0..24 (magic, key id, version) ‖ 0x00 ‖ canonical encryption context, so a changed header, context,
// IV, tag or ciphertext all fail authentication.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KmsError } from './errors.js';

const MAGIC = Buffer.from('RXK1', 'ascii');
const HEADER_BYTES = 24;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const CIPHERTEXT_OVERHEAD = HEADER_BYTES + IV_BYTES + TAG_BYTES;

export type EncryptionContext = Record<string, string>;

/** Sorted keys, JSON-encoded pairs: `{b:1,a:2}` and `{a:2,b:1}` are the same context; `{}` and no context are too. */
export function canonicalContext(context: EncryptionContext | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? Buffer.alloc(0) : Buffer.from(JSON.stringify(entries), 'utf8');
}

function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function aad(header: Buffer, context: EncryptionContext | undefined): Buffer {
  return Buffer.concat([header, Buffer.from([0]), canonicalContext(context)]);
}

export function seal(keyId: string, version: number, material: Buffer, plaintext: Buffer, context: EncryptionContext | undefined): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  uuidToBytes(keyId).copy(header, 4);
  header.writeUInt32BE(version, 20);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', material, iv);
  cipher.setAAD(aad(header, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
}

export interface BlobHeader {
  keyId: string;
  version: number;
}

const invalid = () => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid, was tampered with, or does not match the encryption context.');

/** Reads the key id and version; anything that is not one of our blobs is an InvalidCiphertextException. */
export function parseHeader(blob: Buffer): BlobHeader {
  if (blob.length <= CIPHERTEXT_OVERHEAD || !blob.subarray(0, 4).equals(MAGIC)) throw invalid();
  return { keyId: bytesToUuid(blob.subarray(4, 20)), version: blob.readUInt32BE(20) };
}

export function open(blob: Buffer, material: Buffer, context: EncryptionContext | undefined): Buffer {
  const header = blob.subarray(0, HEADER_BYTES);
  const iv = blob.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const tag = blob.subarray(HEADER_BYTES + IV_BYTES, CIPHERTEXT_OVERHEAD);
  try {
    const decipher = createDecipheriv('aes-256-gcm', material, iv);
    decipher.setAAD(aad(header, context));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(blob.subarray(CIPHERTEXT_OVERHEAD)), decipher.final()]);
  } catch {
    throw invalid();
  }
}
