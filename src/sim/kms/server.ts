// The KMS-compatible endpoint: AWS JSON 1.1 over node:http, SigV4-verified, with fault injection for tests and dev.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, isLoopbackAddress, readBody, sendJson, type RouteHandler } from '../http/util.js';
import { KmsError } from './errors.js';
import { Input } from './input.js';
import { KmsService } from './operations.js';
import { verifySigV4, type KmsCredentials } from './sigv4.js';
import { KeyStore } from './store.js';

export type { KmsCredentials } from './sigv4.js';

/** The dev credentials the simulator accepts unless told otherwise (not a secret: the simulator is loopback-only). */
export const DEFAULT_KMS_CREDENTIALS: readonly KmsCredentials[] = [
  { accessKeyId: 'RAXXSIMKMSACCESSKEY0', secretAccessKey: 'raxx-sim-kms-dev-secret-access-key-000000' },
];
export const DEFAULT_KMS_REGION = 'us-east-1';
export const DEFAULT_KMS_ACCOUNT_ID = '000000000000';
export const DEFAULT_INITIAL_ALIASES: readonly string[] = ['alias/raxx-live-tokens'];

export interface KmsServerOptions {
  /** Access keys the SigV4 check accepts. Default: DEFAULT_KMS_CREDENTIALS (one dev pair). */
  credentials?: readonly KmsCredentials[];
  /** Region of the ARNs and of the credential scope requests must be signed for. Default `us-east-1`. */
  region?: string;
  /** 12-digit account id in ARNs. Default `000000000000`. */
  accountId?: string;
  /** Directory for `kms-keys.json` (key material included, mode 0600, written tmp + rename). Default: in memory only. */
  dataDir?: string;
  /** Aliases that get a fresh symmetric key on start when missing. Default `['alias/raxx-live-tokens']`. */
  initialAliases?: readonly string[];
  /** Allowed clock skew between x-amz-date and now. Default 15 minutes (as AWS). */
  maxClockSkewMs?: number;
  /** Clock for signatures and timestamps. Default `() => new Date()`. */
  now?: () => Date;
  /** Maximum request body. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * One line per answered request: operation, status and error name only — never bodies, keys or plaintexts.
   * Default: logs nothing.
   */
  log?: (line: string) => void;
}

export interface KmsServer {
  /** Serves one KMS API request (`POST /` with X-Amz-Target: TrentService.<Operation>). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Fault injection under `/_control/kms/…` (loopback callers only); false for other paths. */
  control: RouteHandler;
  /** Releases hung requests (their sockets are destroyed) and waits for pending key-file writes. */
  close(): Promise<void>;
}

/** What `GET /_control/kms/faults` answers. */
export interface KmsFaultState {
  throttle: number;
  internalError: number;
  hang: number;
  /** Requests currently held by the hang fault. */
  hung: number;
  /** KMS API requests received so far (including faulted and rejected ones). */
  requests: number;
  /** Requests per operation name (`(unknown)` for targets we do not implement, `(none)` without X-Amz-Target). */
  byOperation: Record<string, number>;
}

type FaultKind = 'throttle' | 'internalError' | 'hang';
interface Fault {
  remaining: number;
  /** Only requests for these operations are affected (all when undefined). */
  operations?: string[];
}
interface HungRequest {
  req: IncomingMessage;
  res: ServerResponse;
  release: (proceed: boolean) => void;
}

const TARGET_PREFIX = 'TrentService.';
const JSON_11 = 'application/x-amz-json-1.1';
const FAULT_ROUTES: Record<string, FaultKind> = { throttle: 'throttle', 'internal-error': 'internalError', hang: 'hang' };

