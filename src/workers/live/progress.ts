// Reading back what a resumable job saved with job.updateProgress (BullMQ keeps it across retries and stalls).
import type { z } from 'zod';

/** The saved progress if it has the expected shape, else `initial` (a job's first attempt starts at progress 0). */
export function savedProgress<T>(schema: z.ZodType<T>, progress: unknown, initial: T): T {
  const parsed = schema.safeParse(progress);
  return parsed.success ? parsed.data : initial;
}
