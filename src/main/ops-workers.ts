// `npm run ops -- settle …` and `retention run`: the workers' operator endpoints (on the workers role's own ops server,
// authenticated and audited there like the gateway's /ops).
import type { OpsClient } from './ops-rules.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface SettleOptions {
  date: string | undefined;
  force: boolean;
  wait: boolean;
  /** How long --wait polls before giving up (ms). */
  waitMs?: number;
}

export async function runSettleCommand(client: OpsClient, action: string, opts: SettleOptions): Promise<number> {
  if (!opts.date || !DAY.test(opts.date)) {
    process.stderr.write('Give the trading day: --date YYYY-MM-DD\n');
    return 2;
  }
  if (action === 'status') {
    process.stdout.write(`${JSON.stringify(await client.request('GET', `/ops/settle/days/${opts.date}`), null, 2)}\n`);
    return 0;
  }
  if (action !== 'run') {
    process.stderr.write(`Unknown settle action "${action}".\n`);
    return 2;
  }
  const body = await client.request('POST', '/ops/settle/runs', { date: opts.date, ...(opts.force ? { force: true } : {}) });
  process.stdout.write(`settle fan-out for ${opts.date} (close ${String(body.closeAt)}) enqueued as job ${String(body.jobId)}\n`);
  if (!opts.wait) return 0;
  const acceptedAt = Date.parse(String(body.acceptedAt));
  const deadline = Date.now() + (opts.waitMs ?? 600_000);
  while (Date.now() < deadline) {
    const day = await client.request('GET', `/ops/settle/days/${opts.date}`).catch(() => undefined);
    const completedAt = typeof day?.completedAt === 'string' ? Date.parse(day.completedAt) : NaN;
    if (completedAt >= acceptedAt) {
      process.stdout.write(`settle fan-out for ${opts.date} complete: ${String(day?.usersAppended)} settle commands appended\n`);
      return 0;
    }
    await sleep(500);
  }
  process.stderr.write(`ops: the fan-out for ${opts.date} did not complete in time; check with: settle status --date ${opts.date}\n`);
  return 1;
}

export async function runRetentionCommand(client: OpsClient, action: string): Promise<number> {
  if (action !== 'run') {
    process.stderr.write(`Unknown retention action "${action}".\n`);
    return 2;
  }
  const body = await client.request('POST', '/ops/retention/runs');
  process.stdout.write(`retention purge enqueued as job ${String(body.jobId)}\n`);
  return 0;
}
