// Live quotes into the paper engine, real processes: simulator (NYSE calendar, the shared clock offset puts "now" in
// a regular session) → feed → Redis (DB 41) → accounts ×2. Orders are appended as commands; market orders fill on the
// next live quote (fill rows with quote seq and rule, trade_update events in the users' logs); a far limit keeps its
// symbol subscribed and in the feed's demand until canceled; SIGKILL of a replica while quotes flow → the survivor
// reloads the open orders of its new partitions and keeps filling; no duplicate fill, positions = Σ fills, cash to the cent.
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillId } from '../../src/actors/account/index.js';
import { marketDataKeys, userEventKeys, userEventSchema, type UserEvent } from '../../src/contracts/index.js';
import { readDemandUnion } from '../../src/infra/market-data/index.js';
import { closeRedis, createRedis, type Redis } from '../../src/infra/redis/index.js';
import { appendCommand, partitionOf, type Envelope } from '../../src/runtime/index.js';
import { startAccountsReplica, toCents, type AccountsReplica } from '../support/accounts.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { runTag, startLiveQuotes, type LiveQuotes } from '../support/live-quotes.js';
import { testRedisUrl } from '../support/redis.js';
import { waitFor } from '../support/wait.js';

const P = 8;
const USERS = 50;
const run = runTag();
const SYMBOLS = ['QA', 'QB', 'QC'].map((s) => `${s}${run}`);
const LIMIT_SYMBOL = `QL${run}`;
const users = Array.from({ length: USERS }, (_, i) => `mq-${run.toLowerCase()}-${String(i).padStart(3, '0')}`);
let tdb: TestDatabase;
let su: postgres.Sql;
let redis: Redis;
let market: LiveQuotes;
const replicas: AccountsReplica[] = [];

const cents = (c: number) => Number((c / 100).toFixed(2));

/** Quotes every 100 ms per symbol (bid 100 × ask 200), replayed in a loop and restamped by the simulator. */
function recording(): string {
  const lines: string[] = [];
  const base = Date.UTC(2026, 2, 4, 16, 0);
  [...SYMBOLS, LIMIT_SYMBOL].forEach((S, k) => {
    const px = 20 + 5 * k;
    for (let i = 0; i < 100; i++) {
      const t = new Date(base + i * 100 + k).toISOString().replace('Z', '000000Z');
      lines.push(JSON.stringify({ T: 'q', S, bx: 'V', bp: cents(px * 100 + (i % 10)), bs: 100, ax: 'Q', ap: cents(px * 100 + 2 + (i % 10)), as: 200, c: ['R'], z: 'C', t }));
    }
  });
  return lines.join('\n') + '\n';
}

// A short linger: the test checks that a canceled order's symbol leaves the demand.
const accountsEnv = () => market.accountsEnv({ ACCOUNTS_PARTITIONS: String(P), ACCOUNTS_LEASE_TTL_MS: '3000', PAPER_STARTING_CASH: '100000', ACCOUNTS_QUOTE_LINGER_MS: '500' });

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_mbt_quotes');
  su = postgres(tdb.ownerUrl, { max: 4, onnotice: () => {} });
  await su`insert into users (id) select unnest(${users}::text[])`;
  redis = createRedis(testRedisUrl('mbt-quotes'), 'mbt-quotes-e2e');
  await redis.flushdb();
  market = await startLiveQuotes({
    name: 'mbt-quotes',
    recording: recording(),
    redisUrl: testRedisUrl('mbt-quotes'),
    tdb,
    feedEnv: {
      // The market-order symbols are always wanted (their last-known-good quote prices a market buy at submit); the
      // limit's symbol is wanted only through the accounts replicas' demand.
      FEED_SYMBOLS: SYMBOLS.join(','),
      FEED_DEMAND_GRACE_MS: '1500',
      FEED_LEASE_TTL_MS: '1500',
      FEED_LEASE_RENEW_MS: '300',
    },
  });
  const [a, b] = await Promise.all([startAccountsReplica('A', accountsEnv()), startAccountsReplica('B', accountsEnv()), market.feed.ready]);
  replicas.push(a!, b!);
}, 90_000);

afterAll(async () => {
  for (const r of replicas) await r.stop('SIGKILL');
  await market?.close();
  await closeRedis(redis);
  await su?.end();
  await tdb?.drop();
});

const cmd = (userId: string, type: string, payload: unknown = {}): Envelope => ({ id: randomUUID(), userId, type, payload, issuedAt: new Date().toISOString() });
const submit = (userId: string, order: Record<string, unknown>) => {
  const id = randomUUID();
  return { id, env: cmd(userId, 'order.submit', { order: { id, client_order_id: randomUUID(), time_in_force: 'day', ...order } }) };
};
const appendAll = (envs: Envelope[]) => Promise.all(envs.map((e) => appendCommand(redis, e, P)));
const count = async (q: postgres.PendingQuery<postgres.Row[]>) => Number((await q)[0]!.n);
const subscribedUpstream = async (): Promise<string[]> => {
  const state = (await (await fetch(`${market.sim.url}/_control/stream/state`)).json()) as { connections: Array<{ subscription: { quotes: string[] } }> };
  return state.connections.flatMap((c) => c.subscription.quotes);
};
async function logOf(userId: string): Promise<UserEvent[]> {
  const entries = await redis.xrange(userEventKeys.log(userId), '-', '+');
  return entries.map(([, f]) => userEventSchema.parse(JSON.parse(f[f.indexOf('f') + 1]!)));
}

