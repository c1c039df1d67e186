// Retention of the command runtime's bookkeeping: `processed_commands` (one row per decided command, holding its
// decision — for an order, the order itself) and the `cmd:dead` dead-letter stream (each entry holds the raw command).
// Both grew forever before, and both kept a Free user's order contents past that tier's history horizon.
//
// One window for every tier, never longer than the shortest tier horizon (the config refuses more), so this table
// never outlives the history it describes. What the window bounds: a command id is an idempotency key, and its stored
// decision readable by GET /api/commands/:id, for that long. Nothing else reads old rows: a repeated settle is a no-op
// in the engine itself (the account's last settled day), refresh ticks never repeat an old tick, and a command still
// in a stream is days old at most (entries are trimmed and dead-lettered long before).
import type { Redis } from 'ioredis';
import type postgres from 'postgres';
import { runtimeKeys } from '../../runtime/index.js';
import type { RetentionRunOptions } from './tiers.js';

export interface CommandRetentionOptions extends RetentionRunOptions {
  /** How long processed_commands rows and dead letters are kept. */
  days: number;
  /** Called after every statement (or trim) that deleted something. */
  onDeleted?(table: CommandRetentionTable, rows: number): void;
}

export type CommandRetentionTable = 'processed_commands' | 'cmd:dead';

export interface CommandRetention {
  cutoff: string;
  processedCommands: number;
  statements: number;
  deadLetters: number;
}

export async function purgeCommandBookkeeping(sql: postgres.Sql, redis: Redis, opts: CommandRetentionOptions): Promise<CommandRetention> {
  const cutoffMs = opts.now() - opts.days * 86_400_000;
  const cutoff = new Date(cutoffMs).toISOString();
  const result: CommandRetention = { cutoff, processedCommands: 0, statements: 0, deadLetters: 0 };
  for (;;) {
    // Bounded, through the processed_at index. No row lock to skip: the table is insert-only (the batch role may not
    // even UPDATE it, which FOR UPDATE would need), so nothing else ever holds an old row.
    const [row] = await sql<{ rows: number }[]>`
      with doomed as (
        select command_id from processed_commands where processed_at < ${cutoff} limit ${opts.batchSize}
      ), d as (
        delete from processed_commands where command_id in (select command_id from doomed) returning 1
      )
      select count(*)::int as rows from d`;
    const rows = row?.rows ?? 0;
    result.statements += 1;
    result.processedCommands += rows;
    if (rows > 0) opts.onDeleted?.('processed_commands', rows);
    if (rows < opts.batchSize) break;
  }
  // Dead-letter ids are Redis's own (`*`), i.e. the time of the dead-lettering: everything before the cutoff goes.
  result.deadLetters = await redis.xtrim(runtimeKeys.deadLetter, 'MINID', `${cutoffMs}-0`);
  if (result.deadLetters > 0) opts.onDeleted?.('cmd:dead', result.deadLetters);
  opts.logger.info(
    { cutoff, processedCommands: result.processedCommands, statements: result.statements, deadLetters: result.deadLetters },
    'retention purge: command bookkeeping done',
  );
  return result;
}
