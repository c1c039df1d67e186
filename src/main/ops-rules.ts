// `npm run ops -- rules …`: the bar-close rule registry (symbol lists whose closed minute bars enqueue jobs).
import { appendAudit } from '../infra/audit/index.js';
import type { DbHandle } from '../infra/db/index.js';
import { disableRule, isValidRuleId, listEnabledRules, upsertRule } from '../infra/market-data/index.js';

export async function runRulesCommand(action: string, args: string[], ctx: { operator: string; name: string | undefined; db: DbHandle }): Promise<number> {
  const { db } = ctx.db;
  if (action === 'list') {
    for (const rule of await listEnabledRules(db)) process.stdout.write(`${rule.id}\t${rule.name}\t${rule.symbols.join(',')}\n`);
    return 0;
  }
  const [id, ...symbols] = args;
  if (!id || !isValidRuleId(id)) {
    process.stderr.write('A rule id is required: a letter, then letters, digits, _ . - (at most 64).\n');
    return 2;
  }
  if (action === 'set') {
    const upper = symbols.map((s) => s.toUpperCase());
    if (upper.length === 0 || upper.some((s) => !/^[A-Z][A-Z0-9.]{0,9}$/.test(s))) {
      process.stderr.write('Give one or more symbols such as AAPL MSFT BRK.B.\n');
      return 2;
    }
    await upsertRule(db, { id, name: ctx.name ?? id, symbols: upper, createdBy: `operator:${ctx.operator}` });
    await appendAudit(db, { actor: `operator:${ctx.operator}`, action: 'market_data.rule.set', outcome: 'success', details: { ruleId: id, symbols: upper } });
    process.stdout.write(`rule ${id} now watches ${upper.join(', ')}\n`);
    return 0;
  }
  if (action === 'disable') {
    const found = await disableRule(db, id);
    await appendAudit(db, { actor: `operator:${ctx.operator}`, action: 'market_data.rule.disable', outcome: found ? 'success' : 'failure', details: { ruleId: id } });
    process.stdout.write(found ? `rule ${id} disabled\n` : `no rule ${id}\n`);
    return found ? 0 : 1;
  }
  process.stderr.write(`Unknown rules action "${action}".\n`);
  return 2;
}
