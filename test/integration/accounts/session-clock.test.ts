// Session clock ticks (src/actors/account/session-clock.ts) from the simulator's real NYSE calendar, applied by the
// account host in the runtime's fenced turns on real PostgreSQL: at an early close (13:00 ET the day after
// Thanksgiving) a `clock` signal reaches the users with open orders and their DAY order expires with no quote at all.
// No Redis: the turns go through the runtime's own fenced paths (commitFencedBatch / withFencedTransaction).
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountHost, createSessionCache, SessionClock, type SignalEffect } from '../../../src/actors/account/index.js';
import { offsetClock } from '../../../src/domain/index.js';
import { createMarketCalendar } from '../../../src/infra/alpaca/index.js';
import { createDb, type DbHandle } from '../../../src/infra/db/index.js';
import { claimPartitionEpoch, commitFencedBatch, withFencedTransaction, type Envelope, type Signal } from '../../../src/runtime/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { startTestSimulator } from '../../support/simulator.js';
import { waitFor } from '../../support/wait.js';

const PARTITION = 0;
const EARLY_CLOSE = Date.parse('2026-11-27T18:00:00Z'); // 13:00 EST, the day after Thanksgiving
const u = `clock-${randomUUID().slice(0, 8)}`;

let tdb: TestDatabase;
let su: postgres.Sql;
let app: DbHandle;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
let epoch: number;

beforeAll(async () => {
  tdb = await createTestDatabase('raxx_session_clock');
  su = postgres(tdb.ownerUrl, { max: 2, onnotice: () => {} });
  await su`insert into users (id) values (${u})`;
  app = createDb(tdb.appUrl, { max: 4, role: 'raxx_app', appName: 'session-clock-test' });
  epoch = await claimPartitionEpoch(app.db, PARTITION, 1, 'session-clock-test');
  sim = await startTestSimulator({ SIM_CLOCK: 'nyse', SIM_SYMBOLS: '5' });
});
afterAll(async () => {
  await sim?.close();
  await app?.close();
  await su?.end();
  await tdb?.drop();
});

const cmd = (type: string, payload: unknown = {}): Envelope => ({ id: randomUUID(), userId: u, type, payload, issuedAt: new Date().toISOString() });

describe('session clock', () => {
  it('delivers the early close from the calendar to users with open orders; the DAY order expires without a quote', async () => {
    // "Now" is 2.5 s before that early close, for the host and the ticker alike (the shared clock offset).
    const clock = offsetClock(EARLY_CLOSE - 2500 - Date.now());
    const calendar = createMarketCalendar({ tradingUrl: sim.url, credentials: () => ({ keyId: 'raxx-dev-key', secret: 'raxx-dev-secret' }) });
    const sessions = createSessionCache(calendar);
    const host = createAccountHost({ startingCash: '1000', mbt: { clock, sessions } });
    const turn = (...envs: Envelope[]) => commitFencedBatch(app.db, PARTITION, epoch, envs, (tx, fresh) => host.handleBatch({ partition: PARTITION, epoch, tx, onRollback: () => {} }, fresh));
    const applySignals = (signals: Signal[]) =>
      withFencedTransaction(app.db, PARTITION, epoch, [u], (tx) => host.handleSignals!({ partition: PARTITION, epoch, tx, onRollback: () => {} }, signals)) as Promise<SignalEffect[]>;

    expect((await turn(cmd('account.open')))[0]!.outcome).toBe('accepted');
    const orderId = randomUUID();
    const [submitted] = await turn(cmd('order.submit', { order: { id: orderId, client_order_id: randomUUID(), symbol: 'CLKX', side: 'buy', type: 'limit', qty: '2', limit_price: '5', time_in_force: 'day' } }));
    expect((submitted!.result as { order: { status: string } }).order.status).toBe('new'); // the regular session is on

    const delivered: Signal[] = [];
    const ticker = new SessionClock({ sessions, now: () => clock.now(), users: () => [u], deliver: (s) => (delivered.push(s), true) });
    ticker.start();
    try {
      await waitFor(() => delivered.length > 0, 15_000, 'a clock signal at the close');
      // Exactly the close, when it came: nothing for the boundaries already past at start.
      expect(delivered).toEqual([{ userId: u, kind: 'clock', payload: { type: 'clock', event: 'regular_close', day: '2026-11-27', ts: EARLY_CLOSE } }]);
      expect(clock.now()).toBeGreaterThanOrEqual(EARLY_CLOSE);
    } finally {
      await ticker.stop();
    }

    const effects = await applySignals(delivered);
    const events = effects.flatMap((e) => e.events.map((x) => x.data as { event: string; order: { id: string } }));
    expect(events.map((e) => [e.event, e.order.id])).toEqual([['expired', orderId]]);
    const [order] = await su`select status, reserved_cash::text from orders where id = ${orderId}::uuid`;
    expect(order).toMatchObject({ status: 'expired', reserved_cash: '0' });
    const [account] = await su`select cash::text, reserved_cash::text from paper_accounts where user_id = ${u}`;
    expect(account).toMatchObject({ cash: '1000', reserved_cash: '0' });

    // Catch-up for users a replica just took over: the last day's boundaries; an engine that saw them ignores them.
    const caught: Signal[] = [];
    const catcher = new SessionClock({ sessions, now: () => clock.now(), users: () => [], deliver: (s) => (caught.push(s), true) });
    await catcher.catchUp([u]);
    expect(caught.map((s) => (s.payload as { event: string }).event)).toEqual(['pre_open', 'regular_open', 'regular_close']);
    expect(await applySignals(caught)).toEqual([]);
  });
});
