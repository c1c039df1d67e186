// `npm run ops -- live …`: the live handoff's operator jobs on the workers' ops server (mass revoke, key re-wrap) and
// their progress. The workers check the operator and write the audit rows.
import type { OpsClient } from './ops-rules.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface LiveOptions {
  reason: string | undefined;
  key: string | undefined;
  job: string | undefined;
  wait: boolean;
  /** How long --wait polls before giving up (ms). */
  waitMs?: number;
}

export async function runLiveCommand(client: OpsClient, action: string, opts: LiveOptions): Promise<number> {
  if (action === 'status') {
    const path = opts.job ? `/ops/live/jobs/${encodeURIComponent(opts.job)}` : '/ops/live/jobs';
    process.stdout.write(`${JSON.stringify(await client.request('GET', path), null, 2)}\n`);
    return 0;
  }
  let jobId: string;
  if (action === 'revoke-all') {
    if (!opts.reason?.trim()) {
      process.stderr.write('Say why: --reason "<text>" (recorded in the audit log and on every revoke command)\n');
      return 2;
    }
    const body = await client.request('POST', '/ops/live/revoke-all', { reason: opts.reason });
    jobId = String(body.jobId);
    process.stdout.write(`mass revoke of every active live connection enqueued as job ${jobId}\n`);
  } else if (action === 'rotate-keys') {
    if (!opts.key) {
      process.stderr.write('Name the destination KMS key: --key <key id, ARN or alias>\n');
      return 2;
    }
    const body = await client.request('POST', '/ops/live/rotate-keys', { keyId: opts.key });
    jobId = String(body.jobId);
    process.stdout.write(`re-wrap of every live connection to ${String(body.keyArn)} enqueued as job ${jobId}\n`);
  } else {
    process.stderr.write(`Unknown live action "${action}".\n`);
    return 2;
  }
  return opts.wait ? waitForJob(client, jobId, opts.waitMs ?? 600_000) : 0;
}

async function waitForJob(client: OpsClient, jobId: string, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const job = await client.request('GET', `/ops/live/jobs/${encodeURIComponent(jobId)}`).catch(() => undefined);
    if (job?.state === 'completed') {
      process.stdout.write(`job ${jobId} completed: ${JSON.stringify(job.result)}\n`);
      return 0;
    }
    if (job?.state === 'failed') {
      process.stderr.write(`ops: job ${jobId} failed after ${String(job.attemptsMade)} attempts: ${String(job.failedReason)}\n`);
      return 1;
    }
    await sleep(500);
  }
  process.stderr.write(`ops: job ${jobId} did not finish in time; check with: live status --job ${jobId}\n`);
  return 1;
}
