// The role processes of a benchmark run the way production runs them (Dockerfile: `node dist/src/main/role.js`,
// compiled), not under tsx: tsx compiles with esbuild's keepNames, which wraps every named function in
// `__name(fn, "…")`. That redefinition runs each time a closure is created and gives the closure its own ~256 B
// property array on the V8 heap: ~3 KB of "RSS per connection" in the fan-out gateway, and CPU and garbage on every
// hot path that creates closures (promise callbacks per query, per command). Emit is TypeScript's own per-file
// transpile (the tsconfig has isolatedModules + verbatimModuleSyntax, so it equals tsc's emit); no type check here.
// BENCH_ROLES_TSX=1 runs every role under tsx instead (to compare).
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { startRoleProcess, watchRoleProcess, type RoleProcess } from '../../test/support/processes.js';
import { ROLE_NODE_FLAGS } from '../../src/main/node-flags.js';

const repoRoot = resolve(import.meta.dirname, '../..');

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield p;
  }
}

/**
 * Transpiles src/ into a fresh directory under node_modules/.cache (inside the checkout, so bare imports resolve to
 * its node_modules) and returns it with a remover.
 */
export function buildSources(): { outDir: string; remove(): void } {
  const outDir = join(repoRoot, 'node_modules', '.cache', 'raxx-bench', `build-${process.pid}`);
  rmSync(outDir, { recursive: true, force: true });
  for (const file of tsFiles(join(repoRoot, 'src'))) {
    const out = join(outDir, relative(repoRoot, file)).replace(/\.ts$/, '.js');
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { target: ts.ScriptTarget.ES2023, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true, sourceMap: false },
    });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  writeFileSync(join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  return { outDir, remove: () => rmSync(outDir, { recursive: true, force: true }) };
}

/** Like test/support/processes.ts startRoleProcess, but `node <flags> <outDir>/src/main/role.js <role>` (no tsx), as the Dockerfile runs it. */
export function startCompiledRole(outDir: string, role: string, env: Record<string, string | undefined>, nodeArgs: string[] = [], readyTimeoutMs = 20_000): RoleProcess {
  const child = spawn(process.execPath, [...ROLE_NODE_FLAGS, ...nodeArgs, join(outDir, 'src', 'main', 'role.js'), role], {
    cwd: repoRoot,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Diagnostics: BENCH_ROLE_STDOUT_DIR keeps each role's raw stdout (e.g. V8's --trace-gc-nvp lines) in <dir>/<role>-<pid>.out.
  const keep = process.env.BENCH_ROLE_STDOUT_DIR;
  if (keep) child.stdout!.on('data', (d: Buffer) => appendFileSync(join(keep, `${role}-${child.pid}.out`), d));
  return watchRoleProcess(role, child, readyTimeoutMs);
}

/** Starts a benchmark's role processes: compiled (built once, removed by `remove`), or under tsx with BENCH_ROLES_TSX=1. */
export interface RoleLauncher {
  /** How the roles run, for the report's header. */
  readonly mode: string;
  start(role: string, env: Record<string, string | undefined>, readyTimeoutMs?: number, nodeArgs?: string[]): RoleProcess;
  /** Removes the build (after every role stopped). */
  remove(): void;
}

/** The `/metrics` URL a role's ready note names ("…; metrics http://…/metrics": the gateway's internal listener). */
export function metricsUrlOf(note: string | undefined): string | undefined {
  return /metrics (http\S+\/metrics)/.exec(note ?? '')?.[1];
}

/** Diagnostics: BENCH_ROLE_NODE_ARGS="--trace-gc …" is given to every compiled role (flags NODE_OPTIONS refuses). */
function envNodeArgs(): string[] {
  return (process.env.BENCH_ROLE_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

export function roleLauncher(): RoleLauncher {
  if (process.env.BENCH_ROLES_TSX === '1') {
    return {
      mode: 'under tsx (BENCH_ROLES_TSX=1)',
      start: (role, env, readyTimeoutMs) => startRoleProcess(role, env, readyTimeoutMs),
      remove: () => {},
    };
  }
  const build = buildSources();
  return {
    mode: 'compiled (TypeScript transpile, plain node, as the Dockerfile runs them)',
    start: (role, env, readyTimeoutMs, nodeArgs) => startCompiledRole(build.outDir, role, env, nodeArgs ?? envNodeArgs(), readyTimeoutMs),
    remove: () => build.remove(),
  };
}
