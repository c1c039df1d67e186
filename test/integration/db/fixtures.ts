// Test fixtures: one user with a row in every tenant table, written through the batch role.
import { appendAudit } from '../../../src/infra/audit/index.js';
import {
  alpacaLiveConnections,
  customerTradingModeOverrides,
  fills,
  orders,
  paperAccounts,
  positions,
  processedCommands,
  settledCycles,
  users,
  webauthnCredentials,
  type Db,
} from '../../../src/infra/db/index.js';

/** Tenant tables and the column naming the user each row belongs to. */
export const TENANT_TABLES: ReadonlyArray<readonly [table: string, column: string]> = [
  ['users', 'id'],
  ['paper_accounts', 'user_id'],
  ['orders', 'user_id'],
  ['fills', 'user_id'],
  ['positions', 'user_id'],
  ['settled_cycles', 'user_id'],
  ['processed_commands', 'user_id'],
  ['alpaca_live_connections', 'user_id'],
  ['customer_trading_mode_overrides', 'user_id'],
  ['webauthn_credentials', 'user_id'],
  ['audit_log', 'chain'],
];

export async function seedTenant(db: Db, userId: string): Promise<{ accountId: string; orderId: string }> {
  await db.insert(users).values({ id: userId, tier: 'pro' });
  const [account] = await db.insert(paperAccounts).values({ userId, cash: '1000' }).returning({ id: paperAccounts.id });
  const accountId = account!.id;
  const [order] = await db
    .insert(orders)
    .values({ userId, accountId, clientOrderId: `c-${userId}`, symbol: 'AAPL', side: 'buy', type: 'market', timeInForce: 'day', qty: '1' })
    .returning({ id: orders.id });
  const orderId = order!.id;
  await db.insert(fills).values({ userId, accountId, orderId, symbol: 'AAPL', side: 'buy', qty: '1', price: '100.25', quoteSeq: 7, rule: 'market' });
  await db.insert(positions).values({ accountId, symbol: 'AAPL', userId, qty: '1', avgEntryPrice: '100.25', costBasis: '100.25' });
  await db
    .insert(settledCycles)
    .values({ userId, accountId, tradingDay: '2026-01-02', equityOpen: '1000', equityClose: '1000', pnl: '0' });
  await db.insert(processedCommands).values({ commandId: `cmd-${userId}`, userId, partition: 0, type: 'order.submit', resultCode: 'ok' });
  await db.insert(alpacaLiveConnections).values({
    userId,
    scopes: 'account:write trading',
    accessTokenCiphertext: Buffer.from([1, 2, 3]),
    accessTokenIv: Buffer.alloc(12),
    accessTokenWrappedDek: Buffer.alloc(32),
    kmsKeyId: 'test-key',
    issuedAt: new Date(),
    expiresAt: new Date(Date.now() + 3_600_000),
    version: 1,
  });
  await db.insert(customerTradingModeOverrides).values({ userId, setBy: 'test' });
  await db.insert(webauthnCredentials).values({ id: `cred-${userId}`, userId, publicKey: Buffer.from([4, 5]), deviceType: 'singleDevice' });
  await appendAudit(db, { subject: userId, actor: 'test', action: 'fixture.create', outcome: 'success' });
  return { accountId, orderId };
}
