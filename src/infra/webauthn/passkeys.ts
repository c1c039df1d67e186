// Passkey registration and step-up verification (security notes W1–W6) on @simplewebauthn/server, state in PostgreSQL.
import { createHash } from 'node:crypto';
import { and, eq, or, lt, sql } from 'drizzle-orm';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { decodeClientDataJSON } from '@simplewebauthn/server/helpers';
import { z } from 'zod';
import { appendAudit } from '../audit/append.js';
import type { Db, Tx } from '../db/client.js';
import { webauthnCredentials } from '../db/schema/webauthn.js';
import { withTenant } from '../db/tenant.js';
import {
  REGISTER_CHALLENGE_TTL_MS,
  STEP_UP_CHALLENGE_TTL_MS,
  challengeProblem,
  consumeChallenge,
  expireLiveSubmitChallenges,
  findChallenge,
  insertChallenge,
  lostConsumeReason,
  stepUpBindingSchema,
  stepUpChallengeBytes,
  stepUpConsumedSince,
  type ChallengeExpectation,
  type ChallengeRow,
  type StepUpBinding,
} from './challenges.js';
import { PasskeyConfigError, StepUpError, type StepUpFailureReason } from './errors.js';

export interface PasskeyOptions {
  /** RP ID: the app's registrable domain (`localhost` only in dev and tests, W6). */
  rpId: string;
  rpName: string;
  /** Exact origins a ceremony may come from: https, or http on a loopback host. */
  origins: string[];
  /** Clock for challenge expiry and step-up freshness (tests inject one). */
  now?: () => Date;
}

export const STEP_UP_TIMEOUT_MS = 60_000;
export const FRESH_STEP_UP_MS = 300_000;

// Boundary shapes of what the browser posts (what @simplewebauthn/browser's start* return). Checked before any
// decoding so a malformed body is a typed refusal, not a TypeError deep inside the library.
const b64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+={0,2}$/);
const credentialEnvelope = { id: b64url(1024), rawId: b64url(1024), type: z.literal('public-key') };
export const registrationResponseSchema = z.object({
  ...credentialEnvelope,
  response: z.object({ clientDataJSON: b64url(8192), attestationObject: b64url(16_384), transports: z.array(z.string().max(32)).max(10).optional() }),
});
export const authenticationResponseSchema = z.object({
  ...credentialEnvelope,
  response: z.object({ clientDataJSON: b64url(8192), authenticatorData: b64url(8192), signature: b64url(2048), userHandle: b64url(512).optional() }),
});

const KNOWN_TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function checkOptions(o: PasskeyOptions): void {
  if (!o.rpId || !o.rpName) throw new PasskeyConfigError('passkeys need an RP ID and an RP name');
  if (o.origins.length === 0) throw new PasskeyConfigError('passkeys need at least one allowed origin');
  for (const origin of o.origins) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new PasskeyConfigError(`passkey origin is not a URL: ${origin}`);
    }
    if (url.origin !== origin) throw new PasskeyConfigError(`passkey origin must be a bare origin (scheme://host[:port]): ${origin}`);
    const loopback = LOOPBACK_HOSTS.has(url.hostname) || url.hostname.endsWith('.localhost');
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw new PasskeyConfigError(`passkey origin must be https (http only on a loopback host): ${origin}`);
    }
  }
}

/** The WebAuthn user handle: stable per user (so an authenticator keeps one account), opaque, 32 bytes. */
function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update('raxx-webauthn-user-v1\0').update(userId).digest());
}

/** The challenge the client says it signed; undefined when clientDataJSON does not decode. */
function claimedChallenge(clientDataJSON: string): string | undefined {
  try {
    const challenge: unknown = decodeClientDataJSON(clientDataJSON).challenge;
    return typeof challenge === 'string' && challenge.length > 0 && challenge.length <= 256 ? challenge : undefined;
  } catch {
    return undefined;
  }
}

/** Library verification with its error text thrown away (it quotes challenges and origins): only "did it pass". */
async function passes<T extends { verified: boolean }>(verify: () => Promise<T>): Promise<T | undefined> {
  try {
    const result = await verify();
    return result.verified ? result : undefined;
  } catch {
    return undefined;
  }
}

