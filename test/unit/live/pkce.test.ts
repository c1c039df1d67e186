// PKCE S256 (RFC 7636) and the OAuth error types' promise never to carry a secret in their messages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OAuthConnect, OAuthExchangeError, OAuthStateError } from '../../../src/infra/alpaca/index.js';
import { LIVE_ERROR_CODES } from '../../../src/contracts/live.js';

// RFC 7636 §4.1: the verifier alphabet.
const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';

describe('OAuthConnect.pkceChallenge', () => {
  it('matches the RFC 7636 Appendix B vector', () => {
    expect(OAuthConnect.pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('is 43 base64url characters without padding for any verifier of 43–128 unreserved characters, and differs per verifier', () => {
    const verifier = fc.string({ unit: fc.constantFrom(...UNRESERVED), minLength: 43, maxLength: 128 });
    fc.assert(
      fc.property(verifier, verifier, (a, b) => {
        const ca = OAuthConnect.pkceChallenge(a);
        expect(ca).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(ca === OAuthConnect.pkceChallenge(b)).toBe(a === b);
      }),
    );
  });
});

describe('OAuth error types', () => {
  it('use the stable live error codes', () => {
    const codes: readonly string[] = LIVE_ERROR_CODES;
    expect(codes).toContain(new OAuthStateError('x').code);
    expect(new OAuthStateError('x').code).toBe('oauth_state_invalid');
    expect(new OAuthExchangeError('x', { asError: 'access_denied' }).code).toBe('oauth_exchange_failed');
    const reauth = new OAuthExchangeError('x', { asError: 'invalid_grant', needsReauth: true });
    expect(reauth).toMatchObject({ code: 'needs_reauth', needsReauth: true, retryable: false });
    expect(codes).toContain(reauth.code);
  });

  it('keep only a short snake_case AS error name, so a hostile AS cannot put a code or token into our messages', () => {
    const canary = 'tok-CANARY-1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f';
    for (const asError of [canary, `invalid_grant ${canary}`, 'x'.repeat(65), 'Invalid_Grant', '', 'access_denied\n']) {
      const e = new OAuthExchangeError('the token endpoint refused the code', { asError, status: 400 });
      expect({ asError, kept: e.asError }).toEqual({ asError, kept: 'unrecognized_error' });
      expect(e.message).not.toContain(canary);
    }
    const ok = new OAuthExchangeError('the token endpoint refused the code', { asError: 'invalid_grant', status: 400 });
    expect(ok.message).toBe('the token endpoint refused the code: invalid_grant (HTTP 400)');
  });
});
