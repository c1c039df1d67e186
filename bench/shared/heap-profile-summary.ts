// Summarises a sampling heap profile (bench/shared/heap-survivors.mjs, or any .heapprofile): the allocation sites by
// their own sampled bytes and by bytes including their callees, and with `--callers NAME` the call paths into a
// function. Usage: npx tsx bench/shared/heap-profile-summary.ts FILE [--top N] [--callers 'str bytes.js']
import { readFileSync } from 'node:fs';

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: heap-profile-summary.ts FILE [--top N] [--callers NAME]');
  process.exit(2);
}
const opt = (name: string) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const top = Number(opt('--top') ?? 25);
const callers = opt('--callers');

const head = (JSON.parse(readFileSync(file, 'utf8')) as { head: Node }).head;
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/.*\/(node_modules\/)?/, '')}:${n.callFrame.lineNumber + 1}`;
const total = (n: Node): number => n.selfSize + n.children.reduce((s, c) => s + total(c), 0);

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const paths = new Map<string, number>();
const walk = (n: Node, stack: string[]) => {
  const k = label(n);
  self.set(k, (self.get(k) ?? 0) + n.selfSize);
  const st = stack.includes(k) ? stack : [...stack, k];
  for (const s of st) inclusive.set(s, (inclusive.get(s) ?? 0) + n.selfSize);
  if (callers && k.startsWith(callers)) {
    const p = stack.slice(-4).join(' < ');
    paths.set(p, (paths.get(p) ?? 0) + total(n));
  }
  for (const c of n.children) walk(c, st);
};
walk(head, []);

const mb = (b: number) => (b / 1e6).toFixed(2).padStart(8);
const print = (title: string, m: Map<string, number>) => {
  console.log(`--- ${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${mb(v)} MB  ${k}`);
};
console.log(`sampled ${mb(total(head)).trim()} MB`);
print('by own allocations', self);
print('including callees', inclusive);
if (callers) print(`paths into ${callers}`, paths);
