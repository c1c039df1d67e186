// The simulated KMS through the real @aws-sdk/client-kms: envelopes, contexts, tampering, aliases, rotation, MACs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateMacCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { createKmsServer, type KmsServer } from '../../../src/sim/kms/index.js';

const region = 'eu-west-1';
const accountId = '123456789012';
const credentials = { accessKeyId: 'TESTKMSCRYPTOKEY0001', secretAccessKey: 'test-secret-crypto' };

let kms: KmsServer;
let server: Server;
let client: KMSClient;

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).name;
  }
  throw new Error('expected the call to fail');
}

async function newKey(description = 'test key'): Promise<{ keyId: string; arn: string }> {
  const out = await client.send(new CreateKeyCommand({ Description: description }));
  return { keyId: out.KeyMetadata!.KeyId!, arn: out.KeyMetadata!.Arn! };
}

beforeAll(async () => {
  kms = createKmsServer({ credentials: [credentials], region, accountId, initialAliases: ['alias/raxx-live-tokens'] });
  server = createServer((req, res) => void kms.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new KMSClient({ endpoint: `http://127.0.0.1:${port}`, region, credentials, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await kms.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('simulated KMS: data keys and envelopes', () => {
  const context = { user_id: 'u-1', connection_id: 'c-1' };

  it('GenerateDataKey → Decrypt returns the same plaintext under the same context (any key order)', async () => {
    const gen = await client.send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens', KeySpec: 'AES_256', EncryptionContext: context }));
    expect(gen.Plaintext).toHaveLength(32);
    expect(gen.KeyId).toMatch(new RegExp(`^arn:aws:kms:${region}:${accountId}:key/[0-9a-f-]{36}$`));
    const dec = await client.send(
      new DecryptCommand({ CiphertextBlob: gen.CiphertextBlob, EncryptionContext: { connection_id: 'c-1', user_id: 'u-1' } }),
    );
    expect(Buffer.from(dec.Plaintext!).equals(Buffer.from(gen.Plaintext!))).toBe(true);
    expect(dec.KeyId).toBe(gen.KeyId);
  });

  it('a different encryption context fails with InvalidCiphertextException', async () => {
    const gen = await client.send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens', KeySpec: 'AES_256', EncryptionContext: context }));
    const blob = gen.CiphertextBlob;
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context, user_id: 'u-2' } })))).toBe(
      'InvalidCiphertextException',
    );
    expect(
      await errorName(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context, connection_id: 'c-2' } }))),
    ).toBe('InvalidCiphertextException');
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: blob })))).toBe('InvalidCiphertextException');
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context, extra: 'x' } })))).toBe(
      'InvalidCiphertextException',
    );
  });

  it('any single flipped bit makes the blob an InvalidCiphertextException', async () => {
    const gen = await client.send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens', NumberOfBytes: 16, EncryptionContext: context }));
    const blob = Buffer.from(gen.CiphertextBlob!);
    // Header (magic, key id, version), IV, tag and body.
    for (const bit of [0, 5 * 8 + 3, 21 * 8, 30 * 8 + 1, 40 * 8 + 7, blob.length * 8 - 1]) {
      const tampered = Buffer.from(blob);
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: context }))), `bit ${bit}`).toBe(
        'InvalidCiphertextException',
      );
    }
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: new Uint8Array([1, 2, 3]) })))).toBe('InvalidCiphertextException');
  });

  it('GenerateDataKeyWithoutPlaintext returns a blob only, which decrypts', async () => {
    const gen = await client.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: 'alias/raxx-live-tokens', KeySpec: 'AES_128' }));
    expect((gen as { Plaintext?: unknown }).Plaintext).toBeUndefined();
    const dec = await client.send(new DecryptCommand({ CiphertextBlob: gen.CiphertextBlob }));
    expect(dec.Plaintext).toHaveLength(16);
  });

  it('GenerateDataKey needs exactly one of KeySpec and NumberOfBytes', async () => {
    expect(await errorName(client.send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens' })))).toBe('ValidationException');
    expect(await errorName(client.send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens', KeySpec: 'AES_256', NumberOfBytes: 32 })))).toBe(
      'ValidationException',
    );
  });
});

describe('simulated KMS: keys, aliases, Encrypt/Decrypt/ReEncrypt', () => {
  it('CreateKey, CreateAlias, ListAliases, ListKeys, DescribeKey by every kind of id', async () => {
    const { keyId, arn } = await newKey('aliased');
    await client.send(new CreateAliasCommand({ AliasName: 'alias/test-one', TargetKeyId: keyId }));
    expect(await errorName(client.send(new CreateAliasCommand({ AliasName: 'alias/test-one', TargetKeyId: keyId })))).toBe('AlreadyExistsException');
    const aliases = await client.send(new ListAliasesCommand({}));
    const mine = aliases.Aliases!.find((a) => a.AliasName === 'alias/test-one');
    expect(mine).toMatchObject({ TargetKeyId: keyId, AliasArn: `arn:aws:kms:${region}:${accountId}:alias/test-one` });
    expect(aliases.Aliases!.some((a) => a.AliasName === 'alias/raxx-live-tokens')).toBe(true);
    const filtered = await client.send(new ListAliasesCommand({ KeyId: keyId }));
    expect(filtered.Aliases!.map((a) => a.AliasName)).toEqual(['alias/test-one']);
    const keys = await client.send(new ListKeysCommand({}));
    expect(keys.Keys!.some((k) => k.KeyId === keyId && k.KeyArn === arn)).toBe(true);

    for (const ref of [keyId, arn, 'alias/test-one', `arn:aws:kms:${region}:${accountId}:alias/test-one`]) {
      const d = await client.send(new DescribeKeyCommand({ KeyId: ref }));
      expect(d.KeyMetadata).toMatchObject({ KeyId: keyId, Arn: arn, Description: 'aliased', KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT' });
      expect(d.KeyMetadata!.CreationDate).toBeInstanceOf(Date);
    }
  });

  it('paginates ListKeys', async () => {
    await newKey();
    await newKey();
    const first = await client.send(new ListKeysCommand({ Limit: 1 }));
    expect(first.Keys).toHaveLength(1);
    expect(first.Truncated).toBe(true);
    const second = await client.send(new ListKeysCommand({ Limit: 1, Marker: first.NextMarker }));
    expect(second.Keys![0]!.KeyId).not.toBe(first.Keys![0]!.KeyId);
  });

  it('unknown keys and aliases are NotFoundException', async () => {
    expect(await errorName(client.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })))).toBe('NotFoundException');
    expect(await errorName(client.send(new EncryptCommand({ KeyId: 'alias/nope', Plaintext: Buffer.from('x') })))).toBe('NotFoundException');
    expect(await errorName(client.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:us-west-2:${accountId}:key/${(await newKey()).keyId}` })))).toBe(
      'NotFoundException',
    );
  });

  it('Encrypt/Decrypt with alias and with ARN', async () => {
    const { keyId, arn } = await newKey();
    await client.send(new CreateAliasCommand({ AliasName: 'alias/test-two', TargetKeyId: arn }));
    const byAlias = await client.send(new EncryptCommand({ KeyId: 'alias/test-two', Plaintext: Buffer.from('hello alias'), EncryptionContext: { a: '1' } }));
    expect(byAlias.KeyId).toBe(arn);
    const byArn = await client.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('hello arn') }));
    const d1 = await client.send(new DecryptCommand({ CiphertextBlob: byAlias.CiphertextBlob, EncryptionContext: { a: '1' }, KeyId: 'alias/test-two' }));
    expect(Buffer.from(d1.Plaintext!).toString()).toBe('hello alias');
    const d2 = await client.send(new DecryptCommand({ CiphertextBlob: byArn.CiphertextBlob, KeyId: keyId }));
    expect(Buffer.from(d2.Plaintext!).toString()).toBe('hello arn');
  });

  it('ReEncrypt moves a ciphertext to another key and context; naming the wrong key is IncorrectKeyException', async () => {
    const a = await newKey('source');
    const b = await newKey('destination');
    const enc = await client.send(new EncryptCommand({ KeyId: a.arn, Plaintext: Buffer.from('moving'), EncryptionContext: { v: 'old' } }));
    const re = await client.send(
      new ReEncryptCommand({
        CiphertextBlob: enc.CiphertextBlob,
        SourceEncryptionContext: { v: 'old' },
        DestinationKeyId: b.keyId,
        DestinationEncryptionContext: { v: 'new' },
      }),
    );
    expect(re.SourceKeyId).toBe(a.arn);
    expect(re.KeyId).toBe(b.arn);
    const dec = await client.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { v: 'new' } }));
    expect(Buffer.from(dec.Plaintext!).toString()).toBe('moving');
    expect(dec.KeyId).toBe(b.arn);
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { v: 'new' }, KeyId: a.arn })))).toBe(
      'IncorrectKeyException',
    );
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { v: 'old' } })))).toBe(
      'InvalidCiphertextException',
    );
    expect(
      await errorName(client.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: { v: 'wrong' }, DestinationKeyId: b.keyId }))),
    ).toBe('InvalidCiphertextException');
  });

  it('a disabled key is DisabledException until enabled again', async () => {
    const { keyId } = await newKey();
    const enc = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
    await client.send(new DisableKeyCommand({ KeyId: keyId }));
    expect((await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState).toBe('Disabled');
    expect(await errorName(client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })))).toBe('DisabledException');
    expect(await errorName(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).toBe('DisabledException');
    await client.send(new EnableKeyCommand({ KeyId: keyId }));
    expect((await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext).toHaveLength(1);
  });
});

describe('simulated KMS: rotation', () => {
  it('rows sealed before RotateKeyOnDemand still decrypt; new ones use the new version', async () => {
    const { keyId, arn } = await newKey('rotating');
    await client.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }));
    const status = await client.send(new GetKeyRotationStatusCommand({ KeyId: arn }));
    expect(status).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 90, KeyId: arn });

    const before = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { row: '1' } }));
    expect((await client.send(new RotateKeyOnDemandCommand({ KeyId: keyId }))).KeyId).toBe(arn);
    const after = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { row: '2' } }));

    const versionOf = (blob: Uint8Array) => Buffer.from(blob).readUInt32BE(20); // see src/sim/kms/ciphertext.ts
    expect(versionOf(before.CiphertextBlob!)).toBe(1);
    expect(versionOf(after.CiphertextBlob!)).toBe(2);
    const oldRow = await client.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob, EncryptionContext: { row: '1' } }));
    expect(Buffer.from(oldRow.Plaintext!).equals(Buffer.from(before.Plaintext!))).toBe(true);
    const newRow = await client.send(new DecryptCommand({ CiphertextBlob: after.CiphertextBlob, EncryptionContext: { row: '2' } }));
    expect(Buffer.from(newRow.Plaintext!).equals(Buffer.from(after.Plaintext!))).toBe(true);
    // Re-encrypting an old row to the same key lifts it to the current version.
    const lifted = await client.send(
      new ReEncryptCommand({ CiphertextBlob: before.CiphertextBlob, SourceEncryptionContext: { row: '1' }, DestinationKeyId: keyId, DestinationEncryptionContext: { row: '1' } }),
    );
    expect(versionOf(lifted.CiphertextBlob!)).toBe(2);
  });
});

describe('simulated KMS: HMAC keys', () => {
  it('GenerateMac/VerifyMac: a good MAC verifies, a wrong one is KMSInvalidMacException', async () => {
    const created = await client.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }));
    const keyId = created.KeyMetadata!.KeyId!;
    expect(created.KeyMetadata!.MacAlgorithms).toEqual(['HMAC_SHA_256']);
    const message = Buffer.from('oauth-state:abc');
    const gen = await client.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256' }));
    expect(gen.Mac).toHaveLength(32);
    const ok = await client.send(new VerifyMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256', Mac: gen.Mac }));
    expect(ok.MacValid).toBe(true);

    const bad = Buffer.from(gen.Mac!);
    bad[0]! ^= 1;
    expect(await errorName(client.send(new VerifyMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256', Mac: bad })))).toBe(
      'KMSInvalidMacException',
    );
    expect(
      await errorName(client.send(new VerifyMacCommand({ KeyId: keyId, Message: Buffer.from('other'), MacAlgorithm: 'HMAC_SHA_256', Mac: gen.Mac }))),
    ).toBe('KMSInvalidMacException');
    // Wrong algorithm for the key, and an encryption key used for MACs (and vice versa).
    expect(await errorName(client.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: 'HMAC_SHA_512' })))).toBe(
      'InvalidKeyUsageException',
    );
    expect(await errorName(client.send(new GenerateMacCommand({ KeyId: 'alias/raxx-live-tokens', Message: message, MacAlgorithm: 'HMAC_SHA_256' })))).toBe(
      'InvalidKeyUsageException',
    );
    expect(await errorName(client.send(new EncryptCommand({ KeyId: keyId, Plaintext: message })))).toBe('InvalidKeyUsageException');
  });
});
