// postgres.js must survive the server closing a connection under it (patches/postgres+3.4.9.patch): the account
// runtime terminates a frozen former owner's turn session, and that process must wake up to an error, not a crash.
// The scenario runs in a child process, because the unpatched failure is an uncaught exception that kills it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { testAdminUrl } from '../../support/database.js';

const script = fileURLToPath(new URL('./fixtures/terminated-backend.mjs', import.meta.url));

describe('postgres.js on a connection the server closed', () => {
  it('a reserved connection whose backend was terminated fails its queries; the process lives and the pool keeps serving', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [script, testAdminUrl()], { timeout: 20_000, cwd: process.cwd() });
    const result = JSON.parse(stdout.trim()) as { first: string; second: string; pool: number };
    expect(result.first).not.toBe('ok');
    // Rejected, or waiting for a reconnect a reserved connection never gets (when the close arrived as a reset).
    expect(result.second).not.toBe('ok');
    expect(result.pool).toBe(2);
  });
});
