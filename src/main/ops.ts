// `npm run ops -- …`: operator commands. Each is audited with the operator's id.
// Until the gateway's /ops endpoints exist, this CLI talks to Redis and PostgreSQL directly.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { marketDataKeys, marketDataChannels } from '../contracts/index.js';
import { appendAudit } from '../infra/audit/index.js';
import { createDb } from '../infra/db/index.js';
import { closeRedis, createRedis } from '../infra/redis/index.js';
import { runRulesCommand } from './ops-rules.js';

const USAGE = `Usage: npm run ops -- <command> --operator <id>

  market-data disable     kill switch on: the feed drops its socket, clients get last-known-good data and a banner
  market-data enable      kill switch off: live data resumes
  market-data status      show the kill switch and the hub status
  rules list              bar-close rules (symbol lists whose closed minute bars enqueue jobs)
  rules set <id> <SYMBOL...> [--name <name>]
  rules disable <id>
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { operator: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [area, action, ...rest] = positionals;
  if (values.help || !area || !action) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const readOnly = action === 'status' || action === 'list';
  if (!readOnly && !values.operator) {
    process.stderr.write('--operator <id> is required: every operator action is audited with who did it.\n');
    return 2;
  }
  const operator = values.operator ?? 'anonymous';
  const config = loadConfig();
  const db = createDb(config.database.appUrl, { max: 1, appName: 'raxx-ops' });
  try {
    if (area === 'market-data') return await marketData(action, operator, config.redis.url, db);
    if (area === 'rules') return await runRulesCommand(action, rest, { operator, name: values.name, db });
    process.stderr.write(`Unknown command "${area}".\n${USAGE}`);
    return 2;
  } finally {
    await db.close();
  }
}

async function marketData(action: string, operator: string, redisUrl: string, db: ReturnType<typeof createDb>): Promise<number> {
  const redis = createRedis(redisUrl, 'raxx-ops');
  try {
    if (action === 'status') {
      const [kill, status] = await Promise.all([redis.get(marketDataKeys.killSwitch), redis.get(marketDataKeys.status)]);
      process.stdout.write(`${JSON.stringify({ killSwitch: kill === '1', hub: status ? JSON.parse(status) : null }, null, 2)}\n`);
      return 0;
    }
    if (action !== 'disable' && action !== 'enable') {
      process.stderr.write(`Unknown market-data action "${action}".\n${USAGE}`);
      return 2;
    }
    const on = action === 'disable';
    if (on) await redis.set(marketDataKeys.killSwitch, '1');
    else await redis.del(marketDataKeys.killSwitch);
    // Wake the leader now rather than at its next poll.
    await redis.publish(marketDataChannels.demandChanged, 'kill-switch');
    await appendAudit(db.db, { actor: `operator:${operator}`, action: on ? 'market_data.disable' : 'market_data.enable', outcome: 'success', details: { via: 'ops-cli' } });
    process.stdout.write(`market data ${on ? 'disabled (kill switch on)' : 'enabled (kill switch off)'}\n`);
    return 0;
  } finally {
    await closeRedis(redis);
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`ops failed: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
