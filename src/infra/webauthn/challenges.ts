// WebAuthn challenges in `webauthn_challenges`: issue, look up read-only, and consume exactly once (W2–W4).
import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, gte, isNotNull, isNull } from 'drizzle-orm';
import { z } from 'zod';
import type { Tx } from '../db/client.js';
import { webauthnChallenges, type WebauthnChallengePurpose } from '../db/schema/live-handoff.js';
import type { StepUpFailureReason } from './errors.js';

/** What a step-up challenge is for: a plain re-authentication, or the submit of one stored live order draft. */
export const stepUpBindingSchema = z.discriminatedUnion('purpose', [
  z.strictObject({ purpose: z.literal('step_up') }),
  z.strictObject({
    purpose: z.literal('live_submit'),
    liveOrderId: z.string().min(1).max(64),
    /** liveDraftHash(): SHA-256 hex. */
    draftHash: z.string().regex(/^[0-9a-f]{64}$/),
  }),
]);
export type StepUpBinding = z.infer<typeof stepUpBindingSchema>;

/** What the ceremony being verified expects of the stored row. */
export type ChallengeExpectation = { purpose: 'register' } | StepUpBinding;

export const REGISTER_CHALLENGE_TTL_MS = 5 * 60_000;
/** W4: ≤ 120 s. The browser's own timeout (60 s) is shorter, so a slow network still fits. */
export const STEP_UP_CHALLENGE_TTL_MS = 120_000;

export type ChallengeRow = typeof webauthnChallenges.$inferSelect;

/**
 * W2: the challenge bytes. A `live_submit` challenge commits to the draft and the user (SHA-256 of 32 random bytes ‖
 * draftHash ‖ userId), so it stays unique and unpredictable while naming what it authorises; the stored row's
 * binding columns are what verification checks.
 */
export function stepUpChallengeBytes(userId: string, binding: StepUpBinding): Uint8Array<ArrayBuffer> {
  const nonce = randomBytes(32);
  if (binding.purpose === 'step_up') return new Uint8Array(nonce);
  return new Uint8Array(createHash('sha256').update(nonce).update(binding.draftHash).update(userId).digest());
}

export async function insertChallenge(
  tx: Tx,
  row: { userId: string; purpose: WebauthnChallengePurpose; challenge: string; liveOrderId?: string; draftHash?: string; expiresAt: Date },
): Promise<string> {
  const [created] = await tx
    .insert(webauthnChallenges)
    .values({ ...row, liveOrderId: row.liveOrderId ?? null, draftHash: row.draftHash ?? null })
    .returning({ id: webauthnChallenges.id });
  if (!created) throw new Error('challenge insert returned no row');
  return created.id;
}

/** W4: one outstanding `live_submit` challenge per (user, live order): older unused ones read as expired from now on. */
export async function expireLiveSubmitChallenges(tx: Tx, userId: string, liveOrderId: string, now: Date): Promise<number> {
  const res = await tx
    .update(webauthnChallenges)
    .set({ expiresAt: now })
    .where(
      and(
        eq(webauthnChallenges.userId, userId),
        eq(webauthnChallenges.purpose, 'live_submit'),
        eq(webauthnChallenges.liveOrderId, liveOrderId),
        isNull(webauthnChallenges.usedAt),
        gt(webauthnChallenges.expiresAt, now),
      ),
    );
  return res.count;
}

export async function findChallenge(tx: Tx, userId: string, challenge: string): Promise<ChallengeRow | undefined> {
  const [row] = await tx
    .select()
    .from(webauthnChallenges)
    .where(and(eq(webauthnChallenges.challenge, challenge), eq(webauthnChallenges.userId, userId)))
    .limit(1);
  return row;
}

/** W3's read-only check, before any signature work. Undefined: the row may be consumed for this ceremony. */
export function challengeProblem(row: ChallengeRow | undefined, expected: ChallengeExpectation, now: Date): StepUpFailureReason | undefined {
  if (!row) return 'unknown_challenge';
  if (row.purpose !== expected.purpose) return 'binding_mismatch';
  if (expected.purpose === 'live_submit' && (row.liveOrderId !== expected.liveOrderId || row.draftHash !== expected.draftHash)) {
    return 'binding_mismatch';
  }
  if (row.usedAt) return 'challenge_used';
  if (row.expiresAt.getTime() <= now.getTime()) return 'challenge_expired';
  return undefined;
}

/**
 * The single atomic consume (W3): under concurrency PostgreSQL re-checks `used_at IS NULL` after the row lock, so
 * exactly one caller gets the row back. False: someone else consumed it, or it expired meanwhile.
 */
export async function consumeChallenge(tx: Tx, row: ChallengeRow, now: Date): Promise<boolean> {
  const consumed = await tx
    .update(webauthnChallenges)
    .set({ usedAt: now })
    .where(
      and(
        eq(webauthnChallenges.id, row.id),
        eq(webauthnChallenges.userId, row.userId),
        isNull(webauthnChallenges.usedAt),
        gt(webauthnChallenges.expiresAt, now),
      ),
    )
    .returning({ id: webauthnChallenges.id });
  return consumed.length === 1;
}

/** Why a consume found nothing, read after the fact (for the audit row and the caller's reason). */
export async function lostConsumeReason(tx: Tx, row: ChallengeRow): Promise<StepUpFailureReason> {
  const [now] = await tx
    .select({ usedAt: webauthnChallenges.usedAt })
    .from(webauthnChallenges)
    .where(eq(webauthnChallenges.id, row.id));
  return now?.usedAt ? 'challenge_used' : 'challenge_expired';
}

/** Whether a plain `step_up` challenge of this user was consumed at or after `since`. */
export async function stepUpConsumedSince(tx: Tx, userId: string, since: Date): Promise<boolean> {
  const [row] = await tx
    .select({ id: webauthnChallenges.id })
    .from(webauthnChallenges)
    .where(
      and(
        eq(webauthnChallenges.userId, userId),
        eq(webauthnChallenges.purpose, 'step_up'),
        isNotNull(webauthnChallenges.usedAt),
        gte(webauthnChallenges.usedAt, since),
      ),
    )
    .limit(1);
  return row !== undefined;
}
