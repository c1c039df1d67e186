// Typed errors of passkey registration and step-up. Messages name the reason only: never a challenge, a credential's
// key, an assertion, or the library's own text (which quotes challenges and origins verbatim).
import type { LiveErrorCode } from '../../contracts/live.js';

/** Why a registration or step-up was refused. Stable: audit details and tests branch on it. */
export const STEP_UP_FAILURE_REASONS = [
  'unknown_challenge', // no such challenge for this user (or another user's: RLS hides it)
  'challenge_used', // consumed already (replay, or a parallel request won the race)
  'challenge_expired',
  'binding_mismatch', // other purpose, other live order or other draft hash than the caller asked for
  'verification_failed', // malformed response, wrong origin/RP ID/type, no UV, bad signature, duplicate credential
  'unknown_credential', // the assertion names a credential this user has not registered
  'counter_regression', // a genuinely signed assertion whose counter did not advance: possibly a cloned authenticator
] as const;
export type StepUpFailureReason = (typeof STEP_UP_FAILURE_REASONS)[number];

/** The user has no passkey yet; they must register one before any step-up. */
export type PasskeyRequiredReason = 'no_passkey';

export class StepUpError extends Error {
  override readonly name = 'StepUpError';
  readonly code: Extract<LiveErrorCode, 'step_up_failed' | 'passkey_required'>;
  readonly reason: StepUpFailureReason | PasskeyRequiredReason;

  private constructor(code: StepUpError['code'], reason: StepUpError['reason']) {
    super(code === 'passkey_required' ? 'passkey required: register a passkey first' : `step-up failed: ${reason}`);
    this.code = code;
    this.reason = reason;
  }

  static failed(reason: StepUpFailureReason): StepUpError {
    return new StepUpError('step_up_failed', reason);
  }

  static passkeyRequired(): StepUpError {
    return new StepUpError('passkey_required', 'no_passkey');
  }
}

/** Options that would weaken the ceremony (no origin, plain-HTTP origin other than localhost, …). */
export class PasskeyConfigError extends Error {
  override readonly name = 'PasskeyConfigError';
  readonly code = 'PASSKEY_CONFIG_INVALID' as const;
}
