// The private per-user event log: every decision and event of a user's actor, resumable by a per-user seq.
import { z } from 'zod';

export const userEventKeys = {
  /** Redis stream of one user's events (bounded, MAXLEN ~ USER_EVENT_LOG_MAX); fields `s` (seq) and `f` (frame). */
  log: (userId: string) => `{u:${userId}}:events`,
  /** Per-user seq counter (INCR in the same script that appends). */
  seq: (userId: string) => `{u:${userId}}:seq`,
} as const;

/** Pub/sub channel carrying each appended frame to the gateways (they forward it to that user's sockets only). */
export const userEventChannel = (userId: string) => `user-events:${userId}`;

export const USER_EVENT_LOG_MAX = 10_000;

/**
 * One private event as published: `T: "event"`, the user's contiguous `seq`, the command it answers (if any),
 * its kind (`decision` for a command's outcome, or a domain event such as `account.opened`) and its data.
 */
export const userEventSchema = z.object({
  T: z.literal('event'),
  seq: z.number().int().positive(),
  kind: z.string().min(1),
  commandId: z.string().optional(),
  outcome: z.enum(['accepted', 'rejected']).optional(),
  code: z.string().optional(),
  data: z.unknown().optional(),
  at: z.string(),
});
export type UserEvent = z.infer<typeof userEventSchema>;
