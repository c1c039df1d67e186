// Passkeys and step-up against real PostgreSQL as raxx_app (security notes W1–W6, T6 without a browser): a software
// authenticator registers and asserts; every tampering case is refused with its typed reason and audited.
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { liveDraftHash, type LiveOrderDraft } from '../../../src/contracts/live.js';
import { auditLog, createDb, users, webauthnChallenges, webauthnCredentials, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { PasskeyConfigError, Passkeys, StepUpError, type StepUpBinding, type StepUpFailureReason } from '../../../src/infra/webauthn/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { SoftAuthenticator } from '../../support/soft-authenticator.js';

const ORIGIN = 'http://localhost:8700';
const OPTS = { rpId: 'localhost', rpName: 'Raxx Stream test', origins: [ORIGIN] };
const CANARY = 'CANARY-webauthn-7f3d9b21';
const CANARY_ORIGIN = `https://${CANARY.toLowerCase()}.example`;
const STEP_UP: StepUpBinding = { purpose: 'step_up' };
const DRAFT: LiveOrderDraft = { symbol: 'AAPL', side: 'buy', qty: '10', type: 'limit', time_in_force: 'day', limit_price: '187.25' };

function liveBinding(userId: string, draft: LiveOrderDraft = DRAFT, liveOrderId: string = randomUUID()): Extract<StepUpBinding, { purpose: 'live_submit' }> {
  return { purpose: 'live_submit', liveOrderId, draftHash: liveDraftHash({ userId, liveOrderId, clientOrderId: `raxx-${liveOrderId}`, draft }) };
}

describe('passkeys and step-up (browserless)', () => {
  let t: TestDatabase;
  let app: DbHandle;
  let batch: DbHandle;
  let clock: Date;
  let passkeys: Passkeys;
  /** Every refusal seen, for the canary check at the end. */
  const errors: unknown[] = [];
  /** Challenges and assertion parts handed out: none may appear in an error or audit row. */
  const secrets: string[] = [CANARY, CANARY_ORIGIN];

  async function newUser(): Promise<string> {
    const id = `u-${randomUUID()}`;
    await batch.db.insert(users).values({ id, tier: 'pro', email: `${id}@example.com` });
    return id;
  }

  async function enrolled(): Promise<{ userId: string; auth: SoftAuthenticator }> {
    const userId = await newUser();
    const auth = new SoftAuthenticator();
    const options = await passkeys.registrationOptions({ id: userId, name: `${userId}@example.com` });
    secrets.push(options.challenge);
    await passkeys.verifyRegistration(userId, auth.createCredential(options, ORIGIN));
    return { userId, auth };
  }

  async function refusal(p: Promise<unknown>): Promise<StepUpError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    errors.push(err);
    expect(err).toBeInstanceOf(StepUpError);
    return err as StepUpError;
  }

  async function expectFailed(p: Promise<unknown>, reason: StepUpFailureReason): Promise<void> {
    const err = await refusal(p);
    expect({ code: err.code, reason: err.reason }).toEqual({ code: 'step_up_failed', reason });
  }

  async function auditOf(userId: string): Promise<{ action: string; outcome: string; details: Record<string, unknown> }[]> {
    const rows = await batch.db
      .select({ action: auditLog.action, outcome: auditLog.outcome, details: auditLog.details })
      .from(auditLog)
      .where(eq(auditLog.chain, userId))
      .orderBy(auditLog.seq);
    return rows as { action: string; outcome: string; details: Record<string, unknown> }[];
  }

  beforeAll(async () => {
    t = await createTestDatabase('raxx_webauthn');
    app = createDb(t.appUrl, { max: 4 });
    batch = createDb(t.batchUrl, { max: 2 });
  });
  beforeEach(() => {
    clock = new Date();
    passkeys = new Passkeys(app.db, { ...OPTS, now: () => clock });
  });
  afterAll(async () => {
    await app?.close();
    await batch?.close();
    await t?.drop();
  });

  it('registers a passkey and verifies a step-up, advancing the counter and auditing both', async () => {
    const userId = await newUser();
    const auth = new SoftAuthenticator();
    expect(await passkeys.hasPasskey(userId)).toBe(false);

    const reg = await passkeys.registrationOptions({ id: userId, name: 'alice@example.com' });
    expect(reg.attestation).toBe('none');
    expect(reg.authenticatorSelection).toMatchObject({ userVerification: 'required', residentKey: 'preferred' });
    expect(reg.rp.id).toBe('localhost');
    const { credentialId } = await passkeys.verifyRegistration(userId, auth.createCredential(reg, ORIGIN));
    expect(credentialId).toBe(auth.id);
    expect(await passkeys.hasPasskey(userId)).toBe(true);
    // A second registration excludes the credential already on file.
    expect((await passkeys.registrationOptions({ id: userId, name: 'alice@example.com' })).excludeCredentials?.map((c) => c.id)).toEqual([auth.id]);

    const options = await passkeys.stepUpOptions(userId, STEP_UP);
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required', timeout: 60_000 });
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([auth.id]);
    const assertion = auth.getAssertion(options, ORIGIN);
    secrets.push(options.challenge, assertion.response.signature);
    const ok = await passkeys.verifyStepUp(userId, assertion, STEP_UP);
    expect(ok.credentialId).toBe(auth.id);
    expect(ok.verifiedAt).toEqual(clock);

    const [stored] = await withTenant(app.db, [userId], (tx) => tx.select().from(webauthnCredentials).where(eq(webauthnCredentials.id, auth.id)));
    expect(stored).toMatchObject({ counter: 1, transports: ['internal'], deviceType: 'singleDevice', backedUp: false });
    expect(stored?.lastUsedAt).toEqual(clock);
    const [challenge] = await withTenant(app.db, [userId], (tx) => tx.select().from(webauthnChallenges).where(eq(webauthnChallenges.id, ok.challengeId)));
    expect(challenge).toMatchObject({ purpose: 'step_up', usedAt: clock });

    const audit = await auditOf(userId);
    expect(audit.map((r) => [r.action, r.outcome])).toEqual([
      ['passkey.register', 'success'],
      ['step_up.verify', 'success'],
    ]);
    expect(audit[1]?.details).toMatchObject({ purpose: 'step_up', credentialId: auth.id, counter: 1 });
  });

  it('refuses a replayed assertion (challenge_used) and audits the denial', async () => {
    const { userId, auth } = await enrolled();
    const assertion = auth.getAssertion(await passkeys.stepUpOptions(userId, STEP_UP), ORIGIN);
    await passkeys.verifyStepUp(userId, assertion, STEP_UP);
    await expectFailed(passkeys.verifyStepUp(userId, assertion, STEP_UP), 'challenge_used');
    const audit = await auditOf(userId);
    expect(audit.at(-1)).toMatchObject({ action: 'step_up.verify', outcome: 'denied', details: { reason: 'challenge_used' } });
  });

  it('binds a live_submit assertion to its live order and draft hash', async () => {
    const { userId, auth } = await enrolled();
    const orderA = liveBinding(userId);
    const options = await passkeys.stepUpOptions(userId, orderA);
    const assertion = auth.getAssertion(options, ORIGIN);
    // Draft changed (qty 10 → 11) after the user approved: other hash, same order.
    const tamperedDraft = { ...orderA, draftHash: liveBinding(userId, { ...DRAFT, qty: '11' }, orderA.liveOrderId).draftHash };
    await expectFailed(passkeys.verifyStepUp(userId, assertion, tamperedDraft), 'binding_mismatch');
    await expectFailed(passkeys.verifyStepUp(userId, assertion, { ...orderA, liveOrderId: randomUUID() }), 'binding_mismatch');
    await expectFailed(passkeys.verifyStepUp(userId, assertion, STEP_UP), 'binding_mismatch');
    // The mismatches consumed nothing: the right binding still verifies, once.
    await passkeys.verifyStepUp(userId, assertion, orderA);
    await expectFailed(passkeys.verifyStepUp(userId, assertion, orderA), 'challenge_used');
    // A live_submit is not a plain step-up.
    expect(await passkeys.hasFreshStepUp(userId)).toBe(false);
  });

  it('keeps one outstanding live_submit challenge per live order', async () => {
    const { userId, auth } = await enrolled();
    const order = liveBinding(userId);
    const other = liveBinding(userId);
    const first = await passkeys.stepUpOptions(userId, order);
    const otherOptions = await passkeys.stepUpOptions(userId, other);
    const second = await passkeys.stepUpOptions(userId, order);
    expect(second.challenge).not.toBe(first.challenge);
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion(first, ORIGIN), order), 'challenge_expired');
    await passkeys.verifyStepUp(userId, auth.getAssertion(second, ORIGIN), order);
    // Another order's challenge was left alone.
    await passkeys.verifyStepUp(userId, auth.getAssertion(otherOptions, ORIGIN), other);
    // An explicit expiry (draft edited) kills the outstanding one.
    const third = await passkeys.stepUpOptions(userId, order);
    expect(await passkeys.expireLiveSubmitChallenges(userId, order.liveOrderId)).toBe(1);
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion(third, ORIGIN), order), 'challenge_expired');
  });

  it('refuses another user presenting an assertion, and a credential of another user', async () => {
    const a = await enrolled();
    const b = await enrolled();
    const assertionA = a.auth.getAssertion(await passkeys.stepUpOptions(a.userId, STEP_UP), ORIGIN);
    // B cannot even see A's challenge (RLS), so it is unknown to B.
    await expectFailed(passkeys.verifyStepUp(b.userId, assertionA, STEP_UP), 'unknown_challenge');
    // B's own challenge signed with A's credential: the credential is not B's.
    const optionsB = await passkeys.stepUpOptions(b.userId, STEP_UP);
    const signedByA = a.auth.getAssertion({ ...optionsB, allowCredentials: [] }, ORIGIN);
    await expectFailed(passkeys.verifyStepUp(b.userId, signedByA, STEP_UP), 'unknown_credential');
    // A's assertion is still good for A: nothing above consumed it.
    await passkeys.verifyStepUp(a.userId, assertionA, STEP_UP);
  });

  it('refuses a wrong origin, a wrong RP ID, a missing UV flag and a bad signature (verification_failed)', async () => {
    const { userId, auth } = await enrolled();
    const options = await passkeys.stepUpOptions(userId, STEP_UP);
    // The library quotes the origin in its own error; ours must not.
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion(options, CANARY_ORIGIN), STEP_UP), 'verification_failed');
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion({ ...options, rpId: 'evil.example' }, ORIGIN), STEP_UP), 'verification_failed');
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion(options, ORIGIN, { userVerified: false }), STEP_UP), 'verification_failed');
    const good = auth.getAssertion(options, ORIGIN);
    const otherSignature = auth.getAssertion(await passkeys.stepUpOptions(userId, STEP_UP), ORIGIN).response.signature;
    await expectFailed(passkeys.verifyStepUp(userId, { ...good, response: { ...good.response, signature: otherSignature } }, STEP_UP), 'verification_failed');
    await expectFailed(passkeys.verifyStepUp(userId, { ...good, response: { ...good.response, clientDataJSON: '' } }, STEP_UP), 'verification_failed');
    // None of the failures consumed the challenge or moved the counter.
    await passkeys.verifyStepUp(userId, good, STEP_UP);
  });

  it('refuses a counter that does not advance (counter_regression) and raises the clone alert', async () => {
    const { userId, auth } = await enrolled();
    await passkeys.verifyStepUp(userId, auth.getAssertion(await passkeys.stepUpOptions(userId, STEP_UP), ORIGIN, { counterOverride: 5 }), STEP_UP);
    const options = await passkeys.stepUpOptions(userId, STEP_UP);
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion(options, ORIGIN, { counterOverride: 5 }), STEP_UP), 'counter_regression');
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion(options, ORIGIN, { counterOverride: 3 }), STEP_UP), 'counter_regression');
    // A forged assertion (signature over other data) with a stale counter is a plain failure, not a clone alarm.
    const stale = auth.getAssertion(options, ORIGIN, { counterOverride: 2 });
    const foreign = auth.getAssertion(await passkeys.stepUpOptions(userId, STEP_UP), ORIGIN, { counterOverride: 9 }).response.signature;
    await expectFailed(passkeys.verifyStepUp(userId, { ...stale, response: { ...stale.response, signature: foreign } }, STEP_UP), 'verification_failed');

    const audit = await auditOf(userId);
    expect(audit.filter((r) => r.action === 'step_up.counter_regression')).toEqual([
      { action: 'step_up.counter_regression', outcome: 'denied', details: expect.objectContaining({ storedCounter: 5, newCounter: 5 }) },
      { action: 'step_up.counter_regression', outcome: 'denied', details: expect.objectContaining({ storedCounter: 5, newCounter: 3 }) },
    ]);
    // The advancing counter still works.
    await passkeys.verifyStepUp(userId, auth.getAssertion(options, ORIGIN, { counterOverride: 6 }), STEP_UP);
  });

  it('expires challenges after 120 s and step-up freshness after 5 min (injected clock)', async () => {
    const { userId, auth } = await enrolled();
    const start = clock.getTime();
    const late = await passkeys.stepUpOptions(userId, STEP_UP);
    clock = new Date(start + 120_000);
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion(late, ORIGIN), STEP_UP), 'challenge_expired');
    clock = new Date(start + 119_000);
    expect(await passkeys.hasFreshStepUp(userId)).toBe(false);
    await passkeys.verifyStepUp(userId, auth.getAssertion(late, ORIGIN), STEP_UP);
    expect(await passkeys.hasFreshStepUp(userId)).toBe(true);
    clock = new Date(start + 119_000 + 300_000);
    expect(await passkeys.hasFreshStepUp(userId)).toBe(true);
    clock = new Date(start + 119_000 + 300_001);
    expect(await passkeys.hasFreshStepUp(userId)).toBe(false);
    expect(await passkeys.hasFreshStepUp(userId, 400_000)).toBe(true);
  });

  it('refuses registration without user verification, from a wrong origin, replayed, or of a credential already on file', async () => {
    const userId = await newUser();
    const auth = new SoftAuthenticator();
    const options = await passkeys.registrationOptions({ id: userId, name: 'bob@example.com' });
    await expectFailed(passkeys.verifyRegistration(userId, auth.createCredential(options, ORIGIN, { userVerified: false })), 'verification_failed');
    await expectFailed(passkeys.verifyRegistration(userId, auth.createCredential(options, 'https://evil.example')), 'verification_failed');
    expect(await passkeys.hasPasskey(userId)).toBe(false);
    const registration = auth.createCredential(options, ORIGIN);
    await passkeys.verifyRegistration(userId, registration);
    await expectFailed(passkeys.verifyRegistration(userId, registration), 'challenge_used');
    // Someone else registering the same credential id is refused, never re-bound.
    const other = await newUser();
    await expectFailed(passkeys.verifyRegistration(other, auth.createCredential(await passkeys.registrationOptions({ id: other, name: 'eve' }), ORIGIN)), 'verification_failed');
    expect(await passkeys.hasPasskey(other)).toBe(false);
    // A register challenge is no step-up challenge, and the other way round.
    const stepUp = await passkeys.stepUpOptions(userId, STEP_UP);
    const asRegistration = new SoftAuthenticator().createCredential({ ...options, challenge: stepUp.challenge }, ORIGIN);
    await expectFailed(passkeys.verifyRegistration(userId, asRegistration), 'binding_mismatch');
    const audit = await auditOf(userId);
    expect(audit.filter((r) => r.action === 'passkey.register').map((r) => [r.outcome, r.details.reason])).toEqual([
      ['denied', 'verification_failed'],
      ['denied', 'verification_failed'],
      ['success', undefined],
      ['denied', 'challenge_used'],
      ['denied', 'binding_mismatch'],
    ]);
  });

  it('asks for a passkey before any step-up when the user has none', async () => {
    const userId = await newUser();
    const err = await refusal(passkeys.stepUpOptions(userId, STEP_UP));
    expect({ code: err.code, reason: err.reason }).toEqual({ code: 'passkey_required', reason: 'no_passkey' });
    expect((await refusal(passkeys.passkeyRequired(userId))).code).toBe('passkey_required');
    const { userId: enrolledId } = await enrolled();
    await expect(passkeys.passkeyRequired(enrolledId)).resolves.toBeUndefined();
  });

  it('refuses unsafe options at construction', () => {
    expect(() => new Passkeys(app.db, { ...OPTS, origins: [] })).toThrow(PasskeyConfigError);
    expect(() => new Passkeys(app.db, { ...OPTS, origins: ['http://app.example.com'] })).toThrow(PasskeyConfigError);
    expect(() => new Passkeys(app.db, { ...OPTS, origins: ['https://app.example.com/path'] })).toThrow(PasskeyConfigError);
    expect(() => new Passkeys(app.db, { ...OPTS, origins: ['https://app.example.com', 'http://127.0.0.1:8720'] })).not.toThrow();
  });

  it('shows a user none of another user’s challenges or credentials (RLS)', async () => {
    const a = await enrolled();
    const b = await enrolled();
    await passkeys.stepUpOptions(a.userId, liveBinding(a.userId));
    await withTenant(app.db, [b.userId], async (tx) => {
      const challengeOwners = await tx.selectDistinct({ u: webauthnChallenges.userId }).from(webauthnChallenges);
      const credentialOwners = await tx.selectDistinct({ u: webauthnCredentials.userId }).from(webauthnCredentials);
      expect({ challengeOwners, credentialOwners }).toEqual({ challengeOwners: [{ u: b.userId }], credentialOwners: [{ u: b.userId }] });
      const burnt = await tx.update(webauthnChallenges).set({ usedAt: new Date() }).where(eq(webauthnChallenges.userId, a.userId));
      expect(burnt.count).toBe(0);
      const moved = await tx.update(webauthnCredentials).set({ counter: 0 }).where(eq(webauthnCredentials.userId, a.userId));
      expect(moved.count).toBe(0);
    });
    const [aChallenges] = await batch.db
      .select({ n: sql<number>`count(*)::int` })
      .from(webauthnChallenges)
      .where(and(eq(webauthnChallenges.userId, a.userId), sql`${webauthnChallenges.usedAt} is null`));
    expect(aChallenges?.n).toBeGreaterThan(0);
  });

  it('canary: no challenge, assertion part or library text in any error or audit row', async () => {
    // A clientDataJSON that claims the canary as its challenge: the library would quote it, we must not.
    const { userId, auth } = await enrolled();
    const options = await passkeys.stepUpOptions(userId, STEP_UP);
    await expectFailed(passkeys.verifyStepUp(userId, auth.getAssertion({ ...options, challenge: Buffer.from(CANARY).toString('base64url') }, ORIGIN), STEP_UP), 'unknown_challenge');
    secrets.push(Buffer.from(CANARY).toString('base64url'));

    expect(errors.length).toBeGreaterThan(10);
    const audit = await batch.db.select({ details: auditLog.details, correlationId: auditLog.correlationId }).from(auditLog);
    const texts = [...errors.map((e) => `${(e as Error).message} ${JSON.stringify(e)}`), ...audit.map((r) => JSON.stringify(r))];
    for (const secret of secrets) for (const text of texts) expect(text).not.toContain(secret);
    for (const e of errors) expect((e as Error).message.length).toBeLessThan(60);
    expect(texts.join('\n')).not.toMatch(/expected|Unexpected|counter value/);
  });
});
