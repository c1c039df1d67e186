// The verified-token cache of the session verifier: a token is checked once, but a cached token never outlives its
// own expiry, its cache lifetime, or the HS256 secret that signed it.
import { describe, expect, it } from 'vitest';
import { createSessionAuth } from '../../../src/gateway/auth.js';
import { signSession, TEST_AUDIENCE, TEST_ISSUER } from '../../support/gateway.js';

const SECRET_A = 'a'.repeat(40);
const SECRET_B = 'b'.repeat(40);

describe('session token verification cache', () => {
  it('stops accepting a cached token once the HS256 secret rotates away from the one that signed it', async () => {
    let current = SECRET_A;
    const auth = createSessionAuth({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, secret: { current: () => current } });
    const token = await signSession('user-1', SECRET_A);
    expect(await auth.verify(token)).toEqual({ sub: 'user-1', role: 'user' });
    expect(await auth.verify(token)).toEqual({ sub: 'user-1', role: 'user' }); // from the cache
    current = SECRET_B;
    expect(await auth.verify(token)).toBeNull();
    expect(await auth.verify(await signSession('user-1', SECRET_B))).toEqual({ sub: 'user-1', role: 'user' });
  });

  it('does not serve a cached token past its exp', async () => {
    const auth = createSessionAuth({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, secret: { current: () => SECRET_A } });
    const exp = Math.floor(Date.now() / 1000) + 1;
    const token = await signSession('user-2', SECRET_A, { exp });
    expect(await auth.verify(token)).toEqual({ sub: 'user-2', role: 'user' });
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
    expect(await auth.verify(token)).toBeNull();
  });

  it('re-verifies once the cache lifetime is over, and never caches a refused token', async () => {
    let now = 1_000_000;
    let current = SECRET_A;
    const auth = createSessionAuth({ issuer: TEST_ISSUER, audience: TEST_AUDIENCE, secret: { current: () => current }, cacheTtlMs: 1000, now: () => now });
    const forged = await signSession('user-3', SECRET_B);
    expect(await auth.verify(forged)).toBeNull();
    current = SECRET_B;
    expect(await auth.verify(forged)).toEqual({ sub: 'user-3', role: 'user' }); // the refusal was not remembered
    const wrongAudience = await signSession('user-3', SECRET_B, { audience: 'elsewhere' });
    expect(await auth.verify(wrongAudience)).toBeNull();
    now += 1001;
    expect(await auth.verify(forged)).toEqual({ sub: 'user-3', role: 'user' });
  });
});
