// Live commands inside the account actor, on real PostgreSQL and Redis, the simulator's broker, OAuth and KMS: submit
// (the stored draft, exactly once at the broker), every refusal before anything is sent (kill switch read per
// command, tier, mode, connection, KMS down), broker rejections with the broker's words, a 401, an in-doubt submit
// reconciled by client_order_id, a crash between send and commit, revoke (crypto-shred), token refresh, and trade
// updates delivered as signals. Turns run through the runtime's own fenced, effectively-once path.
import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountEvents, createAccountHost, LIVE_TRADE_UPDATE_SIGNAL, reconcileOpenOrders, type LiveHostOptions } from '../../../src/actors/account/index.js';
import { LIVE_HANDOFF_SWITCH, type LiveOrderDraft } from '../../../src/contracts/index.js';
import { OAuthConnect } from '../../../src/infra/alpaca/index.js';
import { createAlpacaBroker, followTradeUpdates, type TradeUpdate } from '../../../src/infra/broker/index.js';
import { createDb, customerTradingModeOverrides, liveGateOverrides, runtimeSwitches, users, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { createKmsClient, Envelope } from '../../../src/infra/kms/index.js';
import { activeConnection, insertSealedConnection, sealTokens } from '../../../src/infra/live/connections.js';
import { getLiveOrder, insertDraft, markSubmitAttempt, usersWithLiveOrdersToReconcile } from '../../../src/infra/live/live-orders.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { UserEventLog } from '../../../src/infra/user-events/index.js';
import { claimPartitionEpoch, type Envelope as CommandEnvelope, type Signal, type StoredDecision } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { fencedTurns } from '../../support/turns.js';
import { testRedisUrl } from '../../support/redis.js';
import { simKmsOptions } from '../../support/sim-kms.js';
import { revokeSimToken, simOAuthToken } from '../../support/sim-oauth-token.js';
import { startTestSimulator } from '../../support/simulator.js';
import { loadSimConfig } from '../../../src/sim/config.js';
import { waitFor } from '../../support/wait.js';

const PARTITION = 101;
const run = randomBytes(3).toString('hex');
const uid = (name: string) => `live-${name}-${run}`;

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let tdb: TestDatabase;
let su: postgres.Sql;
let app: DbHandle;
let redis: Redis;
let events: UserEventLog;
let epoch: number;
let envelope: Envelope;
const tokens = new Map<string, string>();
const logins = new Map<string, string>();

function liveOptions(over: Partial<LiveHostOptions> = {}): LiveHostOptions {
  return {
    db: app.db,
    envelope,
    broker: createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 3000 }),
    refresh: () => Promise.reject(new Error('no refresh in this test')),
    standing: { envDisabled: false, gateCycles: 20 },
    reconsentDays: 90,
    ...over,
  };
}
const host = () => hostRef!;
let hostRef: ReturnType<typeof createAccountHost> | undefined;

beforeAll(async () => {
  sim = await startTestSimulator({ SIM_OAUTH_AUTO_APPROVE: '1', SIM_HALT_PROBABILITY: '0', SIM_SYMBOLS: '50' });
  tdb = await createTestDatabase('raxx_live_actor');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  app = createDb(tdb.appUrl, { max: 8, role: 'raxx_app', appName: 'live-actor-test' });
  redis = createRedis(testRedisUrl('live-actor'), 'live-actor-test');
  events = new UserEventLog(redis);
  envelope = new Envelope(createKmsClient(simKmsOptions(sim.kmsUrl, { timeoutMs: 1500, maxAttempts: 1 })), { keyId: 'alias/raxx-live-tokens', timeoutMs: 1500 });
  epoch = await claimPartitionEpoch(app.db, PARTITION, 1, 'live-actor-test');
  hostRef = createAccountHost({ startingCash: '100000', live: liveOptions() });
}, 60_000);
afterAll(async () => {
  await events?.drain();
  await app?.close();
  await closeRedis(redis);
  await su?.end();
  await tdb?.drop();
  await sim?.close();
});