export class Passkeys {
  private readonly now: () => Date;

  constructor(
    private readonly db: Db,
    private readonly opts: PasskeyOptions,
  ) {
    checkOptions(opts);
    this.now = opts.now ?? (() => new Date());
  }

  async hasPasskey(userId: string): Promise<boolean> {
    return withTenant(this.db, [userId], async (tx) => (await this.credentialsOf(tx, userId)).length > 0);
  }

  /** Throws StepUpError `passkey_required` when the user has registered no passkey yet. */
  async passkeyRequired(userId: string): Promise<void> {
    if (!(await this.hasPasskey(userId))) throw StepUpError.passkeyRequired();
  }

  /** W1: options for navigator.credentials.create(); stores a `register` challenge (TTL 5 min). */
  async registrationOptions(user: { id: string; name: string }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    return withTenant(this.db, [user.id], async (tx) => {
      const existing = await this.credentialsOf(tx, user.id);
      const options = await generateRegistrationOptions({
        rpName: this.opts.rpName,
        rpID: this.opts.rpId,
        userName: user.name,
        userDisplayName: user.name,
        userID: userHandle(user.id),
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports })),
        authenticatorSelection: { userVerification: 'required', residentKey: 'preferred' },
      });
      const expiresAt = new Date(this.now().getTime() + REGISTER_CHALLENGE_TTL_MS);
      await insertChallenge(tx, { userId: user.id, purpose: 'register', challenge: options.challenge, expiresAt });
      return options;
    });
  }

  /** W1: verifies the attestation, then consumes the challenge and stores the credential (public data) in one transaction. */
  async verifyRegistration(userId: string, response: RegistrationResponseJSON): Promise<{ credentialId: string }> {
    const action = 'passkey.register';
    const parsed = registrationResponseSchema.safeParse(response);
    const claimed = parsed.success ? claimedChallenge(parsed.data.response.clientDataJSON) : undefined;
    if (!claimed) throw await this.deny(userId, action, 'verification_failed');
    const row = await this.lookup(userId, claimed, { purpose: 'register' }, action);

    const result = await passes(() =>
      verifyRegistrationResponse({
        response,
        expectedChallenge: row.challenge,
        expectedOrigin: this.opts.origins,
        expectedRPID: this.opts.rpId,
        requireUserPresence: true,
        requireUserVerification: true,
      }),
    );
    if (!result?.verified) throw await this.deny(userId, action, 'verification_failed', { challengeId: row.id });
    const info = result.registrationInfo;
    const credentialId = info.credential.id;

    return this.consumeOrDeny(userId, action, row, async (tx, now) => {
      const inserted = await tx
        .insert(webauthnCredentials)
        .values({
          id: credentialId,
          userId,
          publicKey: Buffer.from(info.credential.publicKey),
          counter: info.credential.counter,
          transports: (info.credential.transports ?? []).filter((t) => KNOWN_TRANSPORTS.has(t)),
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp,
          createdAt: now,
        })
        // A credential id already on file (this user's or anyone's) is refused, never re-bound.
        .onConflictDoNothing({ target: webauthnCredentials.id })
        .returning({ id: webauthnCredentials.id });
      if (inserted.length !== 1) throw StepUpError.failed('verification_failed');
      const details = { credentialId, deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp, aaguid: info.aaguid };
      return { result: { credentialId }, details };
    });
  }

  /**
   * W2: options for navigator.credentials.get(). A `live_submit` challenge is bound to (live order, draft hash) and
   * replaces any earlier unused one for that order (W4). Throws `passkey_required` when the user has none.
   */
  async stepUpOptions(userId: string, binding: StepUpBinding): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const b = stepUpBindingSchema.parse(binding);
    return withTenant(this.db, [userId], async (tx) => {
      const credentials = await this.credentialsOf(tx, userId);
      if (credentials.length === 0) throw StepUpError.passkeyRequired();
      const now = this.now();
      if (b.purpose === 'live_submit') await expireLiveSubmitChallenges(tx, userId, b.liveOrderId, now);
      const options = await generateAuthenticationOptions({
        rpID: this.opts.rpId,
        challenge: stepUpChallengeBytes(userId, b),
        allowCredentials: credentials.map((c) => ({ id: c.id, transports: c.transports })),
        userVerification: 'required',
        timeout: STEP_UP_TIMEOUT_MS,
      });
      await insertChallenge(tx, {
        userId,
        purpose: b.purpose,
        challenge: options.challenge,
        ...(b.purpose === 'live_submit' ? { liveOrderId: b.liveOrderId, draftHash: b.draftHash } : {}),
        expiresAt: new Date(now.getTime() + STEP_UP_CHALLENGE_TTL_MS),
      });
      return options;
    });
  }

  /**
   * W3: read-only lookup → signature verification → one transaction that consumes the challenge (atomic UPDATE …
   * RETURNING) and advances the credential's counter. Exactly one of any number of concurrent calls with the same
   * assertion resolves; the others throw StepUpError `step_up_failed` (`challenge_used`).
   */
  async verifyStepUp(
    userId: string,
    response: AuthenticationResponseJSON,
    binding: StepUpBinding,
  ): Promise<{ challengeId: string; credentialId: string; verifiedAt: Date }> {
    const action = 'step_up.verify';
    const b = stepUpBindingSchema.safeParse(binding);
    const parsed = authenticationResponseSchema.safeParse(response);
    const claimed = parsed.success ? claimedChallenge(parsed.data.response.clientDataJSON) : undefined;
    if (!b.success) throw await this.deny(userId, action, 'binding_mismatch');
    if (!parsed.success || !claimed) throw await this.deny(userId, action, 'verification_failed');
    const row = await this.lookup(userId, claimed, b.data, action);

    const credentialId = parsed.data.id;
    const [credential] = await withTenant(this.db, [userId], (tx) =>
      tx.select().from(webauthnCredentials).where(and(eq(webauthnCredentials.id, credentialId), eq(webauthnCredentials.userId, userId))),
    );
    if (!credential) throw await this.deny(userId, action, 'unknown_credential', { challengeId: row.id });

    // The library is given counter 0 so that it checks everything but the counter; we compare counters ourselves
    // after the signature verified, so `counter_regression` means "signed by the real key", i.e. a likely clone (W5),
    // and a forged assertion cannot raise that alarm.
    const result = await passes(() =>
      verifyAuthenticationResponse({
        response,
        expectedChallenge: row.challenge,
        expectedOrigin: this.opts.origins,
        expectedRPID: this.opts.rpId,
        credential: { id: credential.id, publicKey: new Uint8Array(credential.publicKey), counter: 0, transports: credential.transports },
        requireUserVerification: true,
      }),
    );
    if (!result || !result.authenticationInfo.userVerified) {
      throw await this.deny(userId, action, 'verification_failed', { challengeId: row.id, credentialId });
    }
    const newCounter = result.authenticationInfo.newCounter;
    if (!counterAdvances(credential.counter, newCounter)) {
      // The same assertion may have just won a parallel verification (which moved the counter): that is a replay,
      // refused as such, not a cloned authenticator.
      const now = await withTenant(this.db, [userId], (tx) => findChallenge(tx, userId, row.challenge));
      if (now?.usedAt) throw await this.deny(userId, action, 'challenge_used', { challengeId: row.id, credentialId });
      throw await this.deny(userId, action, 'counter_regression', { challengeId: row.id, credentialId, storedCounter: credential.counter, newCounter });
    }

    return this.consumeOrDeny(userId, action, row, async (tx, now) => {
      // Monotonic update: a parallel step-up with another challenge that already moved the counter past ours wins.
      const updated = await tx
        .update(webauthnCredentials)
        .set({ counter: newCounter, lastUsedAt: now })
        .where(
          and(
            eq(webauthnCredentials.id, credentialId),
            eq(webauthnCredentials.userId, userId),
            or(lt(webauthnCredentials.counter, newCounter), sql`(${newCounter}::bigint = 0 and ${webauthnCredentials.counter} = 0)`),
          ),
        )
        .returning({ id: webauthnCredentials.id });
      if (updated.length !== 1) throw StepUpError.failed('counter_regression');
      const details = { purpose: row.purpose, liveOrderId: row.liveOrderId, credentialId, counter: newCounter };
      return { result: { challengeId: row.id, credentialId, verifiedAt: now }, details };
    });
  }

  /** Whether the user completed a plain `step_up` within `withinMs` (default 5 min). */
  async hasFreshStepUp(userId: string, withinMs: number = FRESH_STEP_UP_MS): Promise<boolean> {
    const since = new Date(this.now().getTime() - withinMs);
    return withTenant(this.db, [userId], (tx) => stepUpConsumedSince(tx, userId, since));
  }

  /** W4: call when a live order's draft changes or the order is dropped; its unused challenges stop working. */
  async expireLiveSubmitChallenges(userId: string, liveOrderId: string): Promise<number> {
    return withTenant(this.db, [userId], (tx) => expireLiveSubmitChallenges(tx, userId, liveOrderId, this.now()));
  }

  private credentialsOf(tx: Tx, userId: string): Promise<{ id: string; transports: string[] }[]> {
    return tx
      .select({ id: webauthnCredentials.id, transports: webauthnCredentials.transports })
      .from(webauthnCredentials)
      .where(eq(webauthnCredentials.userId, userId));
  }

  /** W3's read-only lookup; throws (after auditing) when the challenge cannot serve this ceremony. */
  private async lookup(userId: string, challenge: string, expected: ChallengeExpectation, action: string): Promise<ChallengeRow> {
    const row = await withTenant(this.db, [userId], (tx) => findChallenge(tx, userId, challenge));
    const problem = challengeProblem(row, expected, this.now());
    if (problem || !row) throw await this.deny(userId, action, problem ?? 'unknown_challenge', row ? { challengeId: row.id } : {});
    return row;
  }

  /**
   * Consumes the challenge, runs `effect` and writes the success audit row, all in one transaction; any refusal rolls
   * all of it back and is audited on its own.
   */
  private async consumeOrDeny<T>(
    userId: string,
    action: string,
    row: ChallengeRow,
    effect: (tx: Tx, now: Date) => Promise<{ result: T; details: Record<string, unknown> }>,
  ): Promise<T> {
    const now = this.now();
    try {
      return await withTenant(this.db, [userId], async (tx) => {
        if (!(await consumeChallenge(tx, row, now))) throw StepUpError.failed(await lostConsumeReason(tx, row));
        const { result, details } = await effect(tx, now);
        await appendAudit(tx, { actor: userId, subject: userId, action, outcome: 'success', correlationId: row.id, details });
        return result;
      });
    } catch (err) {
      if (err instanceof StepUpError && err.code === 'step_up_failed') {
        throw await this.deny(userId, action, err.reason as StepUpFailureReason, { challengeId: row.id });
      }
      throw err;
    }
  }

  /**
   * Records a refusal in its own small transaction and returns the error to throw. A counter regression also gets an
   * alert row of its own (W5). Details hold ids and reasons only.
   */
  private async deny(userId: string, action: string, reason: StepUpFailureReason, details: Record<string, unknown> = {}): Promise<StepUpError> {
    await withTenant(this.db, [userId], async (tx) => {
      const correlationId = typeof details.challengeId === 'string' ? details.challengeId : null;
      await appendAudit(tx, { actor: userId, subject: userId, action, outcome: 'denied', correlationId, details: { reason, ...details } });
      if (reason === 'counter_regression') {
        await appendAudit(tx, { actor: userId, subject: userId, action: 'step_up.counter_regression', outcome: 'denied', correlationId, details });
      }
    });
    return StepUpError.failed(reason);
  }
}

/** The library's rule (W5): when either side uses a counter, the new value must be strictly greater. */
function counterAdvances(stored: number, next: number): boolean {
  return !((next > 0 || stored > 0) && next <= stored);
}