export function createKmsServer(options: KmsServerOptions = {}): KmsServer {
  const credentials = options.credentials ?? DEFAULT_KMS_CREDENTIALS;
  const region = options.region ?? DEFAULT_KMS_REGION;
  const accountId = options.accountId ?? DEFAULT_KMS_ACCOUNT_ID;
  const now = options.now ?? (() => new Date());
  const maxSkewMs = options.maxClockSkewMs ?? 15 * 60_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const log = options.log ?? (() => {});
  if (credentials.length === 0) throw new Error('createKmsServer: at least one credential pair is required');
  if (!/^\d{12}$/.test(accountId)) throw new Error(`createKmsServer: accountId must be 12 digits, got ${accountId}`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw new Error(`createKmsServer: invalid region ${region}`);

  const store = new KeyStore(options.dataDir);
  const service = new KmsService(store, { region, accountId, now });
  if (service.ensureAliases(options.initialAliases ?? DEFAULT_INITIAL_ALIASES)) store.saveSync();

  const faults: Record<FaultKind, Fault> = { throttle: { remaining: 0 }, internalError: { remaining: 0 }, hang: { remaining: 0 } };
  const hung = new Set<HungRequest>();
  const byOperation: Record<string, number> = {};
  let requests = 0;
  let closed = false;

  function takeFault(operation: string): FaultKind | undefined {
    for (const kind of ['hang', 'internalError', 'throttle'] as const) {
      const f = faults[kind];
      if (f.remaining > 0 && (f.operations === undefined || f.operations.includes(operation))) {
        f.remaining -= 1;
        return kind;
      }
    }
    return undefined;
  }

  function releaseHung(proceed: boolean): void {
    for (const h of hung) h.release(proceed);
    hung.clear();
  }

  function reply(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    sendJson(res, status, body, { 'content-type': JSON_11, 'x-amzn-requestid': randomUUID(), ...extra });
  }

  function replyError(res: ServerResponse, err: KmsError): void {
    reply(res, err.status, { __type: err.name, message: err.message }, { 'x-amzn-errortype': err.name });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const targetHeader = req.headers['x-amz-target'];
    const target = typeof targetHeader === 'string' ? targetHeader.trim() : '';
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    // Counted and logged by name only when it is one of ours: the header is caller-controlled.
    const label = operation && Object.hasOwn(service.operations, operation) ? operation : target ? '(unknown)' : '(none)';
    requests += 1;
    byOperation[label] = (byOperation[label] ?? 0) + 1;
    let outcome = 'ok';
    try {
      if (closed) throw new KmsError('KMSInternalException', 'The service is shutting down.', 500);
      let body: Buffer;
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLargeError) throw new KmsError('RequestEntityTooLargeException', 'Request body too large.', 413);
        throw err;
      }

      const fault = takeFault(operation);
      if (fault === 'hang') {
        outcome = 'hung';
        const proceed = await new Promise<boolean>((resolve) => {
          const entry: HungRequest = { req, res, release: resolve };
          hung.add(entry);
          // A client that gives up (timeout, abort) closes the response: forget the request.
          res.once('close', () => {
            hung.delete(entry);
            resolve(false);
          });
        });
        if (!proceed || res.destroyed || req.socket.destroyed) {
          if (!res.destroyed) res.destroy();
          return;
        }
        outcome = 'ok';
      } else if (fault === 'internalError') {
        throw new KmsError('KMSInternalException', 'Injected fault: internal error.', 500);
      } else if (fault === 'throttle') {
        throw new KmsError('ThrottlingException', 'Rate exceeded');
      }

      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'POST' || path !== '/') {
        throw new KmsError('UnknownOperationException', `${req.method ?? '?'} ${path ?? ''} is not a KMS API request; use POST / with X-Amz-Target.`, 404);
      }
      verifySigV4({ method: req.method, url: req.url ?? '/', headers: req.headers, body }, { credentials, region, service: 'kms', now: now(), maxSkewMs });

      const op = operation ? service.operations[operation] : undefined;
      if (!op || !Object.hasOwn(service.operations, operation)) {
        throw new KmsError('UnknownOperationException', target ? `Unknown operation ${target}` : 'Missing X-Amz-Target header');
      }
      const input = Input.parse(body);
      const result = await op(input);
      reply(res, 200, result);
    } catch (err) {
      const kmsError =
        err instanceof KmsError ? err : new KmsError('KMSInternalException', 'The request was rejected because an internal exception occurred.', 500);
      outcome = kmsError.name;
      replyError(res, kmsError);
    } finally {
      if (outcome !== 'hung') log(`kms ${label} ${outcome}`);
    }
  }

  async function readControlBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    const raw = await readBody(req, 64 * 1024);
    if (raw.length === 0) return {};
    const value: unknown = JSON.parse(raw.toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('body must be a JSON object');
    return value as Record<string, unknown>;
  }

  function faultState(): KmsFaultState {
    return {
      throttle: faults.throttle.remaining,
      internalError: faults.internalError.remaining,
      hang: faults.hang.remaining,
      hung: hung.size,
      requests,
      byOperation: { ...byOperation },
    };
  }

  const control: RouteHandler = async (req, res, url) => {
    const prefix = '/_control/kms/';
    if (!url.pathname.startsWith(prefix)) return false;
    if (!isLoopbackAddress(req.socket.remoteAddress)) {
      sendJson(res, 403, { error: 'forbidden', message: 'The control endpoint answers loopback callers only.' });
      return true;
    }
    const route = url.pathname.slice(prefix.length);
    try {
      if (route === 'faults' && req.method === 'GET') {
        sendJson(res, 200, faultState());
        return true;
      }
      if ((route === 'faults/clear' && req.method === 'POST') || (route === 'faults' && req.method === 'DELETE')) {
        for (const f of Object.values(faults)) {
          f.remaining = 0;
          delete f.operations;
        }
        releaseHung(true);
        sendJson(res, 200, faultState());
        return true;
      }
      const kind = route.startsWith('faults/') ? FAULT_ROUTES[route.slice('faults/'.length)] : undefined;
      if (kind && req.method === 'POST') {
        const body = await readControlBody(req);
        const count = body.count ?? 1;
        if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 1_000_000) {
          sendJson(res, 400, { error: 'bad_request', message: 'count must be an integer from 0 to 1000000' });
          return true;
        }
        const ops = body.operations;
        if (ops !== undefined && (!Array.isArray(ops) || !ops.every((o) => typeof o === 'string'))) {
          sendJson(res, 400, { error: 'bad_request', message: 'operations must be a list of operation names, e.g. ["Decrypt"]' });
          return true;
        }
        faults[kind] = ops === undefined ? { remaining: count } : { remaining: count, operations: ops as string[] };
        sendJson(res, 200, faultState());
        return true;
      }
      sendJson(res, 404, { error: 'not_found', message: `No control route ${req.method ?? ''} ${url.pathname}` });
      return true;
    } catch (err) {
      sendJson(res, 400, { error: 'bad_request', message: err instanceof Error ? err.message : 'bad request' });
      return true;
    }
  };

  async function close(): Promise<void> {
    closed = true;
    releaseHung(false);
    await store.flushed();
  }

  return { handle, control, close };
}
