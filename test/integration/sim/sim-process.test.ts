// The simulator as one process (role `sim`): official Alpaca and AWS SDKs against it, market-data REST with paging, control API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Alpaca } from '@alpacahq/alpaca-trade-api';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { startRoleProcess, type RoleProcess } from '../../support/processes.js';

const KEY = { keyId: 'sim-test-key', secret: 'sim-test-secret' };
let sim: RoleProcess;
let base: string;
let kmsUrl: string;

beforeAll(async () => {
  sim = startRoleProcess('sim', {
    SIM_KMS_PORT: '0',
    SIM_CLOCK: 'always-open',
    SIM_RATE: '3000',
    SIM_SEED: '7',
    SIM_KEYS: `${KEY.keyId}:${KEY.secret}:algo_trader_plus`,
  });
  const ready = await sim.ready;
  base = ready.url;
  const line = sim.lines.find((l) => l.includes('"ready":true'))!;
  kmsUrl = (JSON.parse(line) as { kmsUrl: string }).kmsUrl;
});
afterAll(async () => {
  await sim?.stop();
});

function sdk(): Alpaca {
  return new Alpaca({
    ...KEY,
    paper: true,
    retry: false,
    fetchApi: (url: string | URL | Request, init?: RequestInit) =>
      fetch(String(url).replace(/^https:\/\/(paper-api|api|data)\.alpaca\.markets/, base), init),
  } as ConstructorParameters<typeof Alpaca>[0]);
}

const headers = { 'APCA-API-KEY-ID': KEY.keyId, 'APCA-API-SECRET-KEY': KEY.secret };

