// Replies of the paper API in Alpaca's shapes: JSON bodies, `{code, message}` errors with Alpaca's 8-digit codes,
// and the 204 / 207 answers of cancel and cancel-all.
import type { HttpResponse } from 'uWebSockets.js';
import type { ApiErrorCode } from '../market-rest.js';
import type { ResState } from '../response.js';

/** Alpaca's numeric error codes (the stable contract; messages may change). */
export const ALPACA_CODES = {
  invalid: 40010001,
  malformed: 40010000,
  unauthorized: 40110000,
  forbidden: 40310000,
  notFound: 40410000,
  unprocessable: 42210000,
  rateLimited: 42910000,
  internal: 50010000,
  unavailable: 50310000,
  timeout: 50410000,
} as const;

export interface AlpacaError {
  status: number;
  code: number;
  message: string;
}

const STATUS: Record<number, string> = {
  200: '200 OK',
  204: '204 No Content',
  207: '207 Multi-Status',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

/** Answers once (skipped when the client went away or an answer was sent), corked; 204 has no body. */
export function reply(res: HttpResponse, state: ResState, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (state.aborted) return;
  state.aborted = true;
  const text = status === 204 || body === undefined ? '' : JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(STATUS[status] ?? `${status} Status`);
    if (status !== 204) res.writeHeader('content-type', 'application/json');
    res.writeHeader('cache-control', 'no-store');
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(text);
  });
}

export function replyError(res: HttpResponse, state: ResState, err: AlpacaError, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  reply(res, state, err.status, { code: err.code, message: err.message, ...extra }, headers);
}

export function isAlpacaError(v: unknown): v is AlpacaError {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Partial<AlpacaError>;
  return typeof e.status === 'number' && typeof e.code === 'number' && typeof e.message === 'string';
}

export const alpacaError = (status: number, code: number, message: string): AlpacaError => ({ status, code, message });
export const notFound = (message: string): AlpacaError => alpacaError(404, ALPACA_CODES.notFound, message);
export const invalid = (message: string, status = 422): AlpacaError => alpacaError(status, ALPACA_CODES.invalid, message);

const ADMIT_CODES: Partial<Record<ApiErrorCode, number>> = {
  unauthorized: ALPACA_CODES.unauthorized,
  unknown_user: ALPACA_CODES.unauthorized,
  rate_limited: ALPACA_CODES.rateLimited,
};

/** `admit`'s refusals (401, 403, 429 + Retry-After) in Alpaca's shape; drop-in for `sendError`. */
export function admitFailure(
  res: HttpResponse,
  state: ResState,
  status: number,
  code: ApiErrorCode,
  message: string,
  _extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  const alpaca = status === 401 ? 'request is not authorized' : message;
  reply(res, state, status, { code: ADMIT_CODES[code] ?? ALPACA_CODES.internal, message: alpaca }, headers);
}
