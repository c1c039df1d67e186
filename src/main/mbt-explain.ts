// CLI: why did this paper order fill? (`npm run mbt:explain -- ORDER_ID [--json]`), and an account's recorded engine
// inputs as a replay file (`npm run mbt:explain -- --export ACCOUNT_ID > log.jsonl`, then `npm run mbt:replay -- log.jsonl`).
import { explainOrder, exportReplayLog, ReplayExportError, type OrderExplanation } from '../actors/account/index.js';
import { loadConfig } from '../config/index.js';
import { createDb } from '../infra/db/index.js';

const USAGE = 'usage: npm run mbt:explain -- ORDER_ID [--json]\n       npm run mbt:explain -- --export ACCOUNT_ID > log.jsonl\n';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function human(e: OrderExplanation): string[] {
  const o = e.order;
  const size = o.qty ?? `$${String(o.notional)}`;
  const price = o.limit_price ? ` limit ${String(o.limit_price)}` : '';
  const stop = o.stop_price ? ` stop ${String(o.stop_price)}` : '';
  const lines = [
    `order ${String(o.id)} (client ${String(o.client_order_id)}, account ${String(o.account_id)})`,
    `  ${String(o.side)} ${String(size)} ${String(o.symbol)} ${String(o.type)}${price}${stop} ${String(o.time_in_force)} — ${String(o.status)}, filled ${String(o.filled_qty)}${o.filled_avg_price ? ` @ ${String(o.filled_avg_price)}` : ''}`,
  ];
  if (o.reject_reason) lines.push(`  reason: ${String(o.reject_reason)}`);
  if (e.fills.length === 0) lines.push('  no fills');
  e.fills.forEach((f, i) => {
    lines.push(`  fill ${i + 1}: ${f.qty} @ ${f.price} (fee ${f.fee}) at ${f.filled_at}, rule ${f.rule}, quote seq ${f.quote_seq}`);
    const q = f.quote?.input;
    if (q) {
      const t = typeof q.ts === 'number' ? new Date(q.ts).toISOString() : String(q.ts);
      lines.push(`    quote (input #${f.quote!.n}): bid ${String(q.bp)} × ${String(q.bs)} / ask ${String(q.ap)} × ${String(q.as)} lots at ${t}, feed ${String(q.feed)}`);
    } else {
      lines.push('    quote: not found in the recorded inputs');
    }
  });
  return lines;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const exportIdx = argv.indexOf('--export');
  const id = exportIdx >= 0 ? argv[exportIdx + 1] : argv.find((a) => !a.startsWith('--'));
  if (!id || !UUID.test(id)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const { database } = loadConfig();
  // The batch role reads across users (the app role would see no tenant rows without a scope).
  const handle = createDb(database.batchUrl, { max: 1, appName: 'raxx-mbt-explain' });
  try {
    if (exportIdx >= 0) {
      let lines: string[] | null;
      try {
        lines = await exportReplayLog(handle.db, id);
      } catch (err) {
        if (!(err instanceof ReplayExportError)) throw err;
        process.stderr.write(`${err.code}: ${err.message}\n`);
        return 1;
      }
      if (!lines) {
        process.stderr.write(`no engine state for account ${id}\n`);
        return 1;
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    }
    const e = await explainOrder(handle.db, id);
    if (!e) {
      process.stderr.write(`order ${id} not found\n`);
      return 1;
    }
    const out = json ? [JSON.stringify({ record: 'order', ...e.order }), ...e.fills.map((f) => JSON.stringify({ record: 'fill', ...f }))] : human(e);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } catch (err) {
    const x = err as { code?: unknown; message?: unknown };
    process.stderr.write(`mbt:explain failed: ${String(x.code ?? 'ERROR')}: ${String(x.message)}\n`);
    return 2;
  } finally {
    await handle.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
