// T7: one valid assertion presented 50 times at once is consumed exactly once (atomic UPDATE … WHERE used_at IS NULL),
// for a plain step-up and for a live_submit bound to a draft, through a pool of real PostgreSQL connections.
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, createDb, users, webauthnChallenges, webauthnCredentials, type DbHandle } from '../../../src/infra/db/index.js';
import { Passkeys, StepUpError, type StepUpBinding } from '../../../src/infra/webauthn/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { SoftAuthenticator } from '../../support/soft-authenticator.js';

const ORIGIN = 'http://localhost:8700';
const PARALLEL = 50;

describe('step-up double submit (T7)', () => {
  let t: TestDatabase;
  let app: DbHandle;
  let batch: DbHandle;
  let passkeys: Passkeys;

  beforeAll(async () => {
    t = await createTestDatabase('raxx_stepup_race');
    app = createDb(t.appUrl, { max: 10 });
    batch = createDb(t.batchUrl, { max: 2 });
    passkeys = new Passkeys(app.db, { rpId: 'localhost', rpName: 'Raxx Stream test', origins: [ORIGIN] });
  });
  afterAll(async () => {
    await app?.close();
    await batch?.close();
    await t?.drop();
  });

  const stepUp = (): StepUpBinding => ({ purpose: 'step_up' });
  const liveSubmit = (): StepUpBinding => ({ purpose: 'live_submit', liveOrderId: randomUUID(), draftHash: randomUUID().replace(/-/g, '').repeat(2) });
  // A counterless authenticator (signCount always 0, as many synced passkeys) leaves the atomic consume as the only guard.
  const cases: [string, () => StepUpBinding, number | undefined][] = [
    ['step_up', stepUp, undefined],
    ['live_submit', liveSubmit, undefined],
    ['live_submit (counterless authenticator)', liveSubmit, 0],
  ];

  it.each(cases)(`lets exactly 1 of ${PARALLEL} parallel verifications of one %s assertion through`, async (_name, bind, counterOverride) => {
    const userId = `race-${randomUUID()}`;
    await batch.db.insert(users).values({ id: userId, tier: 'pro_plus' });
    const auth = new SoftAuthenticator();
    await passkeys.verifyRegistration(userId, auth.createCredential(await passkeys.registrationOptions({ id: userId, name: userId }), ORIGIN));
    const binding = bind();
    const assertion = auth.getAssertion(await passkeys.stepUpOptions(userId, binding), ORIGIN, counterOverride === undefined ? {} : { counterOverride });

    const results = await Promise.allSettled(Array.from({ length: PARALLEL }, () => passkeys.verifyStepUp(userId, assertion, binding)));

    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(PARALLEL - 1);
    for (const r of lost) {
      expect(r.reason).toBeInstanceOf(StepUpError);
      expect((r.reason as StepUpError).code).toBe('step_up_failed');
      // Losers either lost the row lock race or read the row after the winner committed.
      expect((r.reason as StepUpError).reason).toBe('challenge_used');
    }

    const challengeId = won[0]!.status === 'fulfilled' ? won[0]!.value.challengeId : '';
    const [challenge] = await batch.db.select().from(webauthnChallenges).where(eq(webauthnChallenges.id, challengeId));
    expect(challenge?.usedAt).toBeInstanceOf(Date);
    const [credential] = await batch.db.select().from(webauthnCredentials).where(eq(webauthnCredentials.userId, userId));
    expect(credential?.counter).toBe(counterOverride ?? 1);
    const audit = await batch.db
      .select({ outcome: auditLog.outcome })
      .from(auditLog)
      .where(and(eq(auditLog.chain, userId), eq(auditLog.action, 'step_up.verify')));
    expect(audit.filter((r) => r.outcome === 'success')).toHaveLength(1);
    expect(audit.filter((r) => r.outcome === 'denied')).toHaveLength(PARALLEL - 1);
  });
});