const cmd = (userId: string, type: string, payload: unknown = {}): CommandEnvelope => ({ id: randomUUID(), userId, type, payload, issuedAt: new Date().toISOString() });

const turns = () => fencedTurns(app.db, PARTITION, () => epoch, host, events);
const turn = (...envs: CommandEnvelope[]): Promise<StoredDecision[]> => turns().turn(...envs);
const signals = (...list: Signal[]) => turns().signals(...list);

/** A Pro user, eligible by override, in live mode, with a sealed connection to a fresh simulated brokerage account. */
async function liveUser(name: string, o: { tier?: 'free' | 'pro' | 'pro_plus'; mode?: 'paper' | 'live' } = {}): Promise<string> {
  const id = uid(name);
  const login = `login-${id}`;
  const token = await simOAuthToken(sim.url, login);
  tokens.set(id, token);
  logins.set(id, login);
  const connectionId = randomUUID();
  const sealed = await sealTokens(envelope, id, connectionId, { accessToken: token, scope: 'trading' });
  await withTenant(app.db, [id], async (tx) => {
    await tx.insert(users).values({ id, email: `${id}@example.com`, tier: o.tier ?? 'pro' });
    await tx.insert(liveGateOverrides).values({ userId: id, grantedBy: 'operator:test', reason: 'test' });
    await tx.insert(customerTradingModeOverrides).values({ userId: id, mode: o.mode ?? 'live', setBy: 'test' });
    await insertSealedConnection(tx, { sealed, now: new Date(), reconsentDays: 90 });
  });
  return id;
}

const market = (qty = '1', symbol = 'AAPL'): LiveOrderDraft => ({ symbol, side: 'buy', qty, type: 'market', time_in_force: 'day' });

async function draft(userId: string, d: LiveOrderDraft = market()): Promise<string> {
  const id = randomUUID();
  await withTenant(app.db, [userId], async (tx) => {
    const c = await activeConnection(tx, userId);
    await insertDraft(tx, { id, userId, draft: d, connectionId: c!.id });
  });
  return id;
}

const orderRow = (userId: string, id: string) => withTenant(app.db, [userId], (tx) => getLiveOrder(tx, userId, id));

/** The orders the simulated brokerage holds for a user (by their OAuth login). */
async function brokerOrders(userId: string): Promise<Array<{ id: string; client_order_id: string; status: string }>> {
  const res = await fetch(`${sim.url}/_control/trading/accounts`);
  const accounts = (await res.json()) as Array<{ login: string; account: { id: string } }>;
  const acc = accounts.find((a) => a.login === logins.get(userId));
  if (!acc) return [];
  return (await (await fetch(`${sim.url}/_control/trading/orders?account=${acc.account.id}`)).json()) as Array<{ id: string; client_order_id: string; status: string }>;
}

async function auditActions(userId: string): Promise<Array<{ action: string; outcome: string; details: Record<string, unknown> }>> {
  return su.begin(async (tx) => {
    await tx`set local role raxx_batch`;
    return tx<Array<{ action: string; outcome: string; details: Record<string, unknown> }>>`select action, outcome, details from audit_log where subject = ${userId} order by seq`;
  });
}

async function setKillSwitch(on: boolean): Promise<void> {
  await app.db
    .insert(runtimeSwitches)
    .values({ name: LIVE_HANDOFF_SWITCH, enabled: on, setBy: 'operator:test', reason: 'test' })
    .onConflictDoUpdate({ target: runtimeSwitches.name, set: { enabled: on } });
}

