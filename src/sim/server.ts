// Composes the simulator: one HTTP/WebSocket port for everything Alpaca, one for KMS, and a loopback-only control API.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMarketClock } from './clock/index.js';
import type { SimConfig } from './config.js';
import { createMarketDataRest } from './data-rest/index.js';
import { sendJson, isLoopbackAddress, type RouteHandler } from './http/util.js';
import { createKmsServer } from './kms/index.js';
import { createMarket } from './market/index.js';
import { createOAuthServer } from './oauth/index.js';
import { createMarketDataStream } from './stream/index.js';
import { createTradingApi } from './trading/index.js';
import type { SimLog } from './log.js';

export interface RunningSimulator {
  /** Alpaca REST, OAuth, the market-data stream (ws://…/v2/{feed}) and the trade_updates stream (ws://…/stream). */
  url: string;
  /** The KMS-compatible endpoint (AWS JSON 1.1). */
  kmsUrl: string;
  close(): Promise<void>;
}

export async function startSimulator(config: SimConfig, log: SimLog): Promise<RunningSimulator> {
  const clock = createMarketClock({ mode: config.SIM_CLOCK, offsetMs: config.CLOCK_OFFSET_MS });
  const market = createMarket(clock, {
    seed: config.SIM_SEED,
    symbols: config.SIM_SYMBOLS,
    ratePerSecond: config.SIM_RATE,
    batchMs: config.SIM_BATCH_MS,
    haltProbability: config.SIM_HALT_PROBABILITY,
    replayFile: config.SIM_REPLAY_FILE,
    replaySpeed: config.SIM_REPLAY_SPEED,
    replayLoop: config.SIM_REPLAY_LOOP,
  });
  const oauth = createOAuthServer({
    clients: config.oauthClients,
    autoApprove: config.SIM_OAUTH_AUTO_APPROVE,
    requirePkce: config.SIM_OAUTH_PKCE,
    refreshTokens: config.SIM_OAUTH_REFRESH_TOKENS,
    codeTtlMs: config.SIM_OAUTH_CODE_TTL_MS,
    accessTokenTtlMs: config.SIM_OAUTH_TOKEN_TTL_MS,
    now: () => clock.now().getTime(),
  });
  const validToken = (token: string) => oauth.validateToken(token) !== undefined;
  const stream = createMarketDataStream({
    market,
    clock,
    keys: config.keys,
    validateOAuthToken: validToken,
    authTimeoutMs: config.SIM_AUTH_TIMEOUT_MS,
    pingIntervalMs: config.SIM_PING_INTERVAL_MS,
    pongTimeoutMs: config.SIM_PONG_TIMEOUT_MS,
    maxBufferedBytes: config.SIM_SLOW_CLIENT_BYTES,
  });
  const trading = createTradingApi({
    market,
    clock,
    keys: config.keys.map(({ keyId, secret }) => ({ keyId, secret })),
    oauth,
    account: { cash: config.SIM_STARTING_CASH },
    liquidity: config.SIM_LIQUIDITY,
    rateLimit: config.SIM_RATE_LIMIT_PER_MIN === 0 ? false : { limit: config.SIM_RATE_LIMIT_PER_MIN, windowMs: 60_000 },
  });
  const dataRest = createMarketDataRest({ market, clock, keys: config.keys, validateToken: validToken, seed: config.SIM_SEED });
  const kms = createKmsServer({
    credentials: [{ accessKeyId: config.SIM_KMS_ACCESS_KEY_ID, secretAccessKey: config.SIM_KMS_SECRET_ACCESS_KEY }],
    region: config.SIM_KMS_REGION,
    ...(config.SIM_DATA_DIR ? { dataDir: config.SIM_DATA_DIR } : {}),
    now: () => clock.now(),
  });

  const controls: RouteHandler[] = [stream.control, trading.control, oauth.control, kms.control];
  const routes: RouteHandler[] = [oauth.handle, dataRest.handle, trading.handle];

  const api = createServer((req, res) => {
    void serve(req, res).catch((err: unknown) => {
      log('error', 'request failed', { path: (req.url ?? '').split('?')[0], error: err instanceof Error ? err.name : 'unknown' });
      if (!res.headersSent) sendJson(res, 500, { code: 50010000, message: 'internal server error' });
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.local');
    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok', role: 'sim' });
    if (url.pathname === '/readyz') return sendJson(res, 200, { status: 'ready', role: 'sim', checks: {} });
    if (url.pathname.startsWith('/_control/')) {
      // Faults can break every client: only this machine may set them, whatever interface we listen on.
      if (!isLoopbackAddress(req.socket.remoteAddress)) return sendJson(res, 403, { message: 'control endpoint is loopback only' });
      for (const control of controls) if (await control(req, res, url)) return;
      if (url.pathname === '/_control/clock') return sendJson(res, 200, { now: clock.now().toISOString(), is_open: clock.isOpen() });
      return sendJson(res, 404, { message: 'unknown control route' });
    }
    for (const route of routes) if (await route(req, res, url)) return;
    sendJson(res, 404, { code: 40410000, message: 'endpoint not found' });
  }

  api.on('upgrade', (req, socket, head) => {
    if (stream.handleUpgrade(req, socket, head)) return;
    if (trading.handleUpgrade(req, socket, head)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  api.on('clientError', (_err, socket) => socket.destroy());

  const kmsServer = createServer((req, res) => void kms.handle(req, res));

  await Promise.all([listen(api, config.PORT, config.HOST), listen(kmsServer, config.SIM_KMS_PORT, config.HOST)]);
  market.start();

  let closing: Promise<void> | undefined;
  return {
    url: `http://${config.HOST}:${(api.address() as AddressInfo).port}`,
    kmsUrl: `http://${config.HOST}:${(kmsServer.address() as AddressInfo).port}`,
    close: () =>
      (closing ??= (async () => {
        market.stop();
        // Every step runs even if one fails: a half-closed simulator must not keep ports.
        await Promise.allSettled([stream.close(), trading.close(), kms.close()]);
        await Promise.allSettled([closeServer(api), closeServer(kmsServer)]);
      })()),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
