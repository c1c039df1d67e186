// The simulated KMS keeps its keys in <dataDir>/kms-keys.json: a restart keeps every key, alias and rotation.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ListAliasesCommand,
  RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms';
import { createKmsServer, DEFAULT_KMS_CREDENTIALS, DEFAULT_KMS_REGION, KEYS_FILE, type KmsServerOptions } from '../../../src/sim/kms/index.js';

interface Running {
  client: KMSClient;
  stop(): Promise<void>;
}

const dirs: string[] = [];
const running: Running[] = [];

async function start(options: KmsServerOptions): Promise<Running> {
  const kms = createKmsServer(options);
  const server: Server = createServer((req, res) => void kms.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new KMSClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: DEFAULT_KMS_REGION,
    credentials: DEFAULT_KMS_CREDENTIALS[0]!,
    maxAttempts: 1,
  });
  const r: Running = {
    client,
    async stop() {
      client.destroy();
      await kms.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  running.push(r);
  return r;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raxx-sim-kms-'));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('simulated KMS: persistence', () => {
  it('keys, aliases and key versions survive a restart; old ciphertexts decrypt', async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    const initial = await first.client.send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }));
    const created = await first.client.send(new CreateKeyCommand({ Description: 'persisted' }));
    const keyId = created.KeyMetadata!.KeyId!;
    await first.client.send(new CreateAliasCommand({ AliasName: 'alias/persisted', TargetKeyId: keyId }));
    const context = { user_id: 'u-1' };
    const v1 = await first.client.send(new GenerateDataKeyCommand({ KeyId: 'alias/persisted', KeySpec: 'AES_256', EncryptionContext: context }));
    await first.client.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const v2 = await first.client.send(new EncryptCommand({ KeyId: 'alias/persisted', Plaintext: Buffer.from('after rotation') }));
    const live = await first.client.send(new EncryptCommand({ KeyId: 'alias/raxx-live-tokens', Plaintext: Buffer.from('live') }));
    await first.stop();

    const file = join(dataDir, KEYS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dataDir)).toEqual([KEYS_FILE]); // no tmp files left behind

    const second = await start({ dataDir });
    // The initial alias is not re-created: it still points at the same key.
    expect((await second.client.send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }))).KeyMetadata!.KeyId).toBe(initial.KeyMetadata!.KeyId);
    const aliases = (await second.client.send(new ListAliasesCommand({}))).Aliases!.map((a) => a.AliasName);
    expect(aliases).toEqual(['alias/persisted', 'alias/raxx-live-tokens']);
    const d1 = await second.client.send(new DecryptCommand({ CiphertextBlob: v1.CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(d1.Plaintext!).equals(Buffer.from(v1.Plaintext!))).toBe(true);
    const d2 = await second.client.send(new DecryptCommand({ CiphertextBlob: v2.CiphertextBlob, KeyId: 'alias/persisted' }));
    expect(Buffer.from(d2.Plaintext!).toString()).toBe('after rotation');
    const d3 = await second.client.send(new DecryptCommand({ CiphertextBlob: live.CiphertextBlob }));
    expect(Buffer.from(d3.Plaintext!).toString()).toBe('live');
  });

  it('without a dataDir keys live in memory only; another server cannot decrypt', async () => {
    const a = await start({});
    const enc = await a.client.send(new EncryptCommand({ KeyId: 'alias/raxx-live-tokens', Plaintext: Buffer.from('x') }));
    const b = await start({});
    await expect(b.client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });

  it('refuses to start on a corrupt key file instead of silently starting empty', () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, KEYS_FILE), '{ not json');
    expect(() => createKmsServer({ dataDir })).toThrow();
    expect(readFileSync(join(dataDir, KEYS_FILE), 'utf8')).toBe('{ not json');
  });
});
