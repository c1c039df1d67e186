// Helpers for the accounts-role e2e tests: replicas as real processes, command workloads with a cent-exact model of
// what the account actor must decide, and readers for what landed (PostgreSQL, stream PELs, private event logs).
import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import type { Redis } from 'ioredis';
import { userEventKeys } from '../../src/contracts/index.js';
import { appendCommand, CONSUMER_GROUP, runtimeKeys, type Envelope } from '../../src/runtime/index.js';
import { startRoleProcess, type RoleProcess } from './processes.js';

export interface AccountsHealth {
  owner: string;
  started: boolean;
  owned: number[];
  applied: number;
  replayed: number;
  claimed: number;
  takeovers: number;
  fencedOut: number;
}

export interface AccountsReplica extends RoleProcess {
  name: string;
  url: string;
  owner: string;
  health(): Promise<AccountsHealth>;
  /** Parsed JSON log lines with `msg` (pino), for what the replica says it did. */
  logs(msg: string): Array<Record<string, unknown>>;
}

/** Starts an `accounts` role process and waits until its runtime started (owner known). */
export async function startAccountsReplica(name: string, env: Record<string, string>): Promise<AccountsReplica> {
  const proc = startRoleProcess('accounts', env, 30_000);
  const { url } = await proc.ready;
  // A reused keep-alive socket the server just closed fails with ECONNRESET: retry, unless the process is gone.
  const health = async (): Promise<AccountsHealth> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await (await fetch(`${url}/healthz`)).json()) as AccountsHealth;
      } catch (err) {
        if (attempt >= 3 || proc.child.exitCode !== null || proc.child.signalCode !== null) {
          throw new Error(`${name} /healthz failed: ${String(err)}\n${proc.lines.slice(-20).join('\n')}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  let h = await health();
  for (let i = 0; !h.started; i++) {
    if (i > 300) throw new Error(`${name}: runtime not started`);
    await new Promise((r) => setTimeout(r, 50));
    h = await health();
  }
  const logs = (msg: string) =>
    proc.lines.flatMap((l) => {
      try {
        const o = JSON.parse(l) as Record<string, unknown>;
        return o.msg === msg ? [o] : [];
      } catch {
        return [];
      }
    });
  return { ...proc, name, url, owner: h.owner, health, logs };
}

/** Lease holder (owner id) of every partition, null when free. */
export async function leaseHolders(redis: Redis, P: number): Promise<(string | null)[]> {
  const vals = await redis.mget(...Array.from({ length: P }, (_, p) => runtimeKeys.lease(p)));
  return vals.map((v) => (v ? v.slice(v.indexOf(':') + 1) : null));
}

/** Entries pending (delivered, not XACKed) per consumer over all partitions. */
export async function pendingByConsumer(redis: Redis, P: number): Promise<Map<string, number>> {
  const pipe = redis.pipeline();
  for (let p = 0; p < P; p++) pipe.call('XPENDING', runtimeKeys.stream(p), CONSUMER_GROUP);
  const out = new Map<string, number>();
  for (const [err, r] of (await pipe.exec()) ?? []) {
    if (err) continue; // no group yet
    for (const [consumer, count] of (r as [number, unknown, unknown, Array<[string, string]> | null])[3] ?? []) {
      out.set(consumer, (out.get(consumer) ?? 0) + Number(count));
    }
  }
  return out;
}

export async function pendingTotal(redis: Redis, P: number): Promise<number> {
  let n = 0;
  for (const v of (await pendingByConsumer(redis, P)).values()) n += v;
  return n;
}

// ---- money in integer cents (the model never touches a float) ----

/** Exact decimal string → integer cents (at most 2 decimals expected; more is an error). */
export function toCents(s: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new Error(`not a decimal: ${s}`);
  const frac = (m[3] ?? '').replace(/0+$/, '');
  if (frac.length > 2) throw new Error(`more than cents: ${s}`);
  const v = BigInt(m[2]!) * 100n + BigInt(frac.padEnd(2, '0') || '0');
  return m[1] ? -v : v;
}

export function fromCents(c: bigint): string {
  const neg = c < 0n;
  const a = neg ? -c : c;
  return `${neg ? '-' : ''}${a / 100n}.${String(a % 100n).padStart(2, '0')}`;
}

// ---- workload and its model ----

export type ExpectedCode = 'accepted' | 'insufficient_cash' | 'unknown_command' | 'invalid_payload' | 'account_exists';

export interface ModelCommand {
  env: Envelope;
  /** Stream entry id returned by the append (per user, one stream, so ids order the user's commands). */
  entryId?: string;
  amountCents?: bigint;
}

/**
 * What the account actor must decide, replayed in each user's append order: open (starting cash), adjust_cash
 * accepted iff cash + amount >= 0 (nothing reserved), unknown types and bad payloads rejected without effect.
 */
export class AccountsModel {
  readonly byUser = new Map<string, ModelCommand[]>();
  private readonly seq = new Map<string, number>();

  constructor(readonly startingCents: bigint) {}

  private add(userId: string, type: string, payload: unknown, amountCents?: bigint): ModelCommand {
    const c: ModelCommand = { env: { id: randomUUID(), userId, type, payload, issuedAt: new Date().toISOString() }, ...(amountCents !== undefined ? { amountCents } : {}) };
    this.byUser.set(userId, [...(this.byUser.get(userId) ?? []), c]);
    return c;
  }

  open(userId: string): ModelCommand {
    return this.add(userId, 'account.open', {});
  }

  /** An adjustment whose reason carries the user's command sequence number (`s<k>`), for the order checks. */
  adjust(userId: string, amountCents: bigint): ModelCommand {
    const k = (this.seq.get(userId) ?? 0) + 1;
    this.seq.set(userId, k);
    return this.add(userId, 'account.adjust_cash', { amount: fromCents(amountCents), reason: `s${k}` }, amountCents);
  }

  unknownType(userId: string): ModelCommand {
    return this.add(userId, 'account.close', {});
  }

  badPayload(userId: string): ModelCommand {
    return this.add(userId, 'account.adjust_cash', { amount: '12.3.4', reason: 'bad' });
  }

  all(): ModelCommand[] {
    return [...this.byUser.values()].flat();
  }

  /** Per user, in stream order: each command's expected code and (accepted) resulting cash in cents. */
  expected(userId: string): Array<{ cmd: ModelCommand; code: ExpectedCode; cashAfter: bigint | null }> {
    const cmds = [...(this.byUser.get(userId) ?? [])].sort((a, b) => compareEntryIds(a.entryId!, b.entryId!));
    let cash: bigint | null = null;
    return cmds.map((cmd) => {
      switch (cmd.env.type) {
        case 'account.open':
          if (cash !== null) return { cmd, code: 'account_exists' as const, cashAfter: null };
          cash = this.startingCents;
          return { cmd, code: 'accepted' as const, cashAfter: cash };
        case 'account.adjust_cash': {
          if (cmd.amountCents === undefined) return { cmd, code: 'invalid_payload' as const, cashAfter: null };
          if (cash === null) throw new Error('model: adjust before open');
          if (cash + cmd.amountCents < 0n) return { cmd, code: 'insufficient_cash' as const, cashAfter: null };
          cash += cmd.amountCents;
          return { cmd, code: 'accepted' as const, cashAfter: cash };
        }
        default:
          return { cmd, code: 'unknown_command' as const, cashAfter: null };
      }
    });
  }
}

export function compareEntryIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

/**
 * Appends like the gateway does (`appendCommand`, validated), many in flight on one connection: ioredis writes
 * them in call order, so each user's entries land in its partition's stream in the order given.
 */
export async function appendCommands(redis: Redis, cmds: ModelCommand[], P: number): Promise<void> {
  const ids = await Promise.all(cmds.map((c) => appendCommand(redis, c.env, P)));
  ids.forEach((id, i) => (cmds[i]!.entryId = id));
}

// ---- readers ----

/** Rows of tenant tables, read as raxx_batch (the owner has no policy under FORCE RLS). */
export function asBatch<T>(su: postgres.Sql, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  return su.begin(async (tx) => {
    await tx`set local role raxx_batch`;
    return fn(tx);
  }) as Promise<T>;
}

export interface LoggedEvent {
  seq: number;
  kind: string;
  commandId?: string;
  outcome?: string;
  code?: string;
  data?: Record<string, unknown>;
}

/** Every user's private event log, pipelined. */
export async function eventLogs(redis: Redis, userIds: string[]): Promise<Map<string, LoggedEvent[]>> {
  const out = new Map<string, LoggedEvent[]>();
  for (let i = 0; i < userIds.length; i += 500) {
    const slice = userIds.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const u of slice) pipe.xrange(userEventKeys.log(u), '-', '+');
    const replies = (await pipe.exec()) ?? [];
    slice.forEach((u, j) => {
      const [err, entries] = replies[j]!;
      if (err) throw err;
      out.set(
        u,
        (entries as [string, string[]][]).map(([, f]) => JSON.parse(f[f.indexOf('f') + 1]!) as LoggedEvent),
      );
    });
  }
  return out;
}

/** Dead letters as objects (`stream`, `id`, `reason`, `raw`). */
export async function deadLetters(redis: Redis): Promise<Array<Record<string, string>>> {
  return (await redis.xrange(runtimeKeys.deadLetter, '-', '+')).map(([, f]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) o[f[i]!] = f[i + 1]!;
    return o;
  });
}
