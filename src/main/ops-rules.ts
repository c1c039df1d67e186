// `npm run ops -- rules …`: the bar-close rule registry (symbol lists whose closed minute bars enqueue jobs),
// through the gateway's /ops/rules endpoints.

/** How the ops commands reach the gateway (implemented in ops.ts). */
export interface OpsClient {
  /** Sends one request; returns the parsed JSON body of a 2xx reply, throws with a readable message otherwise. */
  request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<Record<string, unknown>>;
}

const RULE_ID = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

interface RuleJson {
  id: string;
  name: string;
  symbols: string[];
}

export async function runRulesCommand(client: OpsClient, action: string, args: string[], opts: { name: string | undefined }): Promise<number> {
  if (action === 'list') {
    const body = (await client.request('GET', '/ops/rules')) as { rules?: RuleJson[] };
    for (const rule of body.rules ?? []) process.stdout.write(`${rule.id}\t${rule.name}\t${rule.symbols.join(',')}\n`);
    return 0;
  }
  const [id, ...symbols] = args;
  if (!id || !RULE_ID.test(id)) {
    process.stderr.write('A rule id is required: a letter, then letters, digits, _ . - (at most 64).\n');
    return 2;
  }
  if (action === 'set') {
    const upper = symbols.map((s) => s.toUpperCase());
    if (upper.length === 0 || upper.some((s) => !/^[A-Z][A-Z0-9.]{0,9}$/.test(s))) {
      process.stderr.write('Give one or more symbols such as AAPL MSFT BRK.B.\n');
      return 2;
    }
    const body = (await client.request('PUT', `/ops/rules/${encodeURIComponent(id)}`, { ...(opts.name ? { name: opts.name } : {}), symbols: upper })) as { rule?: RuleJson };
    process.stdout.write(`rule ${id} now watches ${(body.rule?.symbols ?? upper).join(', ')}\n`);
    return 0;
  }
  if (action === 'disable') {
    await client.request('DELETE', `/ops/rules/${encodeURIComponent(id)}`);
    process.stdout.write(`rule ${id} disabled\n`);
    return 0;
  }
  process.stderr.write(`Unknown rules action "${action}".\n`);
  return 2;
}
