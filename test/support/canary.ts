// Canary checks (T11): capture what a call throws, so a test can later assert that no known secret is in any of it.

/** Awaits `p`, which must reject; pushes the error onto `sink` (for the canary check) and returns it. */
export async function rejection(p: Promise<unknown>, sink?: unknown[]): Promise<Error> {
  try {
    await p;
  } catch (err) {
    sink?.push(err);
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

/** Everything a logger could print of an error: message, stack, own enumerable fields, cause. */
export function errorText(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  return [e.message, e.stack, JSON.stringify(e), String(e), e.cause === undefined ? '' : String(e.cause)].join('\n');
}
