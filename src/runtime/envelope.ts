// Command envelopes, partitioning and the Redis keys of the partitioned actor runtime.
import { z } from 'zod';
import type { Redis } from 'ioredis';

export const envelopeSchema = z.object({
  id: z.uuid(),
  userId: z.string().min(1),
  type: z.string().min(1),
  payload: z.unknown(),
  issuedAt: z.string().min(1),
});
export type Envelope = z.infer<typeof envelopeSchema>;

/** Redis keys. Everything of one partition shares the hash tag `{pN}` (one cluster slot). */
export const runtimeKeys = {
  stream: (p: number) => `cmd:{p${p}}`,
  lease: (p: number) => `lease:{p${p}}`,
  epoch: (p: number) => `epoch:{p${p}}`,
  members: 'members:{rt}',
  deadLetter: 'cmd:dead',
  /** Pub/sub channel: the partition number, published after each append so the owner reads at once. */
  wake: 'cmd:wake',
} as const;

export const CONSUMER_GROUP = 'actors';
/** The single stream field holding the JSON envelope. */
export const ENVELOPE_FIELD = 'e';

/** 32-bit FNV-1a over the UTF-8 bytes of `s`. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Stable partition of a user: FNV-1a(userId) mod P. Changing P remaps users: only with all replicas stopped and streams drained. */
export function partitionOf(userId: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions <= 0) throw new Error(`partitions must be a positive integer, got ${partitions}`);
  return fnv1a(userId) % partitions;
}

export interface AppendOptions {
  /** Approximate stream cap (XADD MAXLEN ~). Default 100,000 per partition. Entries beyond it are trimmed even if unread. */
  maxLen?: number;
}

/**
 * XADDs one validated envelope to its partition's stream and PUBLISHes the partition on `cmd:wake` (same round trip,
 * pipelined; the wake-up only saves the owner its poll interval, so its failure is ignored); returns the entry id.
 */
export async function appendCommand(redis: Redis, envelope: Envelope, partitions: number, opts: AppendOptions = {}): Promise<string> {
  const env = envelopeSchema.parse(envelope);
  const p = partitionOf(env.userId, partitions);
  const replies = await redis
    .pipeline()
    .xadd(runtimeKeys.stream(p), 'MAXLEN', '~', String(opts.maxLen ?? 100_000), '*', ENVELOPE_FIELD, JSON.stringify(env))
    .publish(runtimeKeys.wake, String(p))
    .exec();
  const [err, id] = replies?.[0] ?? [new Error('XADD got no reply'), null];
  if (err) throw err;
  if (typeof id !== 'string') throw new Error('XADD returned no id');
  return id;
}
