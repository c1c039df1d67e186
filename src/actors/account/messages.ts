// Command payloads of the account actor (zod), one schema per envelope `type`. Money is a decimal string, never a float.
import { z } from 'zod';
import { ACCOUNT_TYPES } from '../../infra/db/schema/accounts.js';

/** Up to 15 integer digits and 8 decimals, optional leading minus: fits PostgreSQL `numeric` exactly. */
const SIGNED_DECIMAL = /^-?(0|[1-9]\d{0,14})(\.\d{1,8})?$/;
const isZero = (s: string) => /^-?0(\.0+)?$/.test(s);

export const positiveDecimal = z
  .string()
  .regex(SIGNED_DECIMAL, 'must be a decimal string such as "1000" or "99.50"')
  .refine((s) => !s.startsWith('-') && !isZero(s), 'must be greater than zero');

export const nonZeroDecimal = z
  .string()
  .regex(SIGNED_DECIMAL, 'must be a decimal string such as "250" or "-99.50"')
  .refine((s) => !isZero(s), 'must not be zero');

export const accountOpenPayload = z.strictObject({ accountType: z.enum(ACCOUNT_TYPES).optional() });
export const accountResetPayload = z.strictObject({ startingCash: positiveDecimal.optional() });
export const accountAdjustCashPayload = z.strictObject({ amount: nonZeroDecimal, reason: z.string().trim().min(1).max(200) });

export const accountCommandSchemas = {
  'account.open': accountOpenPayload,
  'account.reset': accountResetPayload,
  'account.adjust_cash': accountAdjustCashPayload,
} as const;

export type AccountCommandType = keyof typeof accountCommandSchemas;
export const ACCOUNT_COMMAND_TYPES = Object.keys(accountCommandSchemas) as AccountCommandType[];

export type AccountCommand =
  | { type: 'account.open'; payload: z.infer<typeof accountOpenPayload> }
  | { type: 'account.reset'; payload: z.infer<typeof accountResetPayload> }
  | { type: 'account.adjust_cash'; payload: z.infer<typeof accountAdjustCashPayload> };

/** The domain event kind an accepted command produces on the user's private log. */
export const ACCOUNT_EVENT_KINDS: Record<AccountCommandType, string> = {
  'account.open': 'account.opened',
  'account.reset': 'account.reset',
  'account.adjust_cash': 'account.cash_adjusted',
};

export const REJECTION_CODES = {
  unknownCommand: 'unknown_command',
  invalidPayload: 'invalid_payload',
  accountExists: 'account_exists',
  accountNotFound: 'account_not_found',
  accountNotActive: 'account_not_active',
  insufficientCash: 'insufficient_cash',
} as const;
export type RejectionCode = (typeof REJECTION_CODES)[keyof typeof REJECTION_CODES];

export function isAccountCommandType(type: string): type is AccountCommandType {
  return Object.hasOwn(accountCommandSchemas, type);
}

/** Parses an envelope's type and payload (absent payload = `{}`); an error message is zod's, flattened to one line. */
export function parseAccountCommand(
  type: string,
  payload: unknown,
): { ok: true; command: AccountCommand } | { ok: false; code: 'unknown_command' | 'invalid_payload'; message: string } {
  if (!isAccountCommandType(type)) return { ok: false, code: 'unknown_command', message: `unknown command type "${type}"` };
  const r = accountCommandSchemas[type].safeParse(payload ?? {});
  if (!r.success) {
    const message = r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
    return { ok: false, code: 'invalid_payload', message };
  }
  return { ok: true, command: { type, payload: r.data } as AccountCommand };
}
