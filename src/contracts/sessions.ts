// Session and user contracts shared by the gateway and whoever changes a user's tier.

/** Redis channel carrying a user id whose tier (or role) changed: gateways re-read it and swap that user's topics. */
export const TIER_CHANGED_CHANNEL = 'users:tier-changed';

/** Cookie a browser carries the session JWT in (HttpOnly). */
export const SESSION_COOKIE = 'raxx_session';

/** Fixed claims of a session token: `sub` is the user id; `role: 'operator'` marks operators. Tier is never trusted from the token. */
export interface SessionClaims {
  sub: string;
  role?: 'user' | 'operator';
}