describe('simulator process', () => {
  it('logs one ready line with its URLs and serves health', async () => {
    expect(sim.lines.filter((l) => l.includes('"ready":true'))).toHaveLength(1);
    expect(kmsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('streams quotes to the official SDK over msgpack', async () => {
    const alpaca = sdk();
    const stream = alpaca.marketData.stockStream({ url: `${base.replace('http', 'ws')}/v2/sip`, reconnect: false } as never) as unknown as {
      onConnect(cb: () => void): void;
      onStockQuote?: (cb: (q: { Symbol?: string; symbol?: string }) => void) => void;
      onQuote?: (cb: (q: unknown) => void) => void;
      subscribeForQuotes(symbols: string[]): void;
      connect(): void;
      disconnect(): void;
      on?(event: string, cb: (...a: unknown[]) => void): void;
    };
    const quotes: unknown[] = [];
    const got = new Promise<void>((resolve) => {
      const handler = (q: unknown) => {
        quotes.push(q);
        if (quotes.length >= 3) resolve();
      };
      if (stream.onQuote) stream.onQuote(handler);
      else stream.onStockQuote?.(handler);
    });
    stream.onConnect(() => stream.subscribeForQuotes(['AAPL', 'MSFT']));
    stream.connect();
    try {
      await got;
      expect(quotes.length).toBeGreaterThanOrEqual(3);
    } finally {
      stream.disconnect();
    }
  });

  it('pages minute bars with next_page_token until null, contiguous and without duplicates', async () => {
    const all: Array<{ t: string }> = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const q = new URLSearchParams({ symbols: 'AAPL,MSFT', timeframe: '1Min', start: '2026-11-20T15:00:00Z', end: '2026-11-20T16:39:59Z', limit: '37' });
      if (token) q.set('page_token', token);
      const res = await fetch(`${base}/v2/stocks/bars?${q}`, { headers });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { bars: Record<string, Array<{ t: string; o: number; c: number }>>; next_page_token: string | null };
      const count = Object.values(body.bars).reduce((n, b) => n + b.length, 0);
      expect(count).toBeLessThanOrEqual(37);
      for (const [sym, bars] of Object.entries(body.bars)) for (const b of bars) all.push({ t: `${sym}@${b.t}` });
      token = body.next_page_token;
      pages++;
    } while (token && pages < 50);
    expect(token).toBeNull();
    expect(pages).toBeGreaterThan(1);
    expect(new Set(all.map((b) => b.t)).size).toBe(all.length);
    expect(all.length).toBe(200); // 100 minutes × 2 symbols
    const again = await fetch(`${base}/v2/stocks/AAPL/bars?timeframe=1Min&start=2026-11-20T15:00:00Z&end=2026-11-20T15:09:59Z`, { headers });
    const single = (await again.json()) as { symbol: string; bars: Array<{ t: string }> };
    expect(single.symbol).toBe('AAPL');
    expect(single.bars.map((b) => b.t)).toEqual(all.filter((b) => b.t.startsWith('AAPL@')).slice(0, 10).map((b) => b.t.slice(5)));
  });

  it('collects bars through the official SDK across pages', async () => {
    const alpaca = sdk() as unknown as { marketData: { collectStockBarsBySymbol(req: object): Promise<Record<string, unknown[]>> } };
    const bars = await alpaca.marketData.collectStockBarsBySymbol({ symbols: ['SPY'], timeframe: '5Min', start: new Date('2026-11-19T14:30:00Z'), end: new Date('2026-11-19T20:59:59Z'), limit: 20 });
    expect(bars.SPY).toHaveLength(78); // 6.5 hours of 5-minute bars
  });

  it('serves latest quotes, snapshots and an option chain with greeks', async () => {
    const latest = (await (await fetch(`${base}/v2/stocks/quotes/latest?symbols=AAPL,NOPE`, { headers })).json()) as { quotes: Record<string, { ap: number; bp: number; t: string }> };
    expect(Object.keys(latest.quotes)).toEqual(['AAPL']);
    expect(latest.quotes.AAPL!.ap).toBeGreaterThan(latest.quotes.AAPL!.bp);
    expect(latest.quotes.AAPL!.t).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
    const snap = (await (await fetch(`${base}/v2/stocks/snapshots?symbols=MSFT`, { headers })).json()) as Record<string, Record<string, unknown>>;
    expect(Object.keys(snap.MSFT!).sort()).toEqual(['dailyBar', 'latestQuote', 'latestTrade', 'minuteBar', 'prevDailyBar']);
    const chain = (await (await fetch(`${base}/v1beta1/options/snapshots/SPY?type=call&limit=5`, { headers })).json()) as {
      snapshots: Record<string, { greeks: { delta: number }; impliedVolatility: number; latestQuote: { ap: number; bp: number } }>;
      next_page_token: string | null;
    };
    const contracts = Object.keys(chain.snapshots);
    expect(contracts).toHaveLength(5);
    for (const c of contracts) {
      expect(c).toMatch(/^SPY\d{6}C\d{8}$/);
      expect(chain.snapshots[c]!.greeks.delta).toBeGreaterThan(0);
      expect(chain.snapshots[c]!.latestQuote.ap).toBeGreaterThanOrEqual(chain.snapshots[c]!.latestQuote.bp);
    }
    expect(chain.next_page_token).toBe(contracts.at(-1));
  });

  it('rejects bad market-data requests with Alpaca-shaped errors', async () => {
    expect((await fetch(`${base}/v2/stocks/bars?symbols=AAPL&timeframe=1Min`)).status).toBe(401);
    const cases: Array<[string, number]> = [
      ['/v2/stocks/bars?symbols=AAPL', 400],
      ['/v2/stocks/bars?symbols=AAPL&timeframe=7Fortnight', 400],
      ['/v2/stocks/bars?symbols=AAPL&timeframe=1Min&limit=0', 400],
      ['/v2/stocks/bars?symbols=AAPL&timeframe=1Min&page_token=garbage!', 400],
      ['/v2/stocks/bars?symbols=aa$pl&timeframe=1Min', 400],
      ['/v2/stocks/ZZZZZZ/quotes/latest', 404],
      ['/v1beta1/options/snapshots/ZZZZ', 404],
    ];
    for (const [path, status] of cases) {
      const res = await fetch(`${base}${path}`, { headers });
      expect(res.status, path).toBe(status);
      expect(typeof ((await res.json()) as { message: unknown }).message, path).toBe('string');
    }
  });

  it('serves a KMS endpoint the real AWS SDK can use, enforcing the encryption context', async () => {
    const kms = new KMSClient({ endpoint: kmsUrl, region: 'us-east-1', credentials: { accessKeyId: 'RAXXSIMKMSACCESSKEY0', secretAccessKey: 'raxx-sim-kms-dev-secret-access-key-000000' }, maxAttempts: 1 });
    const context = { app: 'raxx-stream', purpose: 'alpaca-live-token', user_id: 'u1', connection_id: 'c1' };
    const key = await kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens', KeySpec: 'AES_256', EncryptionContext: context }));
    const plain = await kms.send(new DecryptCommand({ CiphertextBlob: key.CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(plain.Plaintext!).equals(Buffer.from(key.Plaintext!))).toBe(true);
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: key.CiphertextBlob, EncryptionContext: { ...context, user_id: 'u2' } }))).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    kms.destroy();
  });

  it('exposes the market clock on the trading API and the control API on loopback', async () => {
    const clock = (await (await fetch(`${base}/v2/clock`, { headers })).json()) as { is_open: boolean; next_close: string };
    expect(clock.is_open).toBe(true); // always-open mode
    const control = (await (await fetch(`${base}/_control/clock`)).json()) as { is_open: boolean };
    expect(control.is_open).toBe(true);
    expect((await fetch(`${base}/_control/nope`)).status).toBe(404);
  });
});
