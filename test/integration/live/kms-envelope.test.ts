// Envelope encryption through the real @aws-sdk/client-kms against the simulator's KMS (T4), and its failure modes (T5).
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  RotateKeyOnDemandCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveTokenEncryptionContext } from '../../../src/contracts/live.js';
import {
  canonicalContextJson,
  createKmsClient,
  Envelope,
  gcmOpen,
  gcmSeal,
  KmsConfigError,
  KmsUnavailableError,
  SealedTokenInvalidError,
  type KmsClientOptions,
  type SealedValue,
} from '../../../src/infra/kms/index.js';
import { errorText, rejection } from '../../support/canary.js';
import { SIM_KMS_SECRET, simKmsOptions } from '../../support/sim-kms.js';
import { startTestSimulator } from '../../support/simulator.js';
import { waitFor } from '../../support/wait.js';

const ALIAS = 'alias/raxx-live-tokens';
const CANARY = `canary-live-token-${randomUUID()}`;

let sim: Awaited<ReturnType<typeof startTestSimulator>>;
const clients: KMSClient[] = [];
/** Every error this file provoked: none may carry the canary. */
const thrown: unknown[] = [];

function client(o: Partial<KmsClientOptions> = {}): KMSClient {
  const c = createKmsClient(simKmsOptions(sim.kmsUrl, o));
  clients.push(c);
  return c;
}

const failure = (p: Promise<unknown>) => rejection(p, thrown);

interface FaultState {
  hung: number;
  byOperation: Record<string, number>;
}

async function faults(): Promise<FaultState> {
  const res = await fetch(`${sim.url}/_control/kms/faults`);
  return (await res.json()) as FaultState;
}

async function inject(kind: 'throttle' | 'internal-error' | 'hang', count: number, operations: string[]): Promise<void> {
  const res = await fetch(`${sim.url}/_control/kms/faults/${kind}`, { method: 'POST', body: JSON.stringify({ count, operations }) });
  expect(res.status).toBe(200);
}

async function clearFaults(): Promise<void> {
  await fetch(`${sim.url}/_control/kms/faults/clear`, { method: 'POST' });
}

const calls = async (op: string) => (await faults()).byOperation[op] ?? 0;

