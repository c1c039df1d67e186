// The end-of-day settle command that `workers` fan out into every user's partition (the account actor applies it).
import { z } from 'zod';
import { nameUuid } from './name-uuid.js';

/** Command type of the end-of-day settle (one per user and trading day). */
export const SETTLE_COMMAND_TYPE = 'mbt.settle';

/** An exchange trading day (America/New_York calendar date). */
export const tradingDaySchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');

/** Payload of `mbt.settle`: which session closed, and when (the close instant, RFC 3339 UTC). */
export const settlePayloadSchema = z
  .object({
    tradingDay: tradingDaySchema,
    closeAt: z.iso.datetime(),
  })
  .strict();
export type SettlePayload = z.infer<typeof settlePayloadSchema>;

/** Fixed UUID namespace of settle command ids (random once; never change it, or re-runs stop being no-ops). */
const SETTLE_NAMESPACE = Buffer.from('5f0c8d2e6a7b4c1f9e3d2a1b0c9d8e7f', 'hex');

/**
 * The envelope id of the settle command of (user, trading day): a name-based UUID (version 5, SHA-1, RFC 9562 §5.5),
 * so every fan-out of the same day — a retry, a replica racing another, an operator re-run — yields the same id and
 * the actor's processed_commands makes all but the first a no-op. The day is fixed-length and comes first, so the
 * name is unambiguous whatever the user id contains.
 */
export function settleCommandId(userId: string, tradingDay: string): string {
  const day = tradingDaySchema.parse(tradingDay);
  return nameUuid(SETTLE_NAMESPACE, `${SETTLE_COMMAND_TYPE}|${day}|${userId}`);
}
