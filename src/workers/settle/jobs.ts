// The settle queue's two jobs: the scheduled check (catch up every passed close after the watermark) and an
// operator's run for one given session.
import { addDays, newYorkDate, type MarketCalendar } from '../../infra/alpaca/index.js';
import { settleRunDataSchema } from '../queues.js';
import { fanOutDay, settleWatermark, withSettleLock, type FanOutDeps, type FanOutResult } from './fan-out.js';
import { FIRST_RUN_LOOKBACK_DAYS, sessionsToFanOut } from './schedule.js';

export interface SettleJobDeps extends FanOutDeps {
  calendar: MarketCalendar;
}

export interface SettleCheckResult {
  watermark: string | null;
  days: FanOutResult[];
  /** Another replica was fanning out: this check did nothing (the next one continues). */
  busy?: true;
}

export async function runSettleCheck(deps: SettleJobDeps): Promise<SettleCheckResult> {
  try {
    return await withSettleLock(deps.sql, async (conn) => {
      const now = deps.now();
      const today = newYorkDate(now);
      const watermark = await settleWatermark(conn);
      const start = watermark === null ? addDays(today, -FIRST_RUN_LOOKBACK_DAYS) : addDays(watermark, 1);
      if (start > today) return { watermark, days: [] };
      const due = sessionsToFanOut(await deps.calendar.sessions(start, today), watermark, now);
      const days: FanOutResult[] = [];
      // In date order; a failure stops here, so the watermark never passes a day that is not fully fanned out.
      for (const session of due) days.push(await fanOutDay(deps, conn, session, { trigger: 'schedule', scheduled: true }));
      return { watermark: due.at(-1)?.date ?? watermark, days };
    });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'settle_busy') return { watermark: null, days: [], busy: true };
    throw err;
  }
}

/** An operator's run: resumes an unfinished day, or runs a completed one again (re-appending is a no-op at the actors). */
export async function runSettleForDay(deps: FanOutDeps, data: unknown): Promise<FanOutResult> {
  const job = settleRunDataSchema.parse(data);
  return withSettleLock(deps.sql, (conn) =>
    fanOutDay(deps, conn, { date: job.tradingDay, closeAt: new Date(job.closeAt) }, { trigger: job.requestedBy, restart: true }),
  );
}
