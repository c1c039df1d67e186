// No column may hold a password, a plaintext token, a recovery code or a TOTP seed: only ciphertext is stored.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

const FORBIDDEN = /pass(word|wd|phrase)|secret|plaintext|recovery|totp|otp_?seed|mnemonic|private_?key|api_?key|pin_code/;
// A token may only appear as envelope-encryption parts: <name>_ciphertext, <name>_iv, <name>_wrapped_dek.
const TOKEN = /token/;
const TOKEN_PART = /_(ciphertext|iv|wrapped_dek)$/;

function suspiciousColumn(column: string): boolean {
  const name = column.toLowerCase();
  return FORBIDDEN.test(name) || (TOKEN.test(name) && !TOKEN_PART.test(name));
}

async function suspiciousColumns(sql: postgres.Sql | postgres.TransactionSql): Promise<string[]> {
  const columns = await sql<{ table_name: string; column_name: string }[]>`
    select table_name, column_name from information_schema.columns
     where table_schema not in ('pg_catalog', 'information_schema')`;
  return columns.filter((c) => suspiciousColumn(c.column_name)).map((c) => `${c.table_name}.${c.column_name}`);
}

describe('no secret-shaped columns', () => {
  let t: TestDatabase;
  let admin: postgres.Sql;

  beforeAll(async () => {
    t = await createTestDatabase('raxx_cols');
    admin = postgres(t.ownerUrl, { max: 1, onnotice: () => {} }); // superuser: information_schema shows every column
  });
  afterAll(async () => {
    await admin?.end();
    await t?.drop();
  });

  it('finds none in the migrated schema', async () => {
    expect(await suspiciousColumns(admin)).toEqual([]);
  });

  it('would catch a plaintext token or password column', async () => {
    const rollback = new Error('rollback');
    const found = await admin
      .begin(async (tx) => {
        await tx`alter table alpaca_live_connections add column access_token text`;
        await tx`alter table users add column password_hash text, add column totp_secret text`;
        const hits = await suspiciousColumns(tx);
        throw Object.assign(rollback, { hits });
      })
      .catch((e: unknown) => (e === rollback ? (e as Error & { hits: string[] }).hits : Promise.reject(e)));
    expect(found.sort()).toEqual(['alpaca_live_connections.access_token', 'users.password_hash', 'users.totp_secret']);
    // And the allowed envelope parts stay allowed.
    expect(['access_token_ciphertext', 'refresh_token_iv', 'refresh_token_wrapped_dek', 'kms_key_id', 'public_key'].filter(suspiciousColumn)).toEqual(
      [],
    );
  });
});
