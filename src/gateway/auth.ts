// Session tokens: where a request carries one, how it is verified (HS256 dev secret or the auth service's JWKS),
// and the dev issuer's signing. The tier is never read from a token.
import { createHash, webcrypto } from 'node:crypto';
import { SignJWT, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { SESSION_COOKIE, type SessionClaims } from '../contracts/index.js';

/** Anything with `current()`: the rotating SESSION_JWT_SECRET provider. */
export interface SecretSource {
  current(): string;
}

export interface SessionAuthOptions {
  issuer: string;
  audience: string;
  /** HS256 key (dev issuer); used when no jwksUrl is set. */
  secret?: SecretSource | undefined;
  /** The auth service's JWKS (production). */
  jwksUrl?: string | undefined;
  /**
   * How long after one JWKS fetch a token with an unknown `kid` may trigger the next (jose's default, 30 s, bounds
   * what forged kids can cost the auth service). A rotated key is picked up at most this long after its first use.
   */
  jwksCooldownMs?: number;
  /** Verified tokens remembered at most (default 20,000; 0 turns the cache off). */
  cacheSize?: number;
  /** How long a verified token is remembered at most, within its own expiry (default 60 s). */
  cacheTtlMs?: number;
  /** Clock for the cache (tests). */
  now?: () => number;
}

export interface SessionAuth {
  /** Verified claims, or null for a missing, forged, expired or foreign token (never throws). */
  verify(token: string): Promise<SessionClaims | null>;
  /** Whether this gateway can sign dev tokens (it has the HS256 secret). */
  readonly canSign: boolean;
  /** Signs a dev session token (HS256, same issuer and audience). */
  sign(claims: SessionClaims, expiresInSeconds: number): Promise<string>;
}

const encoder = new TextEncoder();

export function createSessionAuth(opts: SessionAuthOptions): SessionAuth {
  const jwks: JWTVerifyGetKey | undefined = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl), { cooldownDuration: opts.jwksCooldownMs ?? 30_000, timeoutDuration: 5000 }) : undefined;
  const secret = opts.secret;
  const verifyOpts = { issuer: opts.issuer, audience: opts.audience };
  const cache = new VerifiedTokens(opts.cacheSize ?? 20_000, opts.cacheTtlMs ?? 60_000, opts.now ?? Date.now);
  // What the current HS256 secret value gives, derived once per value (a rotation derives anew): its digest, which keys
  // the cache (entries must not each hold the secret), and its imported key — given raw bytes, jose imports a CryptoKey
  // on every verify (a key object and promises per token), and a connect storm of distinct users verifies thousands.
  let current: { secret: string; epoch: string; key: Promise<webcrypto.CryptoKey> } | undefined;
  const derived = (value: string) => {
    if (current?.secret !== value) {
      const key = webcrypto.subtle.importKey('raw', encoder.encode(value), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      const entry = { secret: value, epoch: digest(value), key };
      current = entry;
      key.catch(() => {
        if (current === entry) current = undefined; // not kept: the next verify imports again
      });
    }
    return current;
  };

  async function verifyRaw(token: string) {
    if (jwks) return jwtVerify(token, jwks, { ...verifyOpts, algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] });
    if (secret) return jwtVerify(token, await derived(secret.current()).key, { ...verifyOpts, algorithms: ['HS256'] });
    throw new Error('no session key configured');
  }

  return {
    canSign: secret !== undefined,
    async verify(token) {
      if (token.length === 0 || token.length > 8192) return null;
      // A rotated HS256 secret must stop accepting what only the old one signed: the cache is keyed by the secret too.
      const keyEpoch = secret && !jwks ? derived(secret.current()).epoch : '';
      const tokenDigest = digest(token); // once: a miss reads and then fills the cache under the same key
      const known = cache.get(tokenDigest, keyEpoch);
      if (known) return known;
      try {
        const { payload } = await verifyRaw(token);
        if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 200) return null;
        const claims: SessionClaims = { sub: payload.sub, role: payload.role === 'operator' ? 'operator' : 'user' };
        cache.set(tokenDigest, keyEpoch, claims, typeof payload.exp === 'number' ? payload.exp * 1000 : undefined);
        return claims;
      } catch {
        return null;
      }
    },
    async sign(claims, expiresInSeconds) {
      if (!secret) throw new Error('no SESSION_JWT_SECRET: cannot sign dev tokens');
      return new SignJWT({ role: claims.role ?? 'user' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.sub)
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setIssuedAt()
        .setExpirationTime(`${expiresInSeconds}s`)
        .sign(encoder.encode(secret.current()));
    },
  };
}

const digest = (token: string): string => createHash('sha256').update(token).digest('base64');

/**
 * Tokens already verified, so a client sending one token with every request (or thousands of sockets reconnecting
 * at once) costs one signature check per token, not one per request. Only verified tokens enter; an entry ends at
 * the token's own `exp` or after `ttlMs`, whichever is first; the oldest entries go when it is full. Entries are keyed
 * by the token's SHA-256, not the token: the cache then holds no bearer credential (a heap dump shows none), and 44
 * characters instead of ~300 per user.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { claims: SessionClaims; keyEpoch: string; until: number }>();

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** `tokenDigest`: the token's `digest`. */
  get(tokenDigest: string, keyEpoch: string): SessionClaims | null {
    if (this.max <= 0) return null;
    const e = this.entries.get(tokenDigest);
    if (!e) return null;
    if (e.keyEpoch !== keyEpoch || this.now() >= e.until) {
      this.entries.delete(tokenDigest);
      return null;
    }
    return e.claims;
  }

  set(tokenDigest: string, keyEpoch: string, claims: SessionClaims, expiresAt: number | undefined): void {
    if (this.max <= 0) return;
    const until = Math.min(this.now() + this.ttlMs, expiresAt ?? Infinity);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(tokenDigest, { claims, keyEpoch, until });
  }
}

/**
 * The session token of a request, in order of preference: `Authorization: Bearer`, the `raxx_session` cookie, the
 * `access_token` query parameter (browsers cannot set headers on a WebSocket). Empty string when none.
 */
export function extractToken(parts: { authorization: string; cookie: string; accessToken: string }): string {
  const bearer = /^Bearer\s+(\S+)$/i.exec(parts.authorization.trim());
  if (bearer) return bearer[1]!;
  const fromCookie = readCookie(parts.cookie, SESSION_COOKIE);
  if (fromCookie) return fromCookie;
  return parts.accessToken;
}

export function readCookie(header: string, name: string): string {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return '';
}

/** Set-Cookie value for a session token (HttpOnly; the browser sends it on the WebSocket upgrade). */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Lax; Path=/; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}
