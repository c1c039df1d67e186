// The trade_updates follower against the real simulator's /stream: one user's order events in order, revocation ends
// it without redialling, a dropped connection is redialled with backoff (through a real TCP proxy we can cut), close().
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlpacaBroker, followTradeUpdates, type TradeUpdate, type TradeUpdatesFollower, type TradeUpdatesState } from '../../../src/infra/broker/index.js';
import { revokeSimToken, simOAuthToken } from '../../support/sim-oauth-token.js';
import { startTestSimulator } from '../../support/simulator.js';
import { sleep, waitFor } from '../../support/wait.js';

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
const tokens: string[] = [];
const followers: TradeUpdatesFollower[] = [];
const proxies: Proxy[] = [];
/** Every state detail and malformed-frame detail any follower reported: none may hold a token. */
const details: string[] = [];

beforeAll(async () => {
  sim = await startTestSimulator({ SIM_OAUTH_AUTO_APPROVE: '1', SIM_HALT_PROBABILITY: '0', SIM_SYMBOLS: '50' });
});
afterAll(async () => {
  await Promise.allSettled(followers.map((f) => f.close()));
  await Promise.allSettled(proxies.map((p) => p.close()));
  await sim?.close();
});

/** A loopback TCP proxy to the simulator that counts connection attempts and can cut or refuse them. */
interface Proxy {
  url: string;
  attempts: number;
  refusing: boolean;
  dropAll(): void;
  close(): Promise<void>;
}

