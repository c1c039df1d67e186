// AWS Signature Version 4 verification for the simulated KMS: canonical request, string to sign, HMAC key chain.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { KmsError } from './errors.js';

export interface KmsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedRequest {
  method: string;
  /** The request target as received (`/` or `/?a=b`). */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface VerifyOptions {
  credentials: readonly KmsCredentials[];
  region: string;
  service: string;
  now: Date;
  /** Allowed difference between the request's x-amz-date and now (AWS: 15 minutes). */
  maxSkewMs: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** RFC 3986 percent-encoding as SigV4 wants it (unreserved: A-Z a-z 0-9 - _ . ~). */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeLoose(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

function canonicalUri(path: string): string {
  // Non-S3 services normalise the path and encode each segment twice (once for the wire, once for signing).
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const joined = `/${segments.join('/')}${path.endsWith('/') && segments.length > 0 ? '/' : ''}`;
  return joined
    .split('/')
    .map((s) => uriEncode(uriEncode(decodeLoose(s))))
    .join('/');
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const k = eq < 0 ? p : p.slice(0, eq);
      const v = eq < 0 ? '' : p.slice(eq + 1);
      return [uriEncode(decodeLoose(k)), uriEncode(decodeLoose(v))] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** Parses `YYYYMMDDTHHMMSSZ`. */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const formatAmzDate = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(value: string): ParsedAuthorization {
  if (!value.startsWith(`${ALGORITHM} `)) {
    throw new KmsError('IncompleteSignatureException', `Authorization header requires '${ALGORITHM}' as the algorithm.`);
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((f) => !fields.get(f));
    throw new KmsError(
      'IncompleteSignatureException',
      `Authorization header requires ${missing.map((m) => `'${m}'`).join(', ')} parameter(s). Authorization=${ALGORITHM} …`,
    );
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !scope[0]) {
    throw new KmsError('IncompleteSignatureException', `Credential should have exactly 5 slash-separated components ending in 'aws4_request'.`);
  }
  const [accessKeyId, date, region, service] = scope as [string, string, string, string, string];
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    throw new KmsError('InvalidSignatureException', SIGNATURE_MISMATCH);
  }
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/**
 * Verifies a SigV4-signed request; throws the error AWS would answer with, returns the caller's access key id on success.
 * The payload hash is always computed from the body (a wrong x-amz-content-sha256 simply fails the signature).
 */
export function verifySigV4(req: SignedRequest, opts: VerifyOptions): string {
  const authorization = headerValue(req.headers, 'authorization');
  if (!authorization) throw new KmsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const auth = parseAuthorization(authorization);

  const credentials = opts.credentials.find((c) => c.accessKeyId === auth.accessKeyId);
  if (!credentials) throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');

  const amzDateHeader = headerValue(req.headers, 'x-amz-date');
  const dateHeader = headerValue(req.headers, 'date');
  const requestDate = amzDateHeader ? parseAmzDate(amzDateHeader) : dateHeader ? new Date(dateHeader) : undefined;
  if (!requestDate || Number.isNaN(requestDate.getTime())) {
    throw new KmsError('IncompleteSignatureException', `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.`);
  }
  const amzDate = formatAmzDate(requestDate);
  if (auth.date !== amzDate.slice(0, 8)) {
    throw new KmsError('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  const skew = requestDate.getTime() - opts.now.getTime();
  const minutes = Math.round(opts.maxSkewMs / 60_000);
  if (skew < -opts.maxSkewMs) {
    const earliest = formatAmzDate(new Date(opts.now.getTime() - opts.maxSkewMs));
    throw new KmsError('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than ${earliest} (${formatAmzDate(opts.now)} - ${minutes} min.)`);
  }
  if (skew > opts.maxSkewMs) {
    const latest = formatAmzDate(new Date(opts.now.getTime() + opts.maxSkewMs));
    throw new KmsError('InvalidSignatureException', `Signature not yet current: ${amzDate} is still later than ${latest} (${formatAmzDate(opts.now)} + ${minutes} min.)`);
  }
  if (auth.region !== opts.region) {
    throw new KmsError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${auth.region}'.`);
  }
  if (auth.service !== opts.service) {
    throw new KmsError('InvalidSignatureException', `Credential should be scoped to correct service: '${opts.service}'.`);
  }
  if (!auth.signedHeaders.includes('host')) {
    throw new KmsError('InvalidSignatureException', `'Host' must be a 'SignedHeader' in the AWS Authorization.`);
  }

  const queryAt = req.url.indexOf('?');
  const path = queryAt < 0 ? req.url : req.url.slice(0, queryAt);
  const query = queryAt < 0 ? '' : req.url.slice(queryAt + 1);
  const canonicalHeaders = auth.signedHeaders
    .map((name) => `${name}:${(headerValue(req.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalUri(path),
    canonicalQuery(query),
    canonicalHeaders,
    auth.signedHeaders.join(';'),
    sha256Hex(req.body),
  ].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');

  const kDate = hmac(`AWS4${credentials.secretAccessKey}`, auth.date);
  const kRegion = hmac(kDate, auth.region);
  const kService = hmac(kRegion, auth.service);
  const kSigning = hmac(kService, 'aws4_request');
  const expected = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest();
  const given = Buffer.from(auth.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new KmsError('InvalidSignatureException', SIGNATURE_MISMATCH);
  }
  return credentials.accessKeyId;
}
