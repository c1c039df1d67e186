// Audit log: append-only in the database, hash-chained per subject, and every kind of tampering detected.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendAudit,
  appendAudits,
  AuditError,
  rowHash,
  verifyAuditLog,
  type AuditRowText,
  type VerifyReport,
} from '../../../src/infra/audit/index.js';
import { createDb, DB_ROLES, DbError, toDbError, withTenant, type DbHandle } from '../../../src/infra/db/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

function sqlstateOf(err: unknown): string | undefined {
  const mapped = toDbError(err);
  return mapped instanceof DbError ? mapped.sqlstate : undefined;
}

function chainReport(report: VerifyReport, chain: string) {
  return report.chains.find((c) => c.chain === chain);
}

describe('audit log', () => {
  let t: TestDatabase;
  let app: DbHandle;
  let owner: DbHandle;

  beforeAll(async () => {
    t = await createTestDatabase('raxx_audit');
    app = createDb(t.appUrl, { max: 12 });
    owner = createDb(t.ownerUrl, { max: 2, role: DB_ROLES.owner });
  });
  afterAll(async () => {
    await app?.close();
    await owner?.close();
    await t?.drop();
  });

  it('chains rows per subject, with values the verifier reproduces exactly', async () => {
    await withTenant(app.db, ['alice'], async (tx) => {
      await appendAudit(tx, { subject: 'alice', actor: 'alice', action: 'order.submit', outcome: 'success', correlationId: 'req-1' });
      await appendAudit(tx, {
        subject: 'alice',
        actor: 'gateway',
        action: 'order.reject',
        outcome: 'failure',
        correlationId: 'q"uote\\d',
        // Awkward JSON on purpose: numeric scale, control and non-ASCII characters, nesting, key order.
        details: { z: 1.5, a: 'é ✓ \n\t\u0001', nested: { b: [1, '2', null, true], a: {} }, big: 1e21, tiny: 1e-7 },
        at: new Date('2026-01-02T03:04:05.678Z'),
      });
      await appendAudit(tx, { actor: 'gateway', action: 'maintenance.start', outcome: 'success' }); // -> system chain
      const rows = await tx.execute<{ chain: string; seq: number }>(sql`select chain, seq::int from audit_log order by chain, seq`);
      // The app reads only the chains in its scope; the system row it wrote is invisible to it.
      expect(rows.map((r) => `${r.chain}:${r.seq}`)).toEqual(['alice:1', 'alice:2']);
    });
    const report = await verifyAuditLog(owner.sql);
    expect(report.ok).toBe(true);
    expect(chainReport(report, 'alice')?.rows).toBe(2);
    expect(chainReport(report, 'system')?.rows).toBe(1);
  });

  it('ignores seq, hashes and ids that an inserter supplies', async () => {
    await app.db.execute(sql`
      insert into audit_log (chain, seq, actor, action, outcome, prev_hash, hash)
      values ('alice', 999, 'forger', 'x.y', 'success', 'bogus', 'bogus')`);
    const report = await verifyAuditLog(owner.sql);
    expect(report.ok).toBe(true);
    expect(chainReport(report, 'alice')?.rows).toBe(3);
    const id = await app.db.execute(sql`insert into audit_log (id, chain, actor, action, outcome) values (1, 'x', 'a', 'b', 'success')`).catch(
      (e: unknown) => e,
    );
    expect(sqlstateOf(id)).toBe('428C9'); // GENERATED ALWAYS identity
  });

  it('refuses UPDATE, DELETE and TRUNCATE from the app role (no privilege)', async () => {
    for (const stmt of ['update audit_log set actor = actor', 'delete from audit_log', 'truncate audit_log']) {
      const err = await withTenant(app.db, ['alice'], (tx) => tx.execute(sql.raw(stmt))).catch((e: unknown) => e);
      expect({ stmt, sqlstate: sqlstateOf(err) }).toEqual({ stmt, sqlstate: '42501' });
    }
  });

  it('refuses UPDATE, DELETE and TRUNCATE from the owner (guard triggers)', async () => {
    for (const stmt of ["update audit_log set actor = 'x'", 'delete from audit_log', 'truncate audit_log']) {
      const err = await owner.db.execute(sql.raw(stmt)).catch((e: unknown) => e);
      expect({ stmt, sqlstate: sqlstateOf(err) }).toEqual({ stmt, sqlstate: 'RXA01' });
    }
  });

  it('refuses secret-looking details without echoing them', async () => {
    const err = await appendAudit(app.db, {
      actor: 'a',
      action: 'live.connect',
      outcome: 'success',
      details: { broker: { refresh_token: 'tok-VALUE' } },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditError);
    expect((err as AuditError).code).toBe('AUDIT_SECRET_IN_DETAILS');
    expect((err as Error).message).not.toContain('tok-VALUE');
  });

  it('keeps every chain intact under 200 concurrent appends', async () => {
    const chains = ['hot', 'c1', 'c2', 'c3', 'c4'];
    const appends = Array.from({ length: 200 }, (_, i) =>
      appendAudit(app.db, {
        // Half on one chain, the rest spread across four.
        chain: i % 2 === 0 ? 'hot' : chains[1 + ((i >> 1) % 4)]!,
        actor: 'load',
        action: 'test.append',
        outcome: 'success',
        details: { i },
      }),
    );
    await Promise.all(appends);
    const report = await verifyAuditLog(owner.sql, { batchSize: 37 });
    expect(report.firstBroken).toBeNull();
    expect(chainReport(report, 'hot')?.rows).toBe(100);
    for (const c of chains.slice(1)) expect(chainReport(report, c)?.rows).toBe(25);
    const [max] = await owner.sql`select max(seq)::int as seq, count(*)::int as n from audit_log where chain = 'hot'`;
    expect(max).toEqual({ seq: 100, n: 100 });
  });

  it('appends many rows in one statement, in order, linked per chain as if appended one by one', async () => {
    // Two chains interleaved, awkward details, one explicit time: what a turn sends for its batch's commands.
    const entries = Array.from({ length: 9 }, (_, i) => ({
      subject: i % 3 === 0 ? 'batch-b' : 'batch-a',
      actor: i % 3 === 0 ? 'batch-b' : 'batch-a',
      action: 'account.adjust_cash',
      outcome: 'success' as const,
      correlationId: `cmd-${i}`,
      details: { i, amount: '1.50', note: 'é "q" \\ {x}' },
      ...(i === 4 ? { at: new Date('2026-01-02T03:04:05.678Z') } : {}),
    }));
    await withTenant(app.db, ['batch-a', 'batch-b'], (tx) => appendAudits(tx, entries));
    const rows = await owner.sql<{ chain: string; seq: number; correlation_id: string; details: { i: number; note: string } }[]>`
      select chain, seq::int, correlation_id, details from audit_log where chain in ('batch-a', 'batch-b') order by chain, seq`;
    expect(rows.filter((r) => r.chain === 'batch-a').map((r) => [r.seq, r.correlation_id])).toEqual([1, 2, 4, 5, 7, 8].map((i, k) => [k + 1, `cmd-${i}`]));
    expect(rows.filter((r) => r.chain === 'batch-b').map((r) => [r.seq, r.correlation_id])).toEqual([0, 3, 6].map((i, k) => [k + 1, `cmd-${i}`]));
    expect(rows.every((r) => r.details.note === 'é "q" \\ {x}')).toBe(true);
    const report = await verifyAuditLog(owner.sql);
    expect(report.firstBroken).toBeNull();
    expect(chainReport(report, 'batch-a')?.rows).toBe(6);
    // Nothing is sent when one entry is invalid.
    const err = await appendAudits(app.db, [entries[0]!, { ...entries[1]!, details: { access_token: 'tok-SECRET' } }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditError);
    expect((await owner.sql`select count(*)::int as n from audit_log where chain in ('batch-a', 'batch-b')`)[0]!.n).toBe(9);
  });

  /** Appends `n` rows to a fresh chain; returns their ids by seq (1-based). */
  async function chainOf(chain: string, n: number): Promise<number[]> {
    for (let i = 0; i < n; i++) await appendAudit(app.db, { chain, actor: 'test', action: 'test.step', outcome: 'success', details: { i } });
    const rows = await owner.sql<{ id: number }[]>`select id::int from audit_log where chain = ${chain} order by seq`;
    return rows.map((r) => r.id);
  }

  /** What a privileged attacker can do: switch the guard off for one statement. */
  async function asOwnerWithoutGuard(statement: string, params: (string | number)[] = []): Promise<void> {
    await owner.sql.begin(async (tx) => {
      await tx`alter table audit_log disable trigger audit_log_append_only`;
      await tx.unsafe(statement, params);
      await tx`alter table audit_log enable trigger audit_log_append_only`;
    });
  }

  it('names a row whose content the owner altered (hash mismatch)', async () => {
    const ids = await chainOf('tamper-edit', 5);
    await asOwnerWithoutGuard(`update audit_log set details = '{"i": 99}' where id = $1`, [ids[2]!]);
    const report = await verifyAuditLog(owner.sql);
    expect(report.ok).toBe(false);
    expect(chainReport(report, 'tamper-edit')?.broken).toEqual({ chain: 'tamper-edit', seq: 3, id: ids[2], reason: 'hash mismatch' });
  });

  it('names the next row when the altered row’s hash was recomputed too (prev_hash link broken)', async () => {
    const ids = await chainOf('tamper-rehash', 4);
    const [row] = await owner.sql<(AuditRowText & { prevHash: string })[]>`
      select id::text as id, chain, seq::text as seq, (extract(epoch from at) * 1000000)::bigint::text as "atMicros",
             'mallory' as actor, subject, action, outcome, correlation_id as "correlationId",
             details::text as "detailsJson", prev_hash as "prevHash"
        from audit_log where id = ${ids[1]!}`;
    await asOwnerWithoutGuard(`update audit_log set actor = 'mallory', hash = $1 where id = $2`, [rowHash(row!.prevHash, row!), ids[1]!]);
    const report = await verifyAuditLog(owner.sql);
    expect(chainReport(report, 'tamper-rehash')?.broken).toEqual({
      chain: 'tamper-rehash',
      seq: 3,
      id: ids[2],
      reason: 'prev_hash link broken',
    });
  });

  it('names the row after a deleted one (seq gap)', async () => {
    const ids = await chainOf('tamper-gap', 5);
    await asOwnerWithoutGuard('delete from audit_log where id = $1', [ids[2]!]);
    const report = await verifyAuditLog(owner.sql);
    expect(chainReport(report, 'tamper-gap')?.broken).toEqual({ chain: 'tamper-gap', seq: 4, id: ids[3], reason: 'seq gap' });
    // Untouched chains still verify.
    expect(chainReport(report, 'hot')?.broken).toBeNull();
  });
});