/** A round of market buys, one per user (but the limit's), over the market-order symbols; returns the order ids. */
function marketRound(round: number, except: string): { ids: string[]; envs: Envelope[] } {
  const orders = users.filter((u) => u !== except).map((u, i) => submit(u, { symbol: SYMBOLS[(i + round) % SYMBOLS.length], side: 'buy', type: 'market', qty: String(1 + (i % 5)) }));
  return { ids: orders.map((o) => o.id), envs: orders.map((o) => o.env) };
}
const quotesOf = async (r: AccountsReplica) => ((await (await fetch(`${r.url}/healthz`)).json()) as { quotes: { symbols: string[]; delivered: number } }).quotes;
const filledCount = (ids: string[]) => count(su`select count(*)::int as n from orders where id = any(${ids}::uuid[]) and status = 'filled'`);

describe('MBT on live quotes through the hub', () => {
  it('fills on the next live quote, keeps a far limit subscribed, survives a SIGKILL without duplicate fills; money reconciles', async () => {
    const [victim, survivor] = replicas as [AccountsReplica, AccountsReplica];
    await waitFor(async () => (await victim.health()).owned.length === P / 2 && (await survivor.health()).owned.length === P / 2, 20_000, 'partitions split between the replicas');
    const victimOwned = (await victim.health()).owned;
    await appendAll(users.map((u) => cmd(u, 'account.open')));
    await waitFor(async () => (await count(su`select count(*)::int as n from paper_accounts`)) === USERS, 30_000, 'accounts opened');

    // A limit far below the market: stays open, its symbol subscribed by the owning replica and in the feed's demand.
    // Its user lives on the replica killed below and sends nothing else: the survivor can only learn it from PostgreSQL.
    const limitUser = users.find((u) => victimOwned.includes(partitionOf(u, P)))!;
    const limit = submit(limitUser, { symbol: LIMIT_SYMBOL, side: 'buy', type: 'limit', qty: '10', limit_price: '1', time_in_force: 'gtc' });
    await appendAll([limit.env]);
    await waitFor(async () => (await readDemandUnion(redis)).has(LIMIT_SYMBOL), 15_000, 'the limit symbol in the demand');
    await waitFor(async () => (await subscribedUpstream()).includes(LIMIT_SYMBOL), 15_000, 'the feed subscribed upstream to the limit symbol');

    // Round 1: every user buys at market; each fills on a live quote.
    const r1 = marketRound(1, limitUser);
    await appendAll(r1.envs);
    await waitFor(async () => (await filledCount(r1.ids)) === USERS - 1, 30_000, 'round 1 filled');

    // Round 2 appended, then one replica SIGKILLed while quotes flow; the survivor takes its partitions over.
    const r2 = marketRound(2, limitUser);
    await appendAll(r2.envs);
    await victim.stop('SIGKILL');
    await waitFor(async () => (await survivor.health()).owned.length === P, 20_000, 'the survivor owns every partition');
    // The open limit, reloaded from PostgreSQL by the survivor (no command of its user reached it), is routed again.
    await waitFor(async () => (await quotesOf(survivor)).symbols.includes(LIMIT_SYMBOL), 15_000, 'the survivor routes the limit symbol');
    const r3 = marketRound(3, limitUser);
    await appendAll(r3.envs);
    await waitFor(async () => (await filledCount([...r2.ids, ...r3.ids])) === 2 * (USERS - 1), 30_000, 'rounds 2 and 3 filled');

    expect((await quotesOf(survivor)).delivered).toBeGreaterThan(0);
    expect(survivor.logs('open orders loaded for quotes').some((l) => Number(l.users) > 0)).toBe(true);
    expect((await readDemandUnion(redis)).has(LIMIT_SYMBOL)).toBe(true);
    const [limitRow] = await su`select status, filled_qty::text from orders where id = ${limit.id}::uuid`;
    expect(limitRow).toMatchObject({ status: 'new', filled_qty: '0' });

    // Cancel: the symbol leaves the demand at once, and the feed's upstream subscription after the grace period.
    await appendAll([cmd(limitUser, 'order.cancel', { order_id: limit.id })]);
    await waitFor(async () => !(await redis.smembers(marketDataKeys.demand(`accounts-${survivor.owner}`))).includes(LIMIT_SYMBOL), 10_000, 'out of the survivor demand');
    // The killed replica's lease expires on its own (2 × the partition lease), then the union no longer has it.
    await waitFor(async () => !(await readDemandUnion(redis)).has(LIMIT_SYMBOL), 15_000, 'the limit symbol out of the demand');
    await waitFor(async () => !(await subscribedUpstream()).includes(LIMIT_SYMBOL), 15_000, 'the feed unsubscribed upstream');

    // Every market order filled exactly once, on a live quote, by the next-quote rule.
    const all = [...r1.ids, ...r2.ids, ...r3.ids];
    const fills = await su<Array<{ id: string; order_id: string; user_id: string; symbol: string; qty: string; price: string; quote_seq: number; rule: string }>>`
      select id::text, order_id::text, user_id, symbol, qty::text, price::text, quote_seq::int, rule from fills where order_id = any(${all}::uuid[])`;
    const orders = await su<Array<{ id: string; qty: string; filled_qty: string }>>`select id::text, qty::text, filled_qty::text from orders where id = any(${all}::uuid[])`;
    expect(orders).toHaveLength(3 * (USERS - 1));
    const filledByOrder = new Map<string, bigint>();
    for (const f of fills) filledByOrder.set(f.order_id, (filledByOrder.get(f.order_id) ?? 0n) + BigInt(f.qty));
    for (const o of orders) expect(filledByOrder.get(o.id), o.id).toBe(BigInt(o.qty)); // no duplicate, no missing fill
    for (const f of fills) {
      expect(f.rule).toBe('market_next_quote');
      expect(f.quote_seq).toBeGreaterThan(0);
    }
    expect(new Set(fills.map((f) => f.id)).size).toBe(fills.length);

    // Positions equal the sum of fills; cash = starting − Σ qty × price, to the cent; nothing left reserved.
    const positions = await su<Array<{ user_id: string; symbol: string; qty: string }>>`select user_id, symbol, qty::text from positions where user_id = any(${users}::text[])`;
    const expectedPos = new Map<string, bigint>();
    const spent = new Map<string, bigint>();
    for (const f of fills) {
      const k = `${f.user_id}|${f.symbol}`;
      expectedPos.set(k, (expectedPos.get(k) ?? 0n) + BigInt(f.qty));
      spent.set(f.user_id, (spent.get(f.user_id) ?? 0n) + BigInt(f.qty) * toCents(f.price));
    }
    expect(new Map(positions.map((p) => [`${p.user_id}|${p.symbol}`, BigInt(p.qty)]))).toEqual(expectedPos);
    const accounts = await su<Array<{ user_id: string; cash: string; reserved_cash: string }>>`select user_id, cash::text, reserved_cash::text from paper_accounts where user_id = any(${users}::text[])`;
    for (const a of accounts) {
      expect(toCents(a.cash), a.user_id).toBe(toCents('100000') - (spent.get(a.user_id) ?? 0n));
      expect(toCents(a.reserved_cash), a.user_id).toBe(0n);
    }

    // trade_update fill events in the users' private logs: at most one per execution, and exactly one for every fill
    // of rounds 1 and 3 right away (round 2's may wait in signal_outbox for the survivor's sweep: checked below).
    const byExecution = new Map<string, number>();
    for (const u of users) {
      for (const e of await logOf(u)) {
        const d = e.data as { event?: string; execution_id?: string; order?: { id: string } };
        if (e.kind === 'trade_update' && d.event === 'fill' && d.execution_id) byExecution.set(d.execution_id, (byExecution.get(d.execution_id) ?? 0) + 1);
      }
    }
    for (const n of byExecution.values()) expect(n).toBe(1);
    const steady = new Set([...r1.ids, ...r3.ids]);
    const fillEventsByOrder = new Map<string, number>();
    for (const id of byExecution.keys()) {
      const orderId = id.replace(/-\d+$/, '');
      fillEventsByOrder.set(orderId, (fillEventsByOrder.get(orderId) ?? 0) + 1);
    }
    for (const id of steady) expect(fillEventsByOrder.get(id), id).toBe(1);
    // The killed replica's users were among them, and were filled by the survivor after the kill.
    expect(users.filter((u) => u !== limitUser && victimOwned.includes(partitionOf(u, P))).length).toBeGreaterThan(0);

    // Nothing is lost: what the killed replica committed but never appended waits in signal_outbox until the
    // survivor's sweep appends it; then every fill row has exactly one fill event.
    await waitFor(async () => Number((await su`select count(*)::int as n from signal_outbox`)[0]!.n) === 0, 40_000, 'the signal outbox drained');
    const events = new Map<string, number>();
    for (const u of users) {
      for (const e of await logOf(u)) {
        const d = e.data as { event?: string; execution_id?: string };
        if (e.kind === 'trade_update' && d.event === 'fill' && d.execution_id) events.set(fillId(d.execution_id), (events.get(fillId(d.execution_id)) ?? 0) + 1);
      }
    }
    for (const f of fills) expect(events.get(f.id), `fill ${f.id} of ${f.user_id}`).toBe(1);
  }, 120_000);
});
