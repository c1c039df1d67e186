// Session tokens for the seeded users: HS256 with the secret the bench gives its gateway, as the product's identity
// service would issue them (6 h: longer than any run).
import { createSessionAuth } from '../../src/gateway/auth.js';

export async function signSessionTokens(ids: readonly string[], o: { secret: string; issuer: string; audience: string }): Promise<Array<{ id: string; token: string }>> {
  const auth = createSessionAuth({ issuer: o.issuer, audience: o.audience, secret: { current: () => o.secret } });
  return Promise.all(ids.map(async (id) => ({ id, token: await auth.sign({ sub: id, role: 'user' }, 6 * 3600) })));
}