function flipBit(b: Buffer, index: number): Buffer {
  const copy = Buffer.from(b);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

beforeAll(async () => {
  sim = await startTestSimulator();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await sim?.close();
});

describe('envelope round trip and binding (T4)', () => {
  let kms: KMSClient;
  let envelope: Envelope;
  const u1 = liveTokenEncryptionContext('user-1', randomUUID());
  const u2 = liveTokenEncryptionContext('user-2', randomUUID());
  let s1: SealedValue;
  let s2: SealedValue;

  beforeAll(async () => {
    kms = client();
    envelope = new Envelope(kms, { keyId: ALIAS, timeoutMs: 5_000 });
    s1 = await envelope.seal(`${CANARY}-u1`, u1);
    s2 = await envelope.seal(`${CANARY}-u2`, u2);
  });

  it('seals with a fresh data key and IV, records the key ARN, and opens to the same token', async () => {
    const described = await kms.send(new DescribeKeyCommand({ KeyId: ALIAS }));
    expect(s1.kmsKeyId).toBe(described.KeyMetadata!.Arn);
    expect(s1.iv).toHaveLength(12);
    expect(s1.ciphertext).toHaveLength(Buffer.byteLength(`${CANARY}-u1`) + 16);
    expect(s1.ciphertext.includes(Buffer.from(CANARY))).toBe(false);
    expect(s1.wrappedDek.equals(s2.wrappedDek)).toBe(false);
    expect(await envelope.open(s1, u1)).toBe(`${CANARY}-u1`);
    expect(await envelope.open(s2, u2)).toBe(`${CANARY}-u2`);
    // The context is a set of pairs: key order does not matter, to KMS or to the AAD.
    const reordered = Object.fromEntries(Object.entries(u1).reverse());
    expect(canonicalContextJson(reordered)).toBe(canonicalContextJson(u1));
    expect(await envelope.open(s1, reordered)).toBe(`${CANARY}-u1`);
  });

  it("u2's sealed token in u1's row does not open (whole value, wrapped key alone, ciphertext alone)", async () => {
    const whole = await failure(envelope.open(s2, u1));
    expect(whole).toBeInstanceOf(SealedTokenInvalidError);
    expect(whole).toMatchObject({ code: 'sealed_token_invalid', reason: 'invalid_ciphertext' });
    const dekOnly = await failure(envelope.open({ ...s1, wrappedDek: s2.wrappedDek }, u1));
    expect(dekOnly).toMatchObject({ code: 'sealed_token_invalid', reason: 'invalid_ciphertext' });
    // u1's data key opens at KMS, but the GCM tag binds the ciphertext to its own key and context.
    const ctOnly = await failure(envelope.open({ ...s1, ciphertext: s2.ciphertext, iv: s2.iv }, u1));
    expect(ctOnly).toMatchObject({ code: 'sealed_token_invalid', reason: 'tampered' });
  });

  it("the same user's other connection id does not open it", async () => {
    const other = liveTokenEncryptionContext('user-1', randomUUID());
    expect(await failure(envelope.open(s1, other))).toMatchObject({ code: 'sealed_token_invalid', reason: 'invalid_ciphertext' });
  });

  it('a one-bit flip anywhere fails: ciphertext, tag, IV (GCM) and wrapped data key (KMS)', async () => {
    for (const [what, value] of [
      ['ciphertext', { ...s1, ciphertext: flipBit(s1.ciphertext, 3) }],
      ['tag', { ...s1, ciphertext: flipBit(s1.ciphertext, s1.ciphertext.length - 1) }],
      ['iv', { ...s1, iv: flipBit(s1.iv, 0) }],
    ] as const) {
      expect({ what, err: await failure(envelope.open(value, u1)) }).toMatchObject({ what, err: { reason: 'tampered' } });
    }
    const dek = await failure(envelope.open({ ...s1, wrappedDek: flipBit(s1.wrappedDek, s1.wrappedDek.length - 2) }, u1));
    expect(dek).toMatchObject({ code: 'sealed_token_invalid', reason: 'invalid_ciphertext' });
    const short = await failure(envelope.open({ ...s1, iv: s1.iv.subarray(0, 8) }, u1));
    expect(short).toMatchObject({ reason: 'malformed' });
  });

  it('values sealed before RotateKeyOnDemand still open; new ones use the new material', async () => {
    const before = await envelope.seal(`${CANARY}-rot`, u1);
    const keyId = (await kms.send(new DescribeKeyCommand({ KeyId: ALIAS }))).KeyMetadata!.KeyId!;
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const after = await envelope.seal(`${CANARY}-rot2`, u1);
    expect(after.kmsKeyId).toBe(before.kmsKeyId); // rotation keeps the key, adds material
    expect(await envelope.open(before, u1)).toBe(`${CANARY}-rot`);
    expect(await envelope.open(s1, u1)).toBe(`${CANARY}-u1`);
    expect(await envelope.open(after, u1)).toBe(`${CANARY}-rot2`);
  });

  it('rewrap moves the data key to a new key (ciphertext untouched); the old KeyId then fails with IncorrectKey', async () => {
    const created = await kms.send(new CreateKeyCommand({ Description: 'next live-token key' }));
    const newArn = created.KeyMetadata!.Arn!;
    const alias = `alias/raxx-live-tokens-next-${randomBytes(4).toString('hex')}`;
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: created.KeyMetadata!.KeyId! }));
    const ciphertextBefore = Buffer.from(s1.ciphertext);

    const moved = await envelope.rewrap(s1, u1, alias);
    expect(moved.kmsKeyId).toBe(newArn);
    expect(moved.kmsKeyId).not.toBe(s1.kmsKeyId);
    expect(moved.wrappedDek.equals(s1.wrappedDek)).toBe(false);
    const rewrapped = { ...s1, ...moved };
    expect(await envelope.open(rewrapped, u1)).toBe(`${CANARY}-u1`);
    expect(s1.ciphertext.equals(ciphertextBefore)).toBe(true);
    expect(await envelope.keyArn(alias)).toBe(newArn);

    // Decrypt names the stored key: a blob of one key presented as another's is refused.
    const wrongKey = await failure(envelope.open({ ...rewrapped, kmsKeyId: s1.kmsKeyId }, u1));
    expect(wrongKey).toMatchObject({ code: 'sealed_token_invalid', reason: 'incorrect_key' });
    expect(await failure(envelope.open({ ...s1, kmsKeyId: newArn }, u1))).toMatchObject({ reason: 'incorrect_key' });
    // Rewrap checks the context too.
    expect(await failure(envelope.rewrap(s1, u2, alias))).toMatchObject({ reason: 'invalid_ciphertext' });
  });

  it('gives every seal its own IV and data key', async () => {
    const sealed = await Promise.all(Array.from({ length: 200 }, () => envelope.seal('x', u1)));
    expect(new Set(sealed.map((s) => s.iv.toString('hex'))).size).toBe(200);
    expect(new Set(sealed.map((s) => s.wrappedDek.toString('hex'))).size).toBe(200);
  });

  it('local AES-GCM half: 10^5 seals under one data key never repeat an IV; a wrong AAD fails', () => {
    const dek = randomBytes(32);
    const aad = Buffer.from(canonicalContextJson(u1));
    const { ciphertext, iv } = gcmSeal(dek, aad, Buffer.from(CANARY));
    expect(gcmOpen(dek, iv, aad, ciphertext).toString()).toBe(CANARY);
    expect(() => gcmOpen(dek, iv, Buffer.from(canonicalContextJson(u2)), ciphertext)).toThrow(SealedTokenInvalidError);
    const seen = new Set<string>();
    const one = Buffer.from('t');
    for (let i = 0; i < 100_000; i++) seen.add(gcmSeal(dek, aad, one).iv.toString('base64'));
    expect(seen.size).toBe(100_000);
  });

  it('refuses an empty encryption context (it would bind the value to nothing)', async () => {
    await expect(envelope.seal(CANARY, {})).rejects.toThrow(TypeError);
  });
});

