// Appending to the audit log: the database assigns seq, time and hashes; this only validates and inserts.
import type { Executor } from '../db/client.js';
import { arrayLiteral, jsonCells } from '../db/arrays.js';
import { sendStatement } from '../db/statements.js';
import { toDbError } from '../db/errors.js';
import { SYSTEM_CHAIN } from '../db/schema/audit.js';

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface AuditEntry {
  /** Who did it: a user id, an operator id, or a service name. */
  actor: string;
  /** Dotted verb, e.g. `order.submit`, `live.connect`, `tier.change`. */
  action: string;
  outcome: AuditOutcome;
  /** The user the action concerns; absent for platform-wide actions. */
  subject?: string | null;
  /** Chain to append to; default: `subject`, else 'system'. */
  chain?: string;
  correlationId?: string | null;
  /** Context for a human reader. Never secrets: secret-looking keys are refused. */
  details?: Record<string, unknown>;
  /** Event time if not "now" (e.g. recorded after the fact); default: the trigger's clock_timestamp(). */
  at?: Date;
}

export class AuditError extends Error {
  override readonly name = 'AuditError';
  constructor(
    readonly code: 'AUDIT_ENTRY_INVALID' | 'AUDIT_SECRET_IN_DETAILS',
    message: string,
  ) {
    super(message);
  }
}

// Key names that suggest a credential. Matching a key is enough to refuse: the value is never inspected or echoed.
const SECRET_KEY = /pass(word|wd|phrase)|secret|(access|refresh|id|bearer|session)_?token|^token$|authorization|cookie|totp|otp_?seed|recovery_?code|private_?key|api_?key|ciphertext/i;

function findSecretKey(value: unknown, path: string): string | undefined {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const hit = findSecretKey(item, `${path}[${i}]`);
      if (hit) return hit;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const here = path ? `${path}.${key}` : key;
      if (SECRET_KEY.test(key)) return here;
      const hit = findSecretKey(item, here);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** The chain an entry lands on. */
export function chainOf(entry: Pick<AuditEntry, 'chain' | 'subject'>): string {
  return entry.chain ?? entry.subject ?? SYSTEM_CHAIN;
}

/** Validates an entry (actor, action, outcome, no secret-looking detail keys) and returns the chain it lands on. */
function checkedChain(entry: AuditEntry): string {
  if (!entry.actor || !entry.action) throw new AuditError('AUDIT_ENTRY_INVALID', 'audit entry needs an actor and an action');
  if (!(AUDIT_OUTCOMES as readonly string[]).includes(entry.outcome)) {
    throw new AuditError('AUDIT_ENTRY_INVALID', 'audit outcome must be one of ' + AUDIT_OUTCOMES.join(', '));
  }
  const secretKey = findSecretKey(entry.details ?? {}, '');
  if (secretKey) throw new AuditError('AUDIT_SECRET_IN_DETAILS', `audit details key "${secretKey}" looks like a secret`);
  const chain = chainOf(entry);
  if (!chain) throw new AuditError('AUDIT_ENTRY_INVALID', 'audit chain must not be empty');
  return chain;
}

/**
 * Appends one row. Run it inside the transaction whose effect it records (pass the `tx`), so the audit row
 * commits or rolls back with the change. Returns nothing: with raxx_app a RETURNING clause would need read
 * access to the chain, which the app has only for users in its scope.
 */
export function appendAudit(executor: Executor, entry: AuditEntry): Promise<void> {
  return appendAudits(executor, [entry]);
}

const INSERT_AUDITS = `insert into audit_log (chain, actor, subject, action, outcome, correlation_id, details, at)
  select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::timestamptz[])`;

/**
 * Appends several rows in one statement (one array parameter per column, so one prepared statement whatever their
 * number), in the order given: a turn's rows cost one statement, not one each. The chain trigger runs per row and sees
 * the rows the statement inserted before it, so rows of one chain link up as if appended one by one. Every entry is
 * validated before anything is sent.
 */
export async function appendAudits(executor: Executor, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const chains = entries.map(checkedChain);
  try {
    await sendStatement(executor, INSERT_AUDITS, [
      arrayLiteral(chains),
      arrayLiteral(entries.map((e) => e.actor)),
      arrayLiteral(entries.map((e) => e.subject ?? null)),
      arrayLiteral(entries.map((e) => e.action)),
      arrayLiteral(entries.map((e) => e.outcome)),
      arrayLiteral(entries.map((e) => e.correlationId ?? null)),
      arrayLiteral(jsonCells(entries.map((e) => e.details ?? {}))),
      arrayLiteral(entries.map((e) => (e.at ? e.at.toISOString() : null))),
    ]);
  } catch (err) {
    throw toDbError(err);
  }
}
