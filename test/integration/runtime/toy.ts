// Toy actor host for the runtime tests: a per-user counter plus an ordered log of applied sequence numbers.
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import type { ActorHost, Envelope } from '../../../src/runtime/index.js';

/** Creates the toy tables and `n` users (u0000…) as the superuser; grants the app role what the toy needs. */
export async function setupToy(ownerUrl: string, n: number): Promise<void> {
  const su = postgres(ownerUrl, { max: 1, onnotice: () => {} });
  try {
    await su.unsafe(`
      create table if not exists rt_counters (user_id text primary key, n int not null default 0);
      create table if not exists rt_applied (ord bigserial primary key, user_id text not null, seq int not null,
        command_id text not null, epoch bigint not null, part int not null);
      grant select, insert, update on rt_counters, rt_applied to raxx_app;
      grant usage on sequence rt_applied_ord_seq to raxx_app;`);
    const ids = Array.from({ length: n }, (_, i) => userId(i));
    await su`insert into users (id) select unnest(${ids}::text[]) on conflict do nothing`;
    await su`insert into rt_counters (user_id) select unnest(${ids}::text[]) on conflict do nothing`;
  } finally {
    await su.end();
  }
}

export async function resetToy(ownerUrl: string): Promise<void> {
  const su = postgres(ownerUrl, { max: 1, onnotice: () => {} });
  try {
    await su.unsafe(`truncate rt_applied, processed_commands, partition_epochs; update rt_counters set n = 0;`);
  } finally {
    await su.end();
  }
}

export const userId = (i: number) => `u${String(i).padStart(4, '0')}`;

/** `inc` {seq}: applied; `boom`: throws; anything else: rejected UNKNOWN_TYPE. */
export const toyHost: ActorHost = {
  // Keeps nothing in memory and calls nothing outside PostgreSQL: its turns may run blind, as the account host's do.
  blindSafe: () => true,
  async handleBatch(ctx, commands: Envelope[]) {
    if (commands.some((c) => c.type === 'boom')) throw new Error('boom: handler failure');
    const inc = commands.filter((c) => c.type === 'inc');
    if (inc.length) {
      const rows = JSON.stringify(
        inc.map((c) => ({ u: c.userId, s: (c.payload as { seq: number }).seq, c: c.id, e: ctx.epoch, p: ctx.partition })),
      );
      await ctx.tx.execute(sql`insert into rt_applied (user_id, seq, command_id, epoch, part)
        select x.j->>'u', (x.j->>'s')::int, x.j->>'c', (x.j->>'e')::bigint, (x.j->>'p')::int
        from jsonb_array_elements(${rows}::jsonb) with ordinality as x(j, o) order by x.o`);
      await ctx.tx.execute(sql`update rt_counters c set n = c.n + v.k
        from (select j->>'u' as u, count(*)::int as k from jsonb_array_elements(${rows}::jsonb) j group by 1) v
        where c.user_id = v.u`);
    }
    return commands.map((c) =>
      c.type === 'inc'
        ? { id: c.id, outcome: 'accepted' as const, result: { seq: (c.payload as { seq: number }).seq } }
        : { id: c.id, outcome: 'rejected' as const, code: 'UNKNOWN_TYPE', result: { reason: `unknown command type ${c.type}` } },
    );
  },
};
