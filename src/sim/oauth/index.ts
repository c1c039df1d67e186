// The simulated Alpaca Connect OAuth server.
export { createOAuthServer, type OAuthClient, type OAuthServer, type OAuthServerOptions, type TokenInfo } from './oauth-server.js';