describe('live.submit', () => {
  it('sends the stored draft once and records the broker order', async () => {
    const u = await liveUser('ok');
    const id = await draft(u, market('2'));
    const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
    expect(d!.outcome).toBe('accepted');
    const row = await orderRow(u, id);
    expect(row!.brokerOrderId).toBeTruthy();
    expect(['submitted', 'filled']).toContain(row!.status);
    const at = await brokerOrders(u);
    expect(at.filter((o) => o.client_order_id === row!.clientOrderId)).toHaveLength(1);
    const audit = await auditActions(u);
    expect(audit.find((a) => a.action === 'live.submit')).toMatchObject({ outcome: 'success', details: { liveOrderId: id, qty: '2', symbol: 'AAPL' } });
    // Filled within the submit itself (no stream was following yet): the decision carries the fill event.
    const env = cmd(u, 'live.submit', { liveOrderId: id });
    const kinds = accountEvents(env, d!).map((e) => e.kind);
    expect(kinds).toEqual(row!.status === 'filled' ? ['decision', 'live.trade_update'] : ['decision']);
    // A second command for the same order (another step-up) changes nothing and sends nothing.
    const [again] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
    expect(again).toMatchObject({ outcome: 'rejected', code: 'draft_already_submitted' });
    expect(await brokerOrders(u)).toHaveLength(1);
  }, 30_000);

  it('refuses before sending anything: kill switch (read per command), Free tier, paper mode, no connection', async () => {
    const u = await liveUser('refuse');
    const id = await draft(u);
    await setKillSwitch(true);
    try {
      const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
      expect(d).toMatchObject({ outcome: 'rejected', code: 'live_disabled' });
      expect((d!.result as { message: string }).message).toMatch(/switched off/);
    } finally {
      await setKillSwitch(false);
    }
    expect((await orderRow(u, id))!.status).toBe('draft');
    // Switched back on: the same draft goes through (the switch is not cached).
    const [ok] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
    expect(ok!.outcome).toBe('accepted');

    // ALPACA_LIVE_HANDOFF_DISABLED=1 (the environment flag) refuses the same way, whatever the runtime toggle says.
    const envOff = await liveUser('envoff');
    const saved = hostRef;
    hostRef = createAccountHost({ live: liveOptions({ standing: { envDisabled: true, gateCycles: 20 } }) });
    try {
      const [e] = await turn(cmd(envOff, 'live.submit', { liveOrderId: await draft(envOff) }));
      expect(e).toMatchObject({ outcome: 'rejected', code: 'live_disabled' });
      expect((e!.result as { message: string }).message).toContain('ALPACA_LIVE_HANDOFF_DISABLED');
    } finally {
      hostRef = saved;
    }
    expect(await brokerOrders(envOff)).toHaveLength(0);

    const free = await liveUser('free', { tier: 'free' });
    const [f] = await turn(cmd(free, 'live.submit', { liveOrderId: await draft(free) }));
    expect(f).toMatchObject({ outcome: 'rejected', code: 'tier_not_eligible' });
    const paper = await liveUser('paper', { mode: 'paper' });
    const [p] = await turn(cmd(paper, 'live.submit', { liveOrderId: await draft(paper) }));
    expect(p).toMatchObject({ outcome: 'rejected', code: 'not_connected' });
    for (const who of [free, paper]) expect(await brokerOrders(who)).toHaveLength(0);
    expect((await auditActions(free)).find((a) => a.action === 'live.submit')).toMatchObject({ outcome: 'denied', details: { code: 'tier_not_eligible' } });
  }, 30_000);

  it('shows the broker\'s reason for a rejection, and marks the connection on a 401', async () => {
    const u = await liveUser('reject');
    const id = await draft(u, market('100000000'));
    const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
    expect(d).toMatchObject({ outcome: 'rejected', code: 'broker_rejected' });
    expect((d!.result as { message: string }).message).toMatch(/buying power|insufficient/i);
    expect((await orderRow(u, id))!).toMatchObject({ status: 'rejected' });

    const id2 = await draft(u);
    await revokeSimToken(sim.url, tokens.get(u)!);
    const [r] = await turn(cmd(u, 'live.submit', { liveOrderId: id2 }));
    expect(r).toMatchObject({ outcome: 'rejected', code: 'needs_reauth' });
    const c = await withTenant(app.db, [u], (tx) => activeConnection(tx, u));
    expect(c!.needsReauth).toBe(true);
    expect((await orderRow(u, id2))!.status).toBe('draft');
  }, 30_000);

  it('after a crash between send and commit, asks the broker by client_order_id instead of sending again', async () => {
    const u = await liveUser('crash');
    const id = await draft(u);
    const row = (await orderRow(u, id))!;
    // What a replica did before dying: marked the attempt (committed on its own), sent the order, never committed.
    expect(await markSubmitAttempt(app.db, u, id)).toBe(1);
    await createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 3000 }).submitOrder(tokens.get(u)!, { ...market(), client_order_id: row.clientOrderId });
    const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
    expect(d!.outcome).toBe('accepted');
    expect((d!.result as { reconciled: boolean }).reconciled).toBe(true);
    expect((await brokerOrders(u)).filter((o) => o.client_order_id === row.clientOrderId)).toHaveLength(1);
  }, 30_000);

  it('an unanswered submit is reconciled by client_order_id, never resent blindly', async () => {
    const u = await liveUser('doubt');
    const id = await draft(u);
    const shortTimeout = createAccountHost({ live: liveOptions({ broker: createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 500 }) }) });
    const saved = hostRef;
    hostRef = shortTimeout;
    try {
      await fetch(`${sim.url}/_control/trading/faults/hang-next-order`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
      // The simulator accepted the order and held the answer: the follow-up lookup finds it.
      expect(d!.outcome).toBe('accepted');
      const row = (await orderRow(u, id))!;
      expect(row.brokerOrderId).toBeTruthy();
      expect((await brokerOrders(u)).filter((o) => o.client_order_id === row.clientOrderId)).toHaveLength(1);
    } finally {
      hostRef = saved;
      await fetch(`${sim.url}/_control/trading/faults`, { method: 'DELETE' }).catch(() => undefined);
    }
  }, 30_000);

  it('fails closed when KMS is unavailable: nothing is sent', async () => {
    const u = await liveUser('kms');
    const id = await draft(u);
    // A fresh replica: the token is not in memory yet, so it must be opened.
    const saved = hostRef;
    hostRef = createAccountHost({ live: liveOptions() });
    try {
      await fetch(`${sim.url}/_control/kms/faults/internal-error`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count: 5 }) });
      const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
      expect(d).toMatchObject({ outcome: 'rejected', code: 'kms_unavailable' });
      expect(await brokerOrders(u)).toHaveLength(0);
      expect((await orderRow(u, id))!.status).toBe('draft');
    } finally {
      hostRef = saved;
      await fetch(`${sim.url}/_control/kms/faults`, { method: 'DELETE' }).catch(() => undefined);
    }
  }, 30_000);
});

