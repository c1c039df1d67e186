// `npm run ops -- …`: operator commands, sent to the gateway's /ops endpoints. The gateway checks the operator role
// and writes the audit row: this CLI holds no Redis or PostgreSQL credentials and writes nothing itself.
import { parseArgs } from 'node:util';
import { runLiveCommand } from './ops-live.js';
import { runRulesCommand, type OpsClient } from './ops-rules.js';
import { runRetentionCommand, runSettleCommand } from './ops-workers.js';

const DEFAULT_GATEWAY = 'http://127.0.0.1:8720';

const USAGE = `Usage: npm run ops -- <command> [--gateway <url>] (--token <jwt> | --operator <id>)

  market-data disable     kill switch on: the feed drops its socket, clients get last-known-good data and a banner
  market-data enable      kill switch off: live data resumes
  market-data status      show the kill switch and the hub status
  rules list              bar-close rules (symbol lists whose closed minute bars enqueue jobs)
  rules set <id> <SYMBOL...> [--name <name>]
  rules disable <id>
  users set-tier <id> <free|pro|pro_plus>
                          change a user's tier; open sockets move to the new tier within a second
  settle run --date YYYY-MM-DD [--force] [--wait] --workers <url>
                          fan out the end-of-day settle of that session to every paper account (--force: before its
                          close; --wait: until the fan-out completes)
  settle status --date YYYY-MM-DD --workers <url>
                          progress of that day's fan-out
  retention run --workers <url>
                          run the retention purge of paper history now
  live revoke-all --reason <text> [--wait] --workers <url>
                          append a revoke command for every active live connection (the account actors disconnect
                          them); --wait: until the job completes
  live rotate-keys --key <kms key id|arn|alias> [--wait] --workers <url>
                          re-wrap every live connection's data keys under that KMS key (token ciphertext unchanged)
  live status [--job <id>] --workers <url>
                          one live job's state and progress, or the recent ones

Options:
  --gateway <url>   gateway base URL (default ${DEFAULT_GATEWAY})
  --workers <url>   a workers replica's ops URL (its ready line and the status page show it); settle, retention and
                    live only
  --token <jwt>     an operator session token
  --operator <id>   dev/test only: fetch a token for this operator from the gateway's POST /dev/token
`;

/** A refusal the operator should read: printed without a stack, exit code 1. */
export class OpsCliError extends Error {
  override readonly name = 'OpsCliError';
}

export function createOpsClient(gateway: string, token: string): OpsClient {
  return {
    async request(method, path, body) {
      const res = await send(gateway, path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const parsed = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (res.ok) return parsed;
      const detail = typeof parsed.message === 'string' ? parsed.message : typeof parsed.code === 'string' ? parsed.code : res.statusText;
      if (res.status === 401) throw new OpsCliError(`not authenticated (401): ${detail}. Pass a valid operator token with --token.`);
      if (res.status === 403) throw new OpsCliError(`forbidden (403): ${detail}. The token's user must be an operator (token role and users.role).`);
      if (res.status === 404) throw new OpsCliError(`not found (404): ${detail}`);
      throw new OpsCliError(`the gateway refused the request (${res.status}): ${detail}`);
    },
  };
}

async function send(gateway: string, path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(new URL(path, gateway), { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') throw new OpsCliError(`cannot reach the gateway at ${gateway} (connection refused): is it running? Use --gateway <url>.`);
    if ((err as Error).name === 'TimeoutError') throw new OpsCliError(`the gateway at ${gateway} did not answer within 10 s`);
    throw new OpsCliError(`cannot reach the gateway at ${gateway}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

/** Dev and test only: a session token for `operator` from the gateway's dev issuer (404 in production). */
async function devToken(gateway: string, operator: string): Promise<string> {
  const res = await send(gateway, '/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: operator }),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.status === 404) throw new OpsCliError(`no dev token for "${operator}" (404): unknown user, or the gateway runs in production (use --token).`);
  if (!res.ok || typeof body.token !== 'string') throw new OpsCliError(`the gateway issued no dev token (${res.status}): ${String(body.message ?? body.error ?? res.statusText)}`);
  return body.token;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        gateway: { type: 'string' },
        token: { type: 'string' },
        operator: { type: 'string' },
        name: { type: 'string' },
        workers: { type: 'string' },
        date: { type: 'string' },
        force: { type: 'boolean' },
        reason: { type: 'string' },
        key: { type: 'string' },
        job: { type: 'string' },
        wait: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [area, action, ...rest] = positionals;
  if (values.help || !area || !action) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['market-data', 'rules', 'users', 'settle', 'retention', 'live'].includes(area)) {
    process.stderr.write(`Unknown command "${area}".\n${USAGE}`);
    return 2;
  }
  const gateway = values.gateway ?? DEFAULT_GATEWAY;
  try {
    new URL(gateway);
  } catch {
    process.stderr.write(`--gateway must be a URL such as ${DEFAULT_GATEWAY}\n`);
    return 2;
  }
  try {
    let token = values.token;
    if (!token && values.operator) token = await devToken(gateway, values.operator);
    if (!token) {
      process.stderr.write('An operator token is required: --token <jwt>, or in dev --operator <id>.\n');
      return 2;
    }
    if (area === 'settle' || area === 'retention' || area === 'live') {
      // These endpoints live on the workers role's own ops server, which checks the same operator token.
      if (!values.workers || !URL.canParse(values.workers)) {
        process.stderr.write('--workers <url> is required: the ops URL of a workers replica, e.g. http://127.0.0.1:40123\n');
        return 2;
      }
      const workers = createOpsClient(values.workers, token);
      if (area === 'retention') return await runRetentionCommand(workers, action);
      if (area === 'live') return await runLiveCommand(workers, action, { reason: values.reason, key: values.key, job: values.job, wait: values.wait ?? false });
      return await runSettleCommand(workers, action, { date: values.date, force: values.force ?? false, wait: values.wait ?? false });
    }
    const client = createOpsClient(gateway, token);
    if (area === 'market-data') return await marketData(client, action);
    if (area === 'rules') return await runRulesCommand(client, action, rest, { name: values.name });
    return await usersCommand(client, action, rest);
  } catch (err) {
    if (err instanceof OpsCliError) {
      process.stderr.write(`ops: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function marketData(client: OpsClient, action: string): Promise<number> {
  if (action === 'status') {
    const body = await client.request('GET', '/ops/market-data');
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  if (action !== 'disable' && action !== 'enable') {
    process.stderr.write(`Unknown market-data action "${action}".\n${USAGE}`);
    return 2;
  }
  const on = action === 'disable';
  await client.request('POST', '/ops/market-data/kill-switch', { on });
  process.stdout.write(`market data ${on ? 'disabled (kill switch on)' : 'enabled (kill switch off)'}\n`);
  return 0;
}

async function usersCommand(client: OpsClient, action: string, args: string[]): Promise<number> {
  if (action !== 'set-tier') {
    process.stderr.write(`Unknown users action "${action}".\n${USAGE}`);
    return 2;
  }
  const [id, tier] = args;
  if (!id || !tier || !['free', 'pro', 'pro_plus'].includes(tier)) {
    process.stderr.write('Usage: users set-tier <user id> <free|pro|pro_plus>\n');
    return 2;
  }
  const body = await client.request('POST', `/ops/users/${encodeURIComponent(id)}/tier`, { tier });
  process.stdout.write(`user ${id}: tier ${String(body.from)} → ${String(body.tier)}${body.notified === false ? ' (gateways not notified: applies when their cache expires)' : ''}\n`);
  return 0;
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`ops failed: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
