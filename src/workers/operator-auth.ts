// Who may call the workers' /ops endpoints: the same two checks as the gateway's /ops (docs/operations.md) — a valid
// session token whose claims say `role: operator`, and users.role = 'operator' read fresh from PostgreSQL.
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type postgres from 'postgres';

export interface OperatorAuthOptions {
  issuer: string;
  audience: string;
  /** HS256 key (dev issuer), read per request (the file rotates); used when no jwksUrl is set. */
  secret?: { current(): string } | undefined;
  jwksUrl?: string | undefined;
  /** PostgreSQL (batch role): users.role. */
  sql: postgres.Sql;
}

export type OperatorCheck =
  | { ok: true; operatorId: string }
  | { ok: false; status: 401; reason: string }
  | { ok: false; status: 403; userId: string; tokenRole: string; userRole: string | null };

export interface OperatorAuth {
  check(token: string): Promise<OperatorCheck>;
}

const encoder = new TextEncoder();

export function createOperatorAuth(opts: OperatorAuthOptions): OperatorAuth {
  const jwks: JWTVerifyGetKey | undefined = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl)) : undefined;
  const verifyOpts = { issuer: opts.issuer, audience: opts.audience };

  async function claims(token: string): Promise<{ sub: string; role: string } | null> {
    if (token.length === 0 || token.length > 8192) return null;
    try {
      const { payload } = jwks
        ? await jwtVerify(token, jwks, { ...verifyOpts, algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] })
        : opts.secret
          ? await jwtVerify(token, encoder.encode(opts.secret.current()), { ...verifyOpts, algorithms: ['HS256'] })
          : { payload: {} as Record<string, unknown> };
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 200) return null;
      return { sub: payload.sub, role: payload.role === 'operator' ? 'operator' : 'user' };
    } catch {
      return null;
    }
  }

  return {
    async check(token) {
      if (token === '') return { ok: false, status: 401, reason: 'a session token is required' };
      const c = await claims(token);
      if (!c) return { ok: false, status: 401, reason: 'the session token is invalid or expired' };
      const [row] = await opts.sql<{ role: string }[]>`select role from users where id = ${c.sub}`;
      if (c.role !== 'operator' || row?.role !== 'operator') return { ok: false, status: 403, userId: c.sub, tokenRole: c.role, userRole: row?.role ?? null };
      return { ok: true, operatorId: c.sub };
    },
  };
}

/** `Authorization: Bearer <token>`, else the session cookie's value, else ''. */
export function requestToken(authorization: string | undefined, cookie: string | undefined, cookieName: string): string {
  const bearer = /^Bearer\s+(\S+)$/i.exec((authorization ?? '').trim());
  if (bearer) return bearer[1]!;
  for (const part of (cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === cookieName) return part.slice(eq + 1).trim();
  }
  return '';
}
