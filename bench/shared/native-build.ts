// Builds a benchmark's native load client from its C source with the system compiler (cc, gcc, clang or $CC), at run
// time into a temp dir: nothing binary is committed.
import { execFileSync } from 'node:child_process';

/** Compiles `source` to `out`; throws a clear error naming the bench when no compiler works. */
export function compileC(source: string, out: string, bench: string, libs: string[] = []): string {
  const compilers = [process.env.CC, 'cc', 'gcc', 'clang'].filter((c): c is string => Boolean(c));
  const failures: string[] = [];
  for (const cc of compilers) {
    try {
      execFileSync(cc, ['-O2', '-Wall', '-o', out, source, ...libs], { stdio: ['ignore', 'pipe', 'pipe'] });
      return out;
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      failures.push(e.code === 'ENOENT' ? `${cc}: not installed` : `${cc}: ${e.stderr?.toString().trim() ?? e.message}`);
    }
  }
  throw new Error(
    `${bench} needs a C compiler to build its native load client (${source}); none worked:\n  ${failures.join('\n  ')}\n` + 'Install one (e.g. apt-get install gcc) or set CC.',
  );
}
