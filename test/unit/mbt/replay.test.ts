// The replay tool end to end: the example logs replay to the same bytes twice, and a bad line is named.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, spawnTsx } from '../../support/processes.js';

function replay(file: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTsx('src/main/mbt-replay.ts', [file, ...args], {});
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

const examples = join(repoRoot, 'docs/examples/mbt');
const dir = mkdtempSync(join(tmpdir(), 'mbt-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mbt:replay', () => {
  it('ships example logs', () => {
    expect(readdirSync(examples).filter((f) => f.endsWith('.jsonl')).length).toBeGreaterThanOrEqual(3);
  });

  it('replaying a log twice gives byte-identical output, with fills explained', async () => {
    const file = join(examples, 'basic-day.jsonl');
    const [a, b] = await Promise.all([replay(file), replay(file)]);
    expect(a.code).toBe(0);
    expect(a.stderr).toBe('');
    expect(b.stdout).toBe(a.stdout);
    const lines = a.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.event === 'fill' || l.event === 'partial_fill').map((l) => [l.order_id, l.qty, l.price, l.quote_seq, l.rule])).toEqual([
      ['ord-1', '100', '10.03', 102, 'market_next_quote'],
      ['ord-1', '50', '10.04', 103, 'market_next_quote'],
      ['ord-2', '100', '9.95', 105, 'limit_resting'],
    ]);
    expect(lines.find((l) => l.command_id === 'cmd-3')).toMatchObject({ ok: false, status: 403, code: 40310000, message: 'insufficient buying power' });
    expect(lines.find((l) => l.event === 'expired')).toMatchObject({ order_id: 'ord-4', line: 17 });
    expect(lines.at(-1)).toMatchObject({ out: 'final', account: { cash: '7500', equity: '10052.50' }, positions: { AAPL: { qty: '250' } } });
  });

  it('--full prints the complete outputs, also deterministically', async () => {
    const file = join(examples, 'margin-short.jsonl');
    const [a, b] = await Promise.all([replay(file, '--full'), replay(file, '--full')]);
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout).toContain('"reserved_cash":"4124"');
  });

  it('a bad line is rejected with its line number and the failing field', async () => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(
      file,
      [
        '{"type":"account","id":"x"}',
        '# comment',
        '{"type":"quote","S":"AAPL","seq":1,"ts":1,"bp":10,"bs":1,"ap":10.01,"as":1}',
        '{"type":"quote","S":"AAPL","seq":0,"ts":1,"bp":10,"bs":1,"ap":10.01,"as":1}',
      ].join('\n'),
    );
    const r = await replay(file);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${file}:4: seq: Too small: expected number to be >0\n`);
  });

  it('a missing header is named', async () => {
    const file = join(dir, 'no-header.jsonl');
    writeFileSync(file, '{"type":"quote","S":"AAPL","seq":1,"ts":1,"bp":10,"bs":1,"ap":10.01,"as":1}\n');
    const r = await replay(file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/:1: the first line must be the account header: /);
  });
});
