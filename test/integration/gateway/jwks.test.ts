// Session tokens verified against the auth service's JWKS (SESSION_JWKS_URL), through a real uWS upgrade: a local JWKS
// HTTP server with keys made by jose, accepted and refused tokens (401 before any socket), and a key rotation.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createSessionAuth, TierDirectory, type Gateway } from '../../../src/gateway/index.js';
import { createDb, seedDemoUsers, type DbHandle } from '../../../src/infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { signSession, startTestGateway, tryUpgrade, TEST_AUDIENCE } from '../../support/gateway.js';
import { waitFor } from '../../support/wait.js';

const ISSUER = 'https://auth.raxx.test/';
const ORIGIN = 'http://127.0.0.1';
const COOLDOWN_MS = 300;

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

let t: TestDatabase;
let app: DbHandle;
let gateway: Gateway;
let wsUrl: string;
let jwksServer: Server;
let jwksUrl: string;
/** What the JWKS endpoint serves right now. */
let published: Key[] = [];
let fetches = 0;

async function makeKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

function sign(key: Key, opts: { sub?: string; kid?: string; issuer?: string; audience?: string; exp?: number | string } = {}): Promise<string> {
  return new SignJWT({ role: 'user' })
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? key.kid })
    .setSubject(opts.sub ?? 'demo-pro')
    .setIssuer(opts.issuer ?? ISSUER)
    .setAudience(opts.audience ?? TEST_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '10m')
    .sign(key.privateKey);
}

const upgrade = async (token: string) => tryUpgrade(wsUrl, { Origin: ORIGIN, Authorization: `Bearer ${token}` });
const refused = { status: 401, body: { code: 'unauthorized', message: expect.any(String) } };

let k1: Key;

beforeAll(async () => {
  t = await createTestDatabase('raxx_jwks');
  app = createDb(t.appUrl, { max: 2 });
  await seedDemoUsers(app.db);

  k1 = await makeKey('k1');
  published = [k1];
  jwksServer = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
  });
  await new Promise<void>((res) => jwksServer.listen(0, '127.0.0.1', () => res()));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;

  const auth = createSessionAuth({ issuer: ISSUER, audience: TEST_AUDIENCE, jwksUrl, jwksCooldownMs: COOLDOWN_MS });
  expect(auth.canSign).toBe(false);
  ({ gateway, wsUrl } = await startTestGateway({ auth, directory: new TierDirectory(app.db, { cacheMs: 60_000 }), options: { allowedOrigins: [ORIGIN] } }));
});

afterAll(async () => {
  await gateway?.close();
  if (jwksServer?.listening) await new Promise<void>((res) => jwksServer.close(() => res()));
  await app?.close();
  await t?.drop();
});

describe('session tokens from a JWKS (SESSION_JWKS_URL)', () => {
  it('accepts a token signed by the published key (one JWKS fetch, then cached)', async () => {
    expect(await upgrade(await sign(k1))).toEqual({ status: 101, body: null });
    expect(await upgrade(await sign(k1, { sub: 'demo-free' }))).toEqual({ status: 101, body: null });
    expect(fetches).toBe(1);
  });

  it('refuses with 401 before the upgrade: another key, wrong aud, wrong iss, expired, HS256, unsigned', async () => {
    const other = await makeKey('k1'); // same kid, different key: a forgery
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const cases: Array<[string, string]> = [
      ['another key with the published kid', await sign(other)],
      ['another key with an unknown kid', await sign(other, { kid: 'nope' })],
      ['a wrong audience', await sign(k1, { audience: 'someone-else' })],
      ['a wrong issuer', await sign(k1, { issuer: 'https://evil.example/' })],
      ['an expired token', await sign(k1, { exp: Math.floor(Date.now() / 1000) - 60 })],
      ['an HS256 token (a dev-issuer token is not accepted where a JWKS is configured)', await signSession('demo-pro', 'any-secret-at-all-0123456789abcdef', { issuer: ISSUER })],
      ['an unsigned token', `${part({ alg: 'none', kid: 'k1' })}.${part({ sub: 'demo-pro', iss: ISSUER, aud: TEST_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })}.`],
    ];
    for (const [what, token] of cases) expect(await upgrade(token), what).toEqual(refused);
    // …and the good key still works.
    expect((await upgrade(await sign(k1))).status).toBe(101);
  });

  it('picks up a rotated key (new kid) by fetching the JWKS again', async () => {
    const k2 = await makeKey('k2');
    const before = fetches;
    published = [k1, k2];
    const token = await sign(k2);
    // The first unknown kid refetches unless the last fetch was within the cooldown; then it is accepted.
    await waitFor(async () => (await upgrade(token)).status === 101, 5000, 'the rotated key to be accepted');
    expect(fetches).toBeGreaterThan(before);

    // The old key retired from the JWKS; a token with a third, unpublished kid is refused after a fresh fetch.
    published = [k2];
    const k3 = await makeKey('k3');
    await new Promise((r) => setTimeout(r, COOLDOWN_MS + 50));
    const beforeK3 = fetches;
    expect(await upgrade(await sign(k3))).toEqual(refused);
    expect(fetches).toBe(beforeK3 + 1);
    expect((await upgrade(await sign(k2))).status).toBe(101);
  });

  it('an unreachable JWKS refuses tokens it cannot check (401, not 5xx) and the gateway keeps serving', async () => {
    const k2 = published[0]!;
    await new Promise<void>((res) => jwksServer.close(() => res()));
    await new Promise((r) => setTimeout(r, COOLDOWN_MS + 50));
    const k4 = await makeKey('k4');
    expect(await upgrade(await sign(k4))).toEqual(refused);
    // Keys fetched before the outage still verify.
    expect((await upgrade(await sign(k2))).status).toBe(101);
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
  });
});
