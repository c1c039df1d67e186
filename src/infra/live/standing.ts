// Reads what the live-eligibility rule needs, inside the caller's tenant transaction: tier, kill switch, gate and
// override, plus the user's trading mode. Read per request/command: nothing here is cached.
import { and, desc, eq, gte, isNull } from 'drizzle-orm';
import { LIVE_HANDOFF_SWITCH } from '../../contracts/live.js';
import { live, mbt } from '../../domain/index.js';
import type { Executor } from '../db/client.js';
import { customerTradingModeOverrides, liveGateOverrides, paperAccounts, runtimeSwitches, settledCycles, users, type TradingMode } from '../db/schema/index.js';

export interface StandingOptions {
  /** ALPACA_LIVE_HANDOFF_DISABLED: wins over the runtime toggle. */
  envDisabled: boolean;
  gateCycles: number;
}

export interface UserStanding extends live.LiveStanding {
  mode: TradingMode;
}

/** The kill switch: the environment flag, else the `runtime_switches` row (operators flip it through /ops). */
export async function readKillSwitch(tx: Executor, envDisabled: boolean): Promise<live.LiveStanding['killSwitch']> {
  if (envDisabled) return { disabled: true, source: 'env', reason: 'ALPACA_LIVE_HANDOFF_DISABLED is set' };
  const [row] = await tx
    .select({ enabled: runtimeSwitches.enabled, reason: runtimeSwitches.reason })
    .from(runtimeSwitches)
    .where(eq(runtimeSwitches.name, LIVE_HANDOFF_SWITCH));
  return row?.enabled ? { disabled: true, source: 'runtime', reason: row.reason } : { disabled: false };
}

/** The effective trading mode of one user: their override row, else paper. There is no process-wide mode. */
export async function resolveEffectiveMode(tx: Executor, userId: string): Promise<TradingMode> {
  const [row] = await tx.select({ mode: customerTradingModeOverrides.mode }).from(customerTradingModeOverrides).where(eq(customerTradingModeOverrides.userId, userId));
  return row?.mode ?? 'paper';
}

export async function setTradingMode(tx: Executor, userId: string, mode: TradingMode, setBy: string, reason: string): Promise<void> {
  await tx
    .insert(customerTradingModeOverrides)
    .values({ userId, mode, setBy, reason })
    .onConflictDoUpdate({ target: customerTradingModeOverrides.userId, set: { mode, setBy, reason, updatedAt: new Date() } });
}

export async function readStanding(tx: Executor, userId: string, o: StandingOptions): Promise<UserStanding | undefined> {
  const [user] = await tx.select({ tier: users.tier }).from(users).where(eq(users.id, userId));
  if (!user) return undefined;
  const [killSwitch, mode, override, gate] = await Promise.all([
    readKillSwitch(tx, o.envDisabled),
    resolveEffectiveMode(tx, userId),
    tx
      .select({ grantedBy: liveGateOverrides.grantedBy, reason: liveGateOverrides.reason })
      .from(liveGateOverrides)
      .where(and(eq(liveGateOverrides.userId, userId), isNull(liveGateOverrides.revokedAt)))
      .then((r) => r[0] ?? null),
    readGate(tx, userId, o.gateCycles),
  ]);
  return { tier: user.tier, killSwitch, mode, override, gate };
}

async function readGate(tx: Executor, userId: string, requiredCycles: number): Promise<mbt.GateStatus | null> {
  const [account] = await tx.select({ id: paperAccounts.id, cycleStartedAt: paperAccounts.cycleStartedAt }).from(paperAccounts).where(eq(paperAccounts.userId, userId));
  if (!account) return null;
  const cycles = await tx
    .select({ tradingDay: settledCycles.tradingDay, pnl: settledCycles.pnl, hadActivity: settledCycles.hadActivity, settledAt: settledCycles.settledAt })
    .from(settledCycles)
    .where(and(eq(settledCycles.userId, userId), eq(settledCycles.accountId, account.id), gte(settledCycles.settledAt, account.cycleStartedAt)))
    .orderBy(desc(settledCycles.tradingDay))
    .limit(requiredCycles);
  return mbt.evaluateGate({
    requiredCycles,
    cycleStartedAt: account.cycleStartedAt.toISOString(),
    cycles: cycles.map((c) => ({ ...c, settledAt: c.settledAt.toISOString() })),
  });
}
