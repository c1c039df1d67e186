// The ioredis patch (patches/ioredis+6.0.0.patch): pipelines share one hidden class, and `length` still works.
// Unpatched, each Pipeline defined its own `length` accessor, so each got a new V8 map that outlived the pipeline's
// scavenges; V8 only tells whether two objects share a map with --allow-natives-syntax, hence a child process.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

const script = `
import Redis from 'ioredis';
const redis = new Redis({ lazyConnect: true });
redis.defineCommand('raxxShapeProbe', { numberOfKeys: 1, lua: 'return 1' });
const a = redis.pipeline();
const b = redis.pipeline();
const c = redis.pipeline();
a.ping().get('k');
b.raxxShapeProbe('k');
process.stdout.write(JSON.stringify({ sameMap: %HaveSameMap(a, b) && %HaveSameMap(b, c), lengths: [a.length, b.length] }));
redis.disconnect();
`;

describe('ioredis pipelines (patched)', () => {
  it('share one hidden class, and length counts the queued commands', () => {
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ sameMap: true, lengths: [2, 1] });
  });
});
