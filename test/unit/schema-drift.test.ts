// The committed migrations match the drizzle schema: a schema change without `npm run db:generate` fails here.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'raxx-drift-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('drizzle schema vs migrations', () => {
  it('has no pending schema change', async () => {
    cpSync(join(root, 'drizzle'), join(work, 'drizzle'), { recursive: true });
    const config = join(work, 'drizzle.config.ts');
    writeFileSync(
      config,
      // drizzle-kit treats paths as relative to its working directory.
      `export default { dialect: 'postgresql', schema: ${JSON.stringify(relative(work, join(root, 'src/infra/db/schema/index.ts')))}, out: './drizzle', entities: { roles: false } };\n`,
    );
    const migrations = () => readdirSync(join(work, 'drizzle')).filter((f) => f.endsWith('.sql'));
    const before = migrations();
    const { stdout, stderr } = await promisify(execFile)(join(root, 'node_modules/.bin/drizzle-kit'), ['generate', '--config', config], { cwd: work });
    expect(migrations(), 'drizzle-kit generated a new migration: run `npm run db:generate` and commit it').toEqual(before);
    expect(stdout + stderr).toContain('No schema changes');
  });
});