async function startProxy(): Promise<Proxy> {
  const target = new URL(sim.url);
  const open = new Set<Socket>();
  const proxy: Proxy = {
    url: '',
    attempts: 0,
    refusing: false,
    dropAll: () => {
      for (const s of open) s.destroy();
      open.clear();
    },
    close: () => {
      proxy.dropAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((client) => {
    proxy.attempts += 1;
    if (proxy.refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        open.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/stream`;
  proxies.push(proxy);
  return proxy;
}

async function newToken(): Promise<string> {
  const t = await simOAuthToken(sim.url);
  tokens.push(t);
  return t;
}

function follow(url: string, token: string, reconnectMs = 1_000) {
  const states: TradeUpdatesState[] = [];
  const updates: TradeUpdate[] = [];
  const follower = followTradeUpdates({
    url,
    token,
    reconnectMs,
    onUpdate: (u) => updates.push(u),
    onState: (s, d) => {
      states.push(s);
      if (d) details.push(d);
    },
    onMalformed: (d) => details.push(d),
  });
  followers.push(follower);
  return { follower, states, updates };
}

const broker = () => createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 5_000 });

async function buy(token: string, qty = '3'): Promise<string> {
  const cid = `raxx-${randomUUID()}`;
  await broker().submitOrder(token, { symbol: 'AAPL', side: 'buy', qty, type: 'market', time_in_force: 'day', client_order_id: cid });
  return cid;
}

/** Canary: no state or malformed-frame detail reported so far holds a token. */
function noTokenInDetails(): void {
  expect(details.length).toBeGreaterThan(0);
  for (const d of details) for (const t of tokens) expect(d.includes(t), 'a token leaked into a detail').toBe(false);
}

const eventsOf = (updates: TradeUpdate[], cid: string) => updates.filter((u) => u.order.client_order_id === cid).map((u) => u.event);

describe('trade_updates follower (real simulator)', () => {
  it("delivers one user's order events in order (new, then fill with its execution) and nobody else's", async () => {
    const token = await newToken();
    const otherToken = await newToken();
    const { follower, states, updates } = follow(`${sim.ws}/stream`, token);
    expect(follower.state).toBe('connecting');
    await waitFor(() => follower.state === 'authorized', 10_000, 'the subscription');

    // Wait for a quote so the market order fills at once rather than resting.
    await waitFor(async () => {
      const res = await fetch(`${sim.url}/v2/stocks/AAPL/quotes/latest`, { headers: { authorization: `Bearer ${token}` } });
      return (((await res.json()) as { quote?: { ap?: number } | null }).quote?.ap ?? 0) > 0;
    }, 10_000, 'an AAPL quote');
    const theirs = await buy(otherToken, '1');
    const cid = await buy(token);
    await waitFor(() => eventsOf(updates, cid).includes('fill'), 10_000, 'the fill');

    expect(eventsOf(updates, cid)).toEqual(['new', 'fill']);
    const fill = updates.find((u) => u.order.client_order_id === cid && u.event === 'fill');
    expect(fill).toMatchObject({ qty: '3', position_qty: '3', order: { status: 'filled', filled_qty: '3', symbol: 'AAPL' } });
    expect(Number(fill?.price)).toBeGreaterThan(0);
    expect(fill?.execution_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(fill?.timestamp ?? ''))).toBe(false);
    expect(eventsOf(updates, theirs)).toEqual([]);

    await follower.close();
    expect(follower.state).toBe('closed');
    expect(states.at(-1)).toBe('closed');
    expect(states.filter((s) => s === 'authorized')).toHaveLength(1);
    noTokenInDetails();
  });

  it('a revoked token ends it as unauthorized and it does not redial', async () => {
    const token = await newToken();
    const proxy = await startProxy();
    const { follower, states } = follow(proxy.url, token, 20);
    await waitFor(() => follower.state === 'authorized', 10_000, 'the subscription');
    expect(await revokeSimToken(sim.url, token)).toBe(1);
    await waitFor(() => follower.state === 'unauthorized', 10_000, 'unauthorized');

    const seen = states.length;
    await sleep(1_000); // with a 20 ms base delay a redial loop would show here many times over
    expect(states.length).toBe(seen);
    expect(proxy.attempts).toBe(1);
    await follower.close();
    expect(follower.state).toBe('closed');

    // A token that is refused from the start: one attempt, then unauthorized for good.
    const canary = `raxx-canary-token-${randomUUID()}`;
    tokens.push(canary);
    const bad = follow(proxy.url, canary, 20);
    await waitFor(() => bad.follower.state === 'unauthorized', 10_000, 'unauthorized');
    await sleep(500);
    expect(proxy.attempts).toBe(2);
    expect(bad.states).toEqual(['connecting', 'unauthorized']);
    noTokenInDetails();
  });

  it('redials with growing delays after a drop, then keeps following', async () => {
    const token = await newToken();
    const proxy = await startProxy();
    const { follower, states, updates } = follow(proxy.url, token, 50);
    await waitFor(() => follower.state === 'authorized', 10_000, 'the subscription');

    proxy.refusing = true;
    proxy.dropAll();
    await waitFor(() => follower.state === 'connecting', 5_000, 'the drop to be noticed');
    const before = proxy.attempts;
    await sleep(1_500);
    // 50, 100, 200, 400, 800 ms (±20 %): about five redials in 1.5 s; a loop without backoff would make hundreds.
    const redials = proxy.attempts - before;
    expect(redials).toBeGreaterThanOrEqual(2);
    expect(redials).toBeLessThanOrEqual(8);

    proxy.refusing = false;
    await waitFor(() => follower.state === 'authorized', 15_000, 'the re-subscription');
    expect(states.filter((s) => s === 'authorized')).toHaveLength(2);
    const cid = await buy(token, '1');
    await waitFor(() => eventsOf(updates, cid).includes('fill'), 10_000, 'the fill after the redial');
    expect(eventsOf(updates, cid)).toEqual(['new', 'fill']);
    noTokenInDetails();
  });

  it('close() during a backoff wait stops it: no further dial', async () => {
    const token = await newToken();
    const proxy = await startProxy();
    proxy.refusing = true;
    const { follower, states } = follow(proxy.url, token, 100);
    await waitFor(() => proxy.attempts >= 2, 5_000, 'a redial');
    await follower.close();
    const attempts = proxy.attempts;
    await sleep(800);
    expect(proxy.attempts).toBe(attempts);
    expect(follower.state).toBe('closed');
    expect(states.at(-1)).toBe('closed');
    await follower.close(); // idempotent
    noTokenInDetails();
  });

});
