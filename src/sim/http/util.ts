// Small HTTP helpers for the simulator's node:http handlers (the simulator shares no code with the app).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A handler returns true when it answered the request, false to let the next one try. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;

export class BodyTooLargeError extends Error {
  constructor() {
    super('request body too large');
  }
}

export async function readBody(req: IncomingMessage, limitBytes = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Alpaca's error body: `{"code": 40010001, "message": "..."}` (the 8-digit code is the stable contract). */
export function sendAlpacaError(res: ServerResponse, status: number, code: number | undefined, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, code === undefined ? { message } : { code, message }, headers);
}

/** True for 127.0.0.0/8 and ::1 (also IPv4-mapped): the control endpoint answers only these. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || a.startsWith('127.');
}
