// The audit row's canonical text and hash, computed in Node, independently of the database trigger.
import { createHash } from 'node:crypto';

/** One audit row as the verifier reads it: every value already text, exactly as stored. */
export interface AuditRowText {
  id: string;
  chain: string;
  seq: string;
  /** Microseconds since the Unix epoch, as a decimal string (exact, unlike a JS Date). */
  atMicros: string;
  actor: string;
  subject: string | null;
  action: string;
  outcome: string;
  correlationId: string | null;
  /** PostgreSQL's text rendering of the jsonb value (`details::text`): already normalised by jsonb. */
  detailsJson: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** prev_hash of a chain's first row. */
export function genesisHash(chain: string): string {
  return sha256Hex(`genesis:${chain}`);
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, always six fractional digits) from epoch microseconds. */
export function isoMicros(atMicros: string): string {
  const us = BigInt(atMicros);
  let ms = us / 1000n;
  let rest = us % 1000n;
  if (rest < 0n) {
    ms -= 1n;
    rest += 1000n;
  }
  const iso = new Date(Number(ms)).toISOString(); // …SS.mmmZ
  return `${iso.slice(0, -1)}${rest.toString().padStart(3, '0')}Z`;
}

/**
 * Canonical JSON: an object with the keys below in byte order, no whitespace; strings escaped as
 * JSON.stringify does (which matches PostgreSQL's to_json for valid UTF-8); null for SQL NULL; id and seq as
 * decimal strings; details spliced in verbatim as jsonb's own text.
 */
export function canonicalJson(row: AuditRowText): string {
  const fields: Record<string, string> = {
    action: JSON.stringify(row.action),
    actor: JSON.stringify(row.actor),
    at: JSON.stringify(isoMicros(row.atMicros)),
    chain: JSON.stringify(row.chain),
    correlation_id: JSON.stringify(row.correlationId),
    details: row.detailsJson,
    id: JSON.stringify(row.id),
    outcome: JSON.stringify(row.outcome),
    seq: JSON.stringify(row.seq),
    subject: JSON.stringify(row.subject),
  };
  const keys = Object.keys(fields).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${fields[k]}`).join(',')}}`;
}

/** hash = hex(SHA-256(prev_hash + "\n" + canonical JSON)). */
export function rowHash(prevHash: string, row: AuditRowText): string {
  return sha256Hex(`${prevHash}\n${canonicalJson(row)}`);
}
