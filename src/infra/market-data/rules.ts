// Rule registry repository: the market_data_rules table (not a tenant table; plain statements as raxx_app).
import { asc, eq, sql } from 'drizzle-orm';
import { symbolSchema } from '../../contracts/market-data.js';
import type { Executor } from '../db/client.js';
import { toDbError } from '../db/errors.js';
import { MARKET_DATA_RULE_ID_PATTERN, marketDataRules } from '../db/schema/market-data-rules.js';

export interface MarketDataRule {
  id: string;
  name: string;
  symbols: readonly string[];
  enabled: boolean;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface UpsertRuleInput {
  /** `^[A-Za-z][A-Za-z0-9_.-]{0,63}$` (ends up in BullMQ job ids). */
  id: string;
  name: string;
  symbols: readonly string[];
  /** Default true. */
  enabled?: boolean;
  /** Kept from the first insert; later upserts do not change it. */
  createdBy?: string | null;
}

const ruleIdRegex = new RegExp(MARKET_DATA_RULE_ID_PATTERN);

export function isValidRuleId(id: string): boolean {
  return ruleIdRegex.test(id);
}

/** Enabled rules, by id. */
export async function listEnabledRules(db: Executor): Promise<MarketDataRule[]> {
  try {
    return await db.select().from(marketDataRules).where(eq(marketDataRules.enabled, true)).orderBy(asc(marketDataRules.id));
  } catch (err) {
    throw toDbError(err);
  }
}

/** Inserts or replaces a rule's name, symbols and enabled flag (symbols validated, de-duplicated, sorted). */
export async function upsertRule(db: Executor, input: UpsertRuleInput): Promise<MarketDataRule> {
  if (!isValidRuleId(input.id)) throw new Error(`invalid rule id ${JSON.stringify(input.id)}`);
  const symbols = [...new Set(input.symbols.map((s) => symbolSchema.parse(s)))].sort();
  const enabled = input.enabled ?? true;
  try {
    const [row] = await db
      .insert(marketDataRules)
      .values({ id: input.id, name: input.name, symbols, enabled, createdBy: input.createdBy ?? null })
      .onConflictDoUpdate({
        target: marketDataRules.id,
        set: { name: input.name, symbols, enabled, updatedAt: sql`now()` },
      })
      .returning();
    return row!;
  } catch (err) {
    throw toDbError(err);
  }
}

/** Disables a rule (rules are never deleted); false when there is no such rule. */
export async function disableRule(db: Executor, id: string): Promise<boolean> {
  try {
    const rows = await db
      .update(marketDataRules)
      .set({ enabled: false, updatedAt: sql`now()` })
      .where(eq(marketDataRules.id, id))
      .returning({ id: marketDataRules.id });
    return rows.length > 0;
  } catch (err) {
    throw toDbError(err);
  }
}
