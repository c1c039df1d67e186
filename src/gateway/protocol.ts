// The gateway's WebSocket protocol: client messages (validated with zod) and server message builders.
// Market-data frames are never built here: they travel as the feed serialised them (see docs/protocol.md).
import { z } from 'zod';
import { symbolSchema, tickKinds, type TickKind } from '../contracts/index.js';
import type { MarketChannel, Tier } from '../domain/index.js';

export const MARKET_CHANNELS = ['quotes', 'trades', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds', 'depth'] as const satisfies readonly MarketChannel[];

/** Stable error codes a client can switch on. */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_message'
  | 'unknown_action'
  | 'invalid_symbol'
  | 'tier_required'
  | 'symbol_limit'
  | 'rate_limited'
  | 'binary_not_supported'
  | 'internal';

/** Raw symbol strings: validated one by one afterwards so the error can name the bad ones. */
const symbolList = z.array(z.string().max(64));

const channelLists = Object.fromEntries(MARKET_CHANNELS.map((c) => [c, symbolList.optional()])) as Record<
  MarketChannel,
  z.ZodOptional<typeof symbolList>
>;

/** `"q:AAPL": 123` — resume after this seq. */
const resumeKey = /^([qtbudsl]):(.+)$/;

export const subscribeSchema = z
  .object({
    action: z.literal('subscribe'),
    ...channelLists,
    resume: z.record(z.string().regex(resumeKey, 'resume keys are <kind>:<SYMBOL>'), z.number().int().nonnegative()).optional(),
  })
  .strict();

export const unsubscribeSchema = z
  .object({ action: z.literal('unsubscribe'), ...channelLists })
  .strict();

export const pingSchema = z.object({ action: z.literal('ping') }).strict();

export type SubscribeMessage = z.infer<typeof subscribeSchema>;
export type UnsubscribeMessage = z.infer<typeof unsubscribeSchema>;

export const KNOWN_ACTIONS = ['subscribe', 'unsubscribe', 'ping'] as const;
export type Action = (typeof KNOWN_ACTIONS)[number];

export type ParsedMessage =
  | { ok: true; action: 'subscribe'; msg: SubscribeMessage }
  | { ok: true; action: 'unsubscribe'; msg: UnsubscribeMessage }
  | { ok: true; action: 'ping' }
  | { ok: false; code: ErrorCode; message: string; extra?: Record<string, unknown> };

/** Parses one client text frame. Never throws. */
export function parseClientMessage(text: string): ParsedMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'invalid_json', message: 'message is not valid JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 'invalid_message', message: 'message must be a JSON object' };
  }
  const action = (raw as { action?: unknown }).action;
  if (typeof action !== 'string') return { ok: false, code: 'invalid_message', message: 'missing "action"' };
  if (!(KNOWN_ACTIONS as readonly string[]).includes(action)) {
    return { ok: false, code: 'unknown_action', message: `unknown action`, extra: { action: action.slice(0, 32) } };
  }
  const schema = action === 'subscribe' ? subscribeSchema : action === 'unsubscribe' ? unsubscribeSchema : pingSchema;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, code: 'invalid_message', message: `${issue.path.join('.') || '(message)'}: ${issue.message}` };
  }
  if (action === 'ping') return { ok: true, action: 'ping' };
  if (action === 'subscribe') return { ok: true, action: 'subscribe', msg: parsed.data as SubscribeMessage };
  return { ok: true, action: 'unsubscribe', msg: parsed.data as UnsubscribeMessage };
}

/** Upper-cases and validates symbols; returns the valid ones (deduplicated, in order) and the invalid ones. */
export function normaliseSymbols(list: readonly string[]): { valid: string[]; invalid: string[] } {
  const valid = new Set<string>();
  const invalid: string[] = [];
  for (const s of list) {
    const up = s.trim().toUpperCase();
    if (symbolSchema.safeParse(up).success) valid.add(up);
    else invalid.push(s.slice(0, 16));
  }
  return { valid: [...valid], invalid };
}

export function parseResumeKey(key: string): { kind: TickKind; symbol: string } | null {
  const m = resumeKey.exec(key);
  if (!m) return null;
  const kind = m[1] as TickKind;
  const symbol = m[2]!.toUpperCase();
  if (!tickKinds.includes(kind) || !symbolSchema.safeParse(symbol).success) return null;
  return { kind, symbol };
}

// ---- server → client messages (small control messages; serialised here) ----

export function errorMessage(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ T: 'error', code, message, ...extra });
}

export function welcomeMessage(user: string, tier: Tier, status: unknown): string {
  return JSON.stringify({ T: 'welcome', user, tier, status });
}

export function subscriptionMessage(subs: { get(channel: MarketChannel): Iterable<string> | undefined }): string {
  const body: Record<string, unknown> = { T: 'subscription' };
  for (const c of MARKET_CHANNELS) body[c] = [...(subs.get(c) ?? [])];
  return JSON.stringify(body);
}

export function resumeMessage(key: string, recovered: boolean, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ T: 'resume', key, recovered, ...extra });
}

export function tierMessage(tier: Tier): string {
  return JSON.stringify({ T: 'tier', tier });
}

export function heartbeatMessage(t: number): string {
  return `{"T":"hb","t":${t}}`;
}

export function pongMessage(t: number): string {
  return `{"T":"pong","t":${t}}`;
}

/** Frames (each already serialised JSON) as one array frame, without parsing them. */
export function packFrames(frames: readonly string[]): string {
  return `[${frames.join(',')}]`;
}
