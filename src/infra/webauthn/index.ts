// Passkeys (WebAuthn) for the live handoff: registration, transaction-bound step-up, typed refusals.
export {
  FRESH_STEP_UP_MS,
  Passkeys,
  STEP_UP_TIMEOUT_MS,
  authenticationResponseSchema,
  registrationResponseSchema,
  type PasskeyOptions,
} from './passkeys.js';
export { REGISTER_CHALLENGE_TTL_MS, STEP_UP_CHALLENGE_TTL_MS, stepUpBindingSchema, type StepUpBinding } from './challenges.js';
export { PasskeyConfigError, STEP_UP_FAILURE_REASONS, StepUpError, type PasskeyRequiredReason, type StepUpFailureReason } from './errors.js';
export type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
