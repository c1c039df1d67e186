// The role processes' node flags (src/main/node-flags.ts): the image's ENTRYPOINT and `npm run start:prod` spell the
// same list, and a node started with it runs no V8 memory reducer. The reducer announces itself under
// --trace-gc-verbose once a major GC arms it; a short start delay makes that happen within a second of the workload.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROLE_NODE_FLAGS } from '../../../src/main/node-flags.js';

const root = resolve(import.meta.dirname, '../../..');

/** Major GCs (old objects dropped in rounds), then ~1.5 s of light allocation: what arms and runs the reducer's timer. */
const WORKLOAD = `
let keep = [];
for (let i = 0; i < 1_500_000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 300_000) keep = []; }
keep = null;
const t = setInterval(() => { const a = []; for (let i = 0; i < 50; i++) a.push({ i }); }, 5);
setTimeout(() => clearInterval(t), 1500);
`;

function reducerLines(flags: readonly string[]): number {
  const r = spawnSync(process.execPath, [...flags, '--trace-gc-verbose', '--gc-memory-reducer-start-delay-ms=100', '-e', WORKLOAD], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(0);
  return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('Memory reducer')).length;
}

describe('role node flags', () => {
  it('the Dockerfile ENTRYPOINT and npm run start:prod start role.js with exactly ROLE_NODE_FLAGS', () => {
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(resolve(root, 'Dockerfile'), 'utf8'))?.[1];
    expect(JSON.parse(entry ?? 'null')).toEqual(['node', ...ROLE_NODE_FLAGS, 'dist/src/main/role.js']);
    const scripts = (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['start:prod']).toBe(['node', ...ROLE_NODE_FLAGS, 'dist/src/main/role.js'].join(' '));
  });

  it('a node started with them runs no memory reducer; without them it does (control)', () => {
    expect(reducerLines([])).toBeGreaterThan(0);
    expect(reducerLines(ROLE_NODE_FLAGS)).toBe(0);
  });
});
