// The simulated KMS's edges: SigV4 verification, fault injection (retries, 500s, hangs) and malformed requests.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CreateKeyCommand, DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { createKmsServer, type KmsFaultState, type KmsServer } from '../../../src/sim/kms/index.js';

const region = 'us-east-1';
const credentials = { accessKeyId: 'TESTKMSPROTOKEY00001', secretAccessKey: 'test-secret-protocol' };
const logLines: string[] = [];

let kms: KmsServer;
let server: Server;
let base: string;
const clients: KMSClient[] = [];

function kmsClient(extra: Partial<KMSClientConfig> = {}): KMSClient {
  const c = new KMSClient({ endpoint: base, region, credentials, maxAttempts: 1, ...extra });
  clients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number; attempts?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

async function control(method: string, path: string, body?: unknown): Promise<KmsFaultState> {
  const res = await fetch(`${base}/_control/kms/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(res.status).toBe(200);
  return (await res.json()) as KmsFaultState;
}

beforeAll(async () => {
  kms = createKmsServer({ credentials: [credentials], region, log: (line) => logLines.push(line) });
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    void (async () => {
      if (await kms.control(req, res, url)) return;
      await kms.handle(req, res);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await control('POST', 'faults/clear');
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await kms.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('simulated KMS: SigV4', () => {
  it('accepts the SDK-signed request and rejects a wrong secret with InvalidSignatureException', async () => {
    await kmsClient().send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }));
    const err = await failure(
      kmsClient({ credentials: { ...credentials, secretAccessKey: 'not-the-secret' } }).send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' })),
    );
    expect(err.name).toBe('InvalidSignatureException');
    expect(err.$metadata?.httpStatusCode).toBe(400);
  });

  it('rejects an unknown access key with UnrecognizedClientException', async () => {
    const err = await failure(
      kmsClient({ credentials: { accessKeyId: 'UNKNOWNACCESSKEY0000', secretAccessKey: credentials.secretAccessKey } }).send(
        new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }),
      ),
    );
    expect(err.name).toBe('UnrecognizedClientException');
  });

  it('rejects a body altered after signing, a wrong region and a clock beyond 15 minutes; accepts 10 minutes', async () => {
    const tampering = kmsClient();
    tampering.middlewareStack.add(
      (next) => async (args) => {
        // The deserialize step runs after signing: change one byte of the body (same length).
        const request = args.request as { body: Uint8Array | string };
        const text = typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body);
        request.body = text.replace('raxx-live-tokens', 'raxx-live-tokenz');
        return next(args);
      },
      { step: 'deserialize', name: 'tamperAfterSigning' },
    );
    expect((await failure(tampering.send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' })))).name).toBe('InvalidSignatureException');

    const wrongRegion = kmsClient({ region: 'eu-west-1' });
    expect((await failure(wrongRegion.send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' })))).name).toBe('InvalidSignatureException');

    const skewed = kmsClient({ systemClockOffset: 20 * 60_000 });
    const skewErr = await failure(skewed.send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' })));
    expect(skewErr.name).toBe('InvalidSignatureException');
    expect(skewErr.message).toMatch(/Signature not yet current/);
    await kmsClient({ systemClockOffset: -10 * 60_000 }).send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }));
  });

  it('an unsigned request gets MissingAuthenticationTokenException', async () => {
    const res = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(await res.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
  });
});

describe('simulated KMS: fault injection', () => {
  it('throttling for 2 requests is retried by the SDK and the call succeeds on attempt 3', async () => {
    const before = (await control('GET', 'faults')).requests;
    await control('POST', 'faults/throttle', { count: 2 });
    const out = await kmsClient({ maxAttempts: 3 }).send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }));
    expect(out.$metadata.attempts).toBe(3);
    const state = await control('GET', 'faults');
    expect(state.requests - before).toBe(3);
    expect(state.throttle).toBe(0);
  });

  it('a persistent 500 fails with KMSInternalException after the SDK retries', async () => {
    const before = (await control('GET', 'faults')).requests;
    await control('POST', 'faults/internal-error', { count: 100 });
    const err = await failure(kmsClient({ maxAttempts: 2 }).send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' })));
    expect(err.name).toBe('KMSInternalException');
    expect(err.$metadata?.httpStatusCode).toBe(500);
    expect(err.$metadata?.attempts).toBe(2);
    expect((await control('GET', 'faults')).requests - before).toBe(2);
  });

  it('faults can target one operation', async () => {
    await control('POST', 'faults/internal-error', { count: 1, operations: ['Decrypt'] });
    const c = kmsClient();
    const gen = await c.send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens', KeySpec: 'AES_256' }));
    expect((await failure(c.send(new DecryptCommand({ CiphertextBlob: gen.CiphertextBlob })))).name).toBe('KMSInternalException');
    await c.send(new DecryptCommand({ CiphertextBlob: gen.CiphertextBlob }));
  });

  it('a hung request fails within the client timeout; clearing the fault lets the next call through', async () => {
    await control('POST', 'faults/hang', { count: 1 });
    const started = Date.now();
    const err = await failure(kmsClient().send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }), { abortSignal: AbortSignal.timeout(500) }));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.name).toMatch(/Abort|Timeout/);
    await control('POST', 'faults/clear');
    await kmsClient().send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }));
  });

  it('a hung request held until clear is then answered', async () => {
    await control('POST', 'faults/hang', { count: 1 });
    let settled = false;
    const pending = kmsClient()
      .send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }))
      .finally(() => (settled = true));
    await expect.poll(async () => (await control('GET', 'faults')).hung).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await control('POST', 'faults/clear');
    expect((await pending).KeyMetadata?.KeyId).toBeDefined();
  });

  it('the control routes answer loopback callers only, and leave other paths to the next handler', async () => {
    const remote = createServer((req, res) => {
      Object.defineProperty(req.socket, 'remoteAddress', { value: '203.0.113.5', configurable: true });
      void (async () => {
        if (!(await kms.control(req, res, new URL(req.url ?? '/', 'http://localhost')))) {
          res.writeHead(418).end();
        }
      })();
    });
    await new Promise<void>((resolve) => remote.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(remote.address() as AddressInfo).port}`;
      const res = await fetch(`${url}/_control/kms/faults/throttle`, { method: 'POST', body: '{"count":5}' });
      expect(res.status).toBe(403);
      expect((await control('GET', 'faults')).throttle).toBe(0);
      expect((await fetch(`${url}/other`)).status).toBe(418);
    } finally {
      remote.closeAllConnections();
      await new Promise<void>((resolve) => remote.close(() => resolve()));
    }
  });

  it('rejects bad control input', async () => {
    const res = await fetch(`${base}/_control/kms/faults/throttle`, { method: 'POST', body: '{"count":-1}' });
    expect(res.status).toBe(400);
    expect((await fetch(`${base}/_control/kms/nope`)).status).toBe(404);
  });
});