describe('trade updates and revoke', () => {
  it('reconciles open orders over REST when a stream (re)authorises: what happened unheard is applied', async () => {
    const u = await liveUser('reconcile');
    const id = await draft(u, { symbol: 'AAPL', side: 'buy', qty: '1', type: 'limit', time_in_force: 'gtc', limit_price: '1.00' });
    const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
    expect(d!.outcome).toBe('accepted');
    const row = (await orderRow(u, id))!;
    expect(row.status).toBe('submitted');
    // Canceled at the broker while nobody listened (e.g. from Alpaca's own dashboard).
    await createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 3000 }).cancelOrder(tokens.get(u)!, row.brokerOrderId!);
    const delivered: Signal[] = [];
    const found = await reconcileOpenOrders({ db: app.db, broker: createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 3000 }), deliver: (s) => delivered.push(s) }, u, tokens.get(u)!);
    expect(found).toBe(1);
    await signals(...delivered);
    expect((await orderRow(u, id))!.status).toBe('canceled');
  }, 30_000);

  it('a submit that reached the broker and lost its command with Redis (T14) is found at takeover and never sent twice', async () => {
    const u = await liveUser('lost');
    const id = await draft(u);
    const row = (await orderRow(u, id))!;
    const broker = createAlpacaBroker({ baseUrl: sim.url, timeoutMs: 3000 });
    // What a replica did before dying: marked the attempt (committed on its own) and sent the order; its turn never
    // committed, and Redis lost the command entry (restarted within its last unsynced second), so nothing redelivers it.
    expect(await markSubmitAttempt(app.db, u, id)).toBe(1);
    await broker.submitOrder(tokens.get(u)!, { ...market(), client_order_id: row.clientOrderId });
    expect((await orderRow(u, id))!.status).toBe('draft');

    // The next owner, at takeover: the user is among those to reconcile, and the broker's order is applied to the draft.
    const batch = createDb(tdb.batchUrl, { max: 1 });
    try {
      expect(await usersWithLiveOrdersToReconcile(batch.db)).toContain(u);
    } finally {
      await batch.close();
    }
    const delivered: Signal[] = [];
    expect(await reconcileOpenOrders({ db: app.db, broker, deliver: (s) => delivered.push(s) }, u, tokens.get(u)!)).toBe(1);
    await signals(...delivered);
    const after = (await orderRow(u, id))!;
    expect(['submitted', 'filled']).toContain(after.status);
    expect(after.brokerOrderId).toBeTruthy();
    // The user's own retry is refused, and the broker holds exactly one order for the client_order_id.
    const [again] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
    expect(again).toMatchObject({ outcome: 'rejected', code: 'draft_already_submitted' });
    expect((await brokerOrders(u)).filter((o) => o.client_order_id === row.clientOrderId)).toHaveLength(1);

    // A draft whose attempt never reached the broker is left as it was, still submittable (once).
    const never = await draft(u, market('3'));
    expect(await markSubmitAttempt(app.db, u, never)).toBe(1);
    const none: Signal[] = [];
    await reconcileOpenOrders({ db: app.db, broker, deliver: (s) => none.push(s) }, u, tokens.get(u)!);
    await signals(...none);
    expect((await orderRow(u, never))!.status).toBe('draft');
    const [sent] = await turn(cmd(u, 'live.submit', { liveOrderId: never }));
    expect(sent!.outcome).toBe('accepted');
    const neverCoid = (await orderRow(u, never))!.clientOrderId;
    expect((await brokerOrders(u)).filter((o) => o.client_order_id === neverCoid)).toHaveLength(1);
  }, 40_000);

  it('a fill from the broker stream updates the order and becomes a private event', async () => {
    const u = await liveUser('fill');
    const id = await draft(u);
    const updates: TradeUpdate[] = [];
    const follower = followTradeUpdates({ url: `${sim.ws}/stream`, token: tokens.get(u)!, onUpdate: (x) => updates.push(x) });
    try {
      await waitFor(() => follower.state === 'authorized', 10_000, 'trade updates authorized');
      const [d] = await turn(cmd(u, 'live.submit', { liveOrderId: id }));
      expect(d!.outcome).toBe('accepted');
      const row = (await orderRow(u, id))!;
      await fetch(`${sim.url}/_control/trading/sweep`, { method: 'POST' });
      await waitFor(() => updates.some((x) => x.order.client_order_id === row.clientOrderId && x.event === 'fill'), 15_000, 'a fill');
      const effects = await signals(...updates.filter((x) => x.order.client_order_id === row.clientOrderId).map((x) => ({ userId: u, kind: LIVE_TRADE_UPDATE_SIGNAL, payload: x })));
      expect((await orderRow(u, id))!).toMatchObject({ status: 'filled', filledQty: expect.stringMatching(/^1(\.0+)?$/) });
      expect(effects.flatMap((e) => e.events).map((e) => e.kind)).toContain('live.trade_update');
      expect((await auditActions(u)).some((a) => a.action === 'live.trade_update' && a.details.event === 'fill')).toBe(true);
    } finally {
      await follower.close();
    }
  }, 40_000);

  it('revoke crypto-shreds the connection, returns the user to paper and stops live submits', async () => {
    const u = await liveUser('revoke');
    const before = await su.begin(async (tx) => {
      await tx`set local role raxx_batch`;
      return tx<Array<{ ct: Buffer }>>`select access_token_ciphertext as ct from alpaca_live_connections where user_id = ${u}`;
    });
    const [d] = await turn(cmd(u, 'live.revoke', { requestedBy: u, reason: 'user disconnected' }));
    expect(d).toMatchObject({ outcome: 'accepted', result: { revoked: true } });
    const after = await su.begin(async (tx) => {
      await tx`set local role raxx_batch`;
      return tx<Array<{ ct: Buffer; revoked: Date | null }>>`select access_token_ciphertext as ct, revoked_at as revoked from alpaca_live_connections where user_id = ${u}`;
    });
    expect(after[0]!.revoked).not.toBeNull();
    expect(after[0]!.ct.length).toBe(before[0]!.ct.length);
    expect(after[0]!.ct.equals(before[0]!.ct)).toBe(false);
    const mode = await withTenant(app.db, [u], (tx) => tx.select().from(customerTradingModeOverrides));
    expect(mode[0]!.mode).toBe('paper');
    const [s] = await turn(cmd(u, 'live.submit', { liveOrderId: await draftWithoutConnection(u) }));
    expect(s).toMatchObject({ outcome: 'rejected', code: 'not_connected' });
    // Re-running the revoke (an operator's mass revoke after the user's own) changes nothing.
    const [again] = await turn(cmd(u, 'live.revoke', { requestedBy: 'operator:test', reason: 'mass revoke' }));
    expect(again).toMatchObject({ outcome: 'accepted', result: { revoked: false } });
  }, 30_000);

  it('a broker that rotates refresh tokens: live.refresh stores the new pair before using it', async () => {
    const rsim = await startTestSimulator({ SIM_OAUTH_AUTO_APPROVE: '1', SIM_OAUTH_REFRESH_TOKENS: '1', SIM_OAUTH_TOKEN_TTL_MS: '300000', SIM_HALT_PROBABILITY: '0', SIM_SYMBOLS: '50' });
    try {
      const client = loadSimConfig({}).oauthClients[0]!;
      const oauth = new OAuthConnect(app.db, {
        authorizeUrl: `${rsim.url}/oauth/authorize`,
        tokenUrl: `${rsim.url}/oauth/token`,
        clientId: client.clientId,
        clientSecret: () => client.clientSecret,
        redirectUri: client.redirectUris[0]!,
        scopes: 'trading',
        pkce: true,
      });
      const id = uid('refresh');
      await withTenant(app.db, [id], (tx) => tx.insert(users).values({ id, tier: 'pro' }));
      const begun = await oauth.begin(id, 'session-1');
      const redirect = await fetch(begun.authorizeUrl, { redirect: 'manual' });
      const cb = new URL(redirect.headers.get('location')!);
      const first = await oauth.complete(id, 'session-1', { state: cb.searchParams.get('state')!, code: cb.searchParams.get('code')! });
      expect(first.refreshToken).toBeTruthy();
      const connectionId = randomUUID();
      const sealed = await sealTokens(envelope, id, connectionId, first);
      await withTenant(app.db, [id], (tx) => insertSealedConnection(tx, { sealed, now: new Date(), reconsentDays: 90 }));
      const refreshing = createAccountHost({ live: liveOptions({ refresh: (rt) => oauth.refresh(rt) }) });
      const saved = hostRef;
      hostRef = refreshing;
      try {
        const [d] = await turn(cmd(id, 'live.refresh', { connectionId }));
        expect(d).toMatchObject({ outcome: 'accepted', result: { refreshed: true } });
        const c = await withTenant(app.db, [id], (tx) => activeConnection(tx, id));
        expect(c!.version).toBe(2);
        // The old access token is not the one in memory any more, and the new one works at the broker.
        const fresh = refreshing.live!.vault.cached(id)!;
        expect(fresh).not.toBe(first.accessToken);
        expect((await fetch(`${rsim.url}/v2/account`, { headers: { authorization: `Bearer ${fresh}` } })).status).toBe(200);
        expect((await auditActions(id)).some((a) => a.action === 'live.refresh' && a.outcome === 'success')).toBe(true);
      } finally {
        hostRef = saved;
      }
    } finally {
      await rsim.close();
    }
  }, 40_000);
});

/** A draft row for a user whose connection is gone (the draft API would refuse; the actor must too). */
async function draftWithoutConnection(userId: string): Promise<string> {
  const id = randomUUID();
  await withTenant(app.db, [userId], (tx) => insertDraft(tx, { id, userId, draft: market(), connectionId: randomUUID() }));
  return id;
}
