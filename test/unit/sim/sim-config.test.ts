// Simulator settings: defaults, key and OAuth client lists, and errors naming the variable.
import { loadConfig } from '../../../src/config/index.js';
import { describe, expect, it } from 'vitest';
import { loadSimConfig, SimConfigError } from '../../../src/sim/config.js';

describe('loadSimConfig', () => {
  it('has dev defaults that match the app defaults', () => {
    const c = loadSimConfig({});
    expect(c.PORT).toBe(8710);
    expect(c.SIM_KMS_PORT).toBe(8711);
    expect(c.SIM_CLOCK).toBe('always-open');
    expect(c.keys).toEqual([{ keyId: 'raxx-dev-key', secret: 'raxx-dev-secret', plan: 'algo_trader_plus' }]);
    // The app's own defaults (client id, redirect URI): `npm start` connects Alpaca with no configuration.
    const app = loadConfig({}).alpaca.oauth;
    expect(c.oauthClients).toEqual([{ clientId: app.clientId, clientSecret: 'raxx-dev-oauth-secret', redirectUris: [app.redirectUri] }]);
    expect(app.redirectUri).toBe('http://localhost:8720/live/oauth/callback');
  });

  it('parses several keys and clients with several redirect URIs', () => {
    const c = loadSimConfig({ SIM_KEYS: 'a:b:basic, c:d', SIM_OAUTH_CLIENTS: 'app:s3cr3t:http://x/cb|https://y/cb' });
    expect(c.keys).toEqual([
      { keyId: 'a', secret: 'b', plan: 'basic' },
      { keyId: 'c', secret: 'd', plan: 'algo_trader_plus' },
    ]);
    expect(c.oauthClients[0]!.redirectUris).toEqual(['http://x/cb', 'https://y/cb']);
  });

  it.each([
    ['SIM_KEYS', 'nosecret'],
    ['SIM_KEYS', 'a:b:platinum'],
    ['SIM_OAUTH_CLIENTS', 'app-without-secret'],
    ['SIM_CLOCK', 'lunar'],
    ['PORT', '-1'],
    ['SIM_HALT_PROBABILITY', '2'],
  ])('rejects %s=%j naming the variable', (name, value) => {
    try {
      loadSimConfig({ [name]: value });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SimConfigError);
      expect((err as SimConfigError).variable).toBe(name);
    }
  });
});
