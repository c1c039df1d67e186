// Live-broker (Alpaca OAuth) connections, stored only as envelope-encrypted token ciphertext.
import { sql } from 'drizzle-orm';
import { boolean, check, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { bytea, tstz } from './columns.js';
import { tenantPolicies } from './roles.js';
import { userIdRef } from './users.js';

export const alpacaLiveConnections = pgTable(
  'alpaca_live_connections',
  {
    /** uuid v4 as text. */
    id: text('id')
      .primaryKey()
      .default(sql`gen_random_uuid()::text`),
    userId: userIdRef(),
    scopes: text('scopes').notNull(),
    // Envelope encryption: ciphertext under a data key; the data key wrapped by the KMS key.
    accessTokenCiphertext: bytea('access_token_ciphertext').notNull(),
    accessTokenIv: bytea('access_token_iv').notNull(),
    accessTokenWrappedDek: bytea('access_token_wrapped_dek').notNull(),
    kmsKeyId: text('kms_key_id').notNull(),
    refreshTokenCiphertext: bytea('refresh_token_ciphertext'),
    refreshTokenIv: bytea('refresh_token_iv'),
    refreshTokenWrappedDek: bytea('refresh_token_wrapped_dek'),
    issuedAt: tstz('issued_at').notNull(),
    expiresAt: tstz('expires_at').notNull(),
    lastUsedAt: tstz('last_used_at'),
    revokedAt: tstz('revoked_at'),
    needsReauth: boolean('needs_reauth').notNull().default(false),
    /** Optimistic concurrency for token refresh: UPDATE … WHERE version = $seen. */
    version: integer('version').notNull(),
  },
  (t) => [
    check('alpaca_live_connections_access_token_not_empty', sql`length(${t.accessTokenCiphertext}) > 0`),
    // One active connection per user; revoked ones stay for the record.
    uniqueIndex('alpaca_live_connections_one_active_per_user')
      .on(t.userId)
      .where(sql`revoked_at is null`),
    ...tenantPolicies('alpaca_live_connections', t.userId),
  ],
);
