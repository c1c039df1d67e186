// Small uWS HTTP helpers: abort tracking, JSON replies (corked after an await), bounded body reads.
import type { HttpResponse } from 'uWebSockets.js';

export const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  504: '504 Gateway Timeout',
  503: '503 Service Unavailable',
};

export interface ResState {
  aborted: boolean;
  onAbort?: () => void;
}

export function guard(res: HttpResponse): ResState {
  const state: ResState = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
    state.onAbort?.();
  });
  return state;
}

/** Synchronous reply (still inside the handler: already corked). */
export function json(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeStatus(STATUS_TEXT[status] ?? `${status}`).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
  for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
  res.end(JSON.stringify(body));
}

/** Reply after an await: skipped when the client went away, corked otherwise. */
export function respond(res: HttpResponse, state: ResState, status: number, body: unknown, headers?: Record<string, string>): void {
  if (state.aborted) return;
  state.aborted = true; // answered: nothing else may touch `res`
  res.cork(() => json(res, status, body, headers));
}

export function readBody(res: HttpResponse, state: ResState, limit: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    state.onAbort = () => {
      if (!done) resolve(null);
      done = true;
    };
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        resolve(null);
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
  });
}

