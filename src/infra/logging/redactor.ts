// Scrubs secrets out of log records: by field name at any depth, by known secret value, and by pattern inside strings.

export const REDACTED = '[REDACTED]';

/** Field names whose value is a secret wherever they appear (matched case-insensitively, any nesting depth). */
const SECRET_KEY =
  /(pass(word|wd)?|secret|token|authorization|cookie|api[-_]?key|key[-_]?id|private[-_]?key|ciphertext|wrapped[-_]?dek|plaintext|credential|signature|code[-_]?verifier|^code$|^otp|totp|recovery)/i;

/** Patterns that carry a secret inside free text: URLs, headers, driver error messages. */
const TEXT_PATTERNS: Array<[RegExp, string]> = [
  // OAuth codes, tokens and signatures in query strings (`?code=…&state=…`).
  [
    /([?&#](?:code|state|access_token|refresh_token|id_token|token|client_secret|secret|key|api_key|password|signature|X-Amz-Signature|X-Amz-Credential)=)[^&#\s"'\\]+/gi,
    `$1${REDACTED}`,
  ],
  // user:password@ in connection strings.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@"']*:)[^@\s"'/]+@/gi, `$1${REDACTED}@`],
  // Authorization header values.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/g, `$1 ${REDACTED}`],
  // drizzle puts every query parameter in its error message ("Failed query: …\nparams: …").
  [/(params:\s*)[^"\n]*/g, `$1${REDACTED}`],
  // key=value / key: value pairs in free text.
  [
    /\b((?:access_token|refresh_token|client_secret|secret_key|api_key|password|apca-api-secret-key|apca-api-key-id)["']?\s*[:=]\s*["']?)[^\s"',&}]+/gi,
    `$1${REDACTED}`,
  ],
];

export interface Redactor {
  /** Teaches the redactor a secret value so it is removed wherever it appears (values shorter than 6 chars are ignored). */
  learn(value: string | undefined): void;
  /** Returns a copy of a structured record with secret fields replaced. */
  scrubObject<T>(value: T): T;
  /** Removes known secret values and secret-bearing patterns from a string. */
  scrubText(text: string): string;
}

export function createRedactor(initialSecrets: Iterable<string | undefined> = []): Redactor {
  const known = new Set<string>();
  let knownPattern: RegExp | undefined;

  const learn = (value: string | undefined) => {
    if (!value || value.length < 6 || known.has(value)) return;
    known.add(value);
    // Longest first so a secret that contains another is removed whole.
    const alternatives = [...known].sort((a, b) => b.length - a.length).map(escapeRegExp);
    knownPattern = new RegExp(alternatives.join('|'), 'g');
  };

  const scrubText = (text: string): string => {
    let out = text;
    if (knownPattern) out = out.replace(knownPattern, REDACTED);
    for (const [pattern, replacement] of TEXT_PATTERNS) out = out.replace(pattern, replacement);
    return out;
  };

  const scrubObject = <T>(value: T): T => scrubValue(value, scrubText, new WeakSet()) as T;

  for (const s of initialSecrets) learn(s);
  return { learn, scrubObject, scrubText };
}

function scrubValue(value: unknown, scrubText: (s: string) => string, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return REDACTED; // raw bytes are never worth a log line
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, scrubText, seen));
  if (value instanceof Error) return scrubValue(serializeError(value), scrubText, seen);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = isSecretField(key, v) ? REDACTED : scrubValue(v, scrubText, seen);
  }
  return out;
}

function isSecretField(key: string, v: unknown): boolean {
  if (v === null || v === undefined || typeof v === 'boolean' || !SECRET_KEY.test(key)) return false;
  // Error codes (ECONNREFUSED, DB_ERROR, 40310000) are not OAuth authorization codes.
  if (key === 'code' && (typeof v === 'number' || (typeof v === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(v)))) return false;
  return true;
}

/** Keeps type, message, code, stack and cause; drops everything else an error may carry (query params, configs). */
export function serializeError(err: Error): Record<string, unknown> {
  // Callers also log `err: String(err)`: keep that text (an error's fields would all be undefined, printing `{}`).
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.stack) out.stack = err.stack;
  if (err.cause instanceof Error) out.cause = serializeError(err.cause);
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
