// WebAuthn credentials: public data only (the private key never leaves the authenticator).
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, pgTable, text } from 'drizzle-orm/pg-core';
import { bytea, createdAt, oneOf, tstz } from './columns.js';
import { tenantPolicies } from './roles.js';
import { userIdRef } from './users.js';

export const DEVICE_TYPES = ['singleDevice', 'multiDevice'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export const webauthnCredentials = pgTable(
  'webauthn_credentials',
  {
    /** Credential id, base64url. */
    id: text('id').primaryKey(),
    userId: userIdRef(),
    publicKey: bytea('public_key').notNull(),
    /** Signature counter; a non-increasing value hints at a cloned authenticator. */
    counter: bigint('counter', { mode: 'number' }).notNull().default(0),
    transports: text('transports')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    deviceType: text('device_type').$type<DeviceType>().notNull(),
    backedUp: boolean('backed_up').notNull().default(false),
    createdAt: createdAt(),
    lastUsedAt: tstz('last_used_at'),
  },
  (t) => [
    index('webauthn_credentials_user_idx').on(t.userId),
    check('webauthn_credentials_device_type_check', oneOf(t.deviceType, DEVICE_TYPES)),
    ...tenantPolicies('webauthn_credentials', t.userId),
  ],
);
