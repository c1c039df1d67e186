// CLI: replay an MBT event log through the same engine the account actors run (`npm run mbt:replay -- FILE.jsonl [--full]`).
import { readFileSync } from 'node:fs';
import { mbt } from '../domain/index.js';

type Output = mbt.MbtOutput;

/** The compact line of one output: what explains a decision, without repeating the whole order each time. */
function compact(o: Output): Record<string, unknown> {
  if (o.type === 'trade_update') {
    const { order, timestamp, type, event, ...rest } = o;
    return { out: type, event, at: timestamp, order_id: order.id, client_order_id: order.client_order_id, symbol: order.symbol, side: order.side, status: order.status, filled_qty: order.filled_qty, ...rest };
  }
  if (o.type === 'reply') {
    if (!o.ok) return { out: 'reply', command_id: o.command_id, ok: false, status: o.status, code: o.code, message: o.message };
    return {
      out: 'reply',
      command_id: o.command_id,
      ok: true,
      ...(o.order ? { order_id: o.order.id, status: o.order.status } : {}),
      ...(o.orders ? { order_ids: o.orders.map((x) => x.id) } : {}),
      ...(o.duplicate ? { duplicate: true } : {}),
    };
  }
  const { type, ...rest } = o;
  return { out: type, ...rest };
}

function main(argv: string[]): number {
  const full = argv.includes('--full');
  const file = argv.find((a) => !a.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: npm run mbt:replay -- FILE.jsonl [--full]\n');
    return 2;
  }
  let log: mbt.ReplayLog;
  try {
    log = mbt.parseReplayLog(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof mbt.ReplayLogError) {
      process.stderr.write(`${file}:${err.line}: ${err.detail}\n`);
      return 2;
    }
    process.stderr.write(`${file}: ${(err as Error).message}\n`);
    return 2;
  }
  let state = log.state ?? mbt.initialState(log.account);
  const history = new mbt.MemoryHistory();
  history.add(log.history ?? []);
  const lines: string[] = [];
  for (const { line, input } of log.inputs) {
    const r = mbt.step(state, input, log.config, history);
    state = r.state;
    history.add(r.clientIds, r.closed);
    for (const o of r.outputs) lines.push(JSON.stringify({ line, ...(full ? o : compact(o)) }));
  }
  const v = mbt.accountValues(state, log.config);
  lines.push(
    JSON.stringify({
      out: 'final',
      account: { id: state.account.id, type: state.account.type, cash: state.account.cash, reserved_cash: v.reserved.toString(), equity: v.equity.toFixed(2), buying_power: v.buyingPower.isNeg() ? '0.00' : v.buyingPower.toFixed(2) },
      positions: state.positions,
      open_orders: Object.values(state.orders)
        .filter((o) => mbt.OPEN_STATUSES.has(o.status))
        .map((o) => ({ id: o.id, status: o.status, symbol: o.symbol, side: o.side, qty: o.qty, filled_qty: o.filled_qty, reserved_cash: o.work.reserved })),
      cycles_settled: state.cycle.settledCount,
    }),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