describe('simulated KMS: malformed requests', () => {
  /** A client whose request is altered before it is signed, so only the alteration is wrong. */
  function alteredClient(alter: (request: { body: string; headers: Record<string, string> }) => void): KMSClient {
    const c = kmsClient();
    c.middlewareStack.add(
      (next) => async (args) => {
        alter(args.request as { body: string; headers: Record<string, string> });
        return next(args);
      },
      { step: 'build', name: 'alterBeforeSigning' },
    );
    return c;
  }

  it('malformed JSON is SerializationException, a missing target is UnknownOperationException, and the server stays up', async () => {
    const badJson = alteredClient((r) => {
      r.body = '{"KeyId": ';
      r.headers['content-length'] = String(Buffer.byteLength(r.body));
    });
    expect((await failure(badJson.send(new DescribeKeyCommand({ KeyId: 'x' })))).name).toBe('SerializationException');

    const notAnObject = alteredClient((r) => {
      r.body = '[1,2]';
      r.headers['content-length'] = String(Buffer.byteLength(r.body));
    });
    expect((await failure(notAnObject.send(new DescribeKeyCommand({ KeyId: 'x' })))).name).toBe('SerializationException');

    const wrongType = alteredClient((r) => {
      r.body = '{"KeyId": 42}';
      r.headers['content-length'] = String(Buffer.byteLength(r.body));
    });
    expect((await failure(wrongType.send(new DescribeKeyCommand({ KeyId: 'x' })))).name).toBe('SerializationException');

    const noTarget = alteredClient((r) => {
      delete r.headers['x-amz-target'];
    });
    const err = await failure(noTarget.send(new DescribeKeyCommand({ KeyId: 'x' })));
    expect(err.name).toBe('UnknownOperationException');

    const unknownOp = alteredClient((r) => {
      r.headers['x-amz-target'] = 'TrentService.MakeCoffee';
    });
    expect((await failure(unknownOp.send(new DescribeKeyCommand({ KeyId: 'x' })))).name).toBe('UnknownOperationException');

    const prototypeOp = alteredClient((r) => {
      r.headers['x-amz-target'] = 'TrentService.constructor';
    });
    expect((await failure(prototypeOp.send(new DescribeKeyCommand({ KeyId: 'x' })))).name).toBe('UnknownOperationException');

    expect((await kmsClient().send(new DescribeKeyCommand({ KeyId: 'alias/raxx-live-tokens' }))).KeyMetadata).toBeDefined();
  });

  it('missing required members and bad values are ValidationException; bad base64 is SerializationException', async () => {
    const c = kmsClient();
    expect((await failure(c.send(new DescribeKeyCommand({} as never)))).name).toBe('ValidationException');
    expect((await failure(c.send(new CreateKeyCommand({ KeySpec: 'HMAC_256' })))).name).toBe('ValidationException');
    const badBlob = alteredClient((r) => {
      r.body = '{"CiphertextBlob": "not base64!"}';
      r.headers['content-length'] = String(Buffer.byteLength(r.body));
    });
    expect((await failure(badBlob.send(new DecryptCommand({ CiphertextBlob: new Uint8Array([1]) })))).name).toBe('SerializationException');
  });

  it('logs operation and outcome only, never key material or plaintexts', async () => {
    const gen = await kmsClient().send(new GenerateDataKeyCommand({ KeyId: 'alias/raxx-live-tokens', KeySpec: 'AES_256' }));
    const secrets = [Buffer.from(gen.Plaintext!).toString('base64'), Buffer.from(gen.CiphertextBlob!).toString('base64'), credentials.secretAccessKey];
    expect(logLines).toContain('kms GenerateDataKey ok');
    for (const line of logLines) {
      expect(line).toMatch(/^kms \S+ \S+$/);
      for (const s of secrets) expect(line).not.toContain(s);
    }
  });
});
