// Name-based UUIDs (RFC 9562 §5.5 layout, SHA-1): ids that every process derives the same way from a name, so a
// retried fan-out, a replayed turn or another role shows the same id without sharing state.
import { createHash } from 'node:crypto';

/** The UUID of the SHA-1 of `parts`, hashed in order (a namespace first, then the name). */
export function nameUuid(...parts: ReadonlyArray<string | Buffer>): string {
  const hash = createHash('sha1');
  for (const p of parts) hash.update(p);
  const b = hash.digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** MBT's asset id of a symbol (the upstream asset list we read carries no ids): the paper API and the actors agree. */
export const paperAssetId = (symbol: string): string => nameUuid('raxx-mbt-asset', '\0', symbol);