describe('KMS client and failures (T5, K6)', () => {
  it('reads the secret on every request, so a rotated secret takes effect on the same client', async () => {
    let secret = 'not-the-secret';
    const kms = client({ secretAccessKey: () => secret, maxAttempts: 1 });
    const envelope = new Envelope(kms, { keyId: ALIAS, timeoutMs: 5_000 });
    const err = await failure(envelope.seal(CANARY, liveTokenEncryptionContext('u', 'c')));
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect(err).toMatchObject({ code: 'kms_unavailable', operation: 'GenerateDataKey' });
    secret = SIM_KMS_SECRET;
    const sealed = await envelope.seal(CANARY, liveTokenEncryptionContext('u', 'c'));
    expect(await envelope.open(sealed, liveTokenEncryptionContext('u', 'c'))).toBe(CANARY);
  });

  it('rejects an access key id without a secret', () => {
    expect(() => createKmsClient({ region: 'us-east-1', accessKeyId: 'AKID', timeoutMs: 100 })).toThrow(KmsConfigError);
  });

  it('retries throttling (3 attempts observed) and then fails with KmsUnavailableError', async () => {
    const envelope = new Envelope(client(), { keyId: ALIAS, timeoutMs: 15_000 });
    const ctx = liveTokenEncryptionContext('u-throttle', randomUUID());
    const before = await calls('GenerateDataKey');
    await inject('throttle', 3, ['GenerateDataKey']);
    const err = await failure(envelope.seal(CANARY, ctx));
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect(err).toMatchObject({ code: 'kms_unavailable', reason: 'ThrottlingException', operation: 'GenerateDataKey' });
    expect((await calls('GenerateDataKey')) - before).toBe(3);

    // Two throttles then success: the retry is what makes it work.
    await inject('throttle', 2, ['GenerateDataKey']);
    const mid = await calls('GenerateDataKey');
    const sealed = await envelope.seal(CANARY, ctx);
    expect((await calls('GenerateDataKey')) - mid).toBe(3);
    expect(await envelope.open(sealed, ctx)).toBe(CANARY);
  });

  it('retries a 500 KMSInternalException and then fails with KmsUnavailableError', async () => {
    const envelope = new Envelope(client(), { keyId: ALIAS, timeoutMs: 15_000 });
    const ctx = liveTokenEncryptionContext('u-500', randomUUID());
    const sealed = await envelope.seal(CANARY, ctx);
    const before = await calls('Decrypt');
    await inject('internal-error', 3, ['Decrypt']);
    const err = await failure(envelope.open(sealed, ctx));
    expect(err).toMatchObject({ code: 'kms_unavailable', reason: 'KMSInternalException', httpStatus: 500, operation: 'Decrypt' });
    expect((await calls('Decrypt')) - before).toBe(3);
  });

  it('does not retry InvalidCiphertextException', async () => {
    const envelope = new Envelope(client(), { keyId: ALIAS, timeoutMs: 5_000 });
    const ctx = liveTokenEncryptionContext('u-bad', randomUUID());
    const sealed = await envelope.seal(CANARY, ctx);
    const before = await calls('Decrypt');
    const err = await failure(envelope.open({ ...sealed, wrappedDek: flipBit(sealed.wrappedDek, 40) }, ctx));
    expect(err).toMatchObject({ code: 'sealed_token_invalid' });
    expect((await calls('Decrypt')) - before).toBe(1);
  });

  it('a hung KMS fails within the timeout (500 ms ⇒ well under 2 s), as KmsUnavailableError', async () => {
    const kms = client({ timeoutMs: 500 });
    const envelope = new Envelope(kms, { keyId: ALIAS, timeoutMs: 500 });
    const ctx = liveTokenEncryptionContext('u-hang', randomUUID());
    const sealed = await envelope.seal(CANARY, ctx);
    await inject('hang', 10, ['Decrypt']);
    try {
      const started = performance.now();
      const err = await failure(envelope.open(sealed, ctx));
      const elapsed = performance.now() - started;
      expect(err).toBeInstanceOf(KmsUnavailableError);
      expect(err).toMatchObject({ code: 'kms_unavailable', reason: 'timeout', operation: 'Decrypt' });
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(2_000);
      // The client gave up its sockets: the simulator holds no request for it any more.
      await waitFor(async () => (await faults()).hung === 0, 5_000, 'hung KMS requests to be released');
    } finally {
      await clearFaults();
    }
  });

  it('the client alone (no per-call signal) also fails a hung request: requestTimeout throws, it does not only warn', async () => {
    const kms = client({ timeoutMs: 500, maxAttempts: 1 });
    const envelope = new Envelope(client(), { keyId: ALIAS, timeoutMs: 5_000 });
    const ctx = liveTokenEncryptionContext('u-hang2', randomUUID());
    const sealed = await envelope.seal(CANARY, ctx);
    await inject('hang', 1, ['Decrypt']);
    try {
      const started = performance.now();
      const err = await failure(kms.send(new DecryptCommand({ CiphertextBlob: sealed.wrappedDek, EncryptionContext: ctx })));
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(err.name).toMatch(/Timeout/);
    } finally {
      await clearFaults();
    }
  });

  it('an unreachable endpoint and a disabled key are KmsUnavailableError', async () => {
    const closedPort = await import('node:net').then(
      (net) =>
        new Promise<number>((resolve) => {
          const s = net.createServer().listen(0, '127.0.0.1', () => {
            const { port } = s.address() as { port: number };
            s.close(() => resolve(port));
          });
        }),
    );
    const offline = new Envelope(client({ endpoint: `http://127.0.0.1:${closedPort}`, maxAttempts: 2 }), { keyId: ALIAS, timeoutMs: 5_000 });
    const net = await failure(offline.seal(CANARY, liveTokenEncryptionContext('u', 'c')));
    expect(net).toMatchObject({ code: 'kms_unavailable', reason: 'ECONNREFUSED' });

    const kms = client();
    const key = await kms.send(new CreateKeyCommand({ Description: 'to be disabled' }));
    const envelope = new Envelope(kms, { keyId: key.KeyMetadata!.Arn!, timeoutMs: 5_000 });
    const ctx = liveTokenEncryptionContext('u-disabled', randomUUID());
    const sealed = await envelope.seal(CANARY, ctx);
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyMetadata!.KeyId! }));
    expect(await failure(envelope.open(sealed, ctx))).toMatchObject({ code: 'kms_unavailable', reason: 'DisabledException' });
    expect(await failure(envelope.seal(CANARY, ctx))).toMatchObject({ code: 'kms_unavailable', reason: 'DisabledException' });
  });
});

describe('canary (T11)', () => {
  it('no error this file provoked carries a token, in its message, stack or serialised form', () => {
    expect(thrown.length).toBeGreaterThan(15);
    for (const err of thrown) {
      expect(errorText(err)).not.toContain('canary-live-token');
    }
  });
});
