// The market side of the paper-engine e2e tests: the simulator replaying a recording on the NYSE calendar, shifted so
// "now" is in a regular session, and a feed role process publishing its quotes; what an accounts replica needs to
// trade on them (mbt-quotes.test.ts, mbt-scale.test.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMarketClock } from '../../src/sim/clock/index.js';
import type { TestDatabase } from './database.js';
import { startRoleProcess, type RoleProcess } from './processes.js';
import { startTestSimulator } from './simulator.js';

/** Letters only, new per run: symbols (`^[A-Z]…`) and user ids of one run (Redis pub/sub is server-wide). */
export const runTag = () => randomBytes(3).toString('hex').toUpperCase().replace(/[0-9]/g, (c) => 'GHIJKLMNOP'[Number(c)]!);

/** Clock offset for every process putting "now" at 11:00 ET of the next NYSE session, so orders meet a regular session. */
export function regularSessionOffsetMs(): number {
  const clock = createMarketClock({ mode: 'nyse', offsetMs: 0 });
  return clock.nextOpen().getTime() + 90 * 60_000 - Date.now();
}

export interface LiveQuotes {
  /** A temporary directory (recording, credentials), removed by `close()`. */
  dir: string;
  sim: Awaited<ReturnType<typeof startTestSimulator>>;
  /** The feed process; await `feed.ready` before relying on quotes. */
  feed: RoleProcess;
  offsetMs: number;
  /** Environment of an accounts replica trading on these quotes (plus `extra`). */
  accountsEnv(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** Starts the simulator replaying `recording` in a loop and a feed process (env `feedEnv` added) publishing into `redisUrl`. */
export async function startLiveQuotes(o: { name: string; recording: string; redisUrl: string; tdb: TestDatabase; feedEnv?: Record<string, string> }): Promise<LiveQuotes> {
  const dir = mkdtempSync(join(tmpdir(), `raxx-${o.name}-`));
  const offsetMs = regularSessionOffsetMs();
  writeFileSync(join(dir, 'market.jsonl'), o.recording);
  writeFileSync(join(dir, 'key-id'), `${o.name}-key`);
  writeFileSync(join(dir, 'key-secret'), `${o.name}-secret`);
  const sim = await startTestSimulator({
    SIM_REPLAY_FILE: join(dir, 'market.jsonl'),
    SIM_REPLAY_LOOP: '1',
    SIM_CLOCK: 'nyse',
    CLOCK_OFFSET_MS: String(offsetMs),
    SIM_KEYS: `${o.name}-key:${o.name}-secret:algo_trader_plus`,
  });
  const common = {
    RAXX_ENV: 'test',
    REDIS_URL: o.redisUrl,
    DATABASE_URL: o.tdb.appUrl,
    ALPACA_TRADING_URL: sim.url,
    ALPACA_KEY_ID_FILE: join(dir, 'key-id'),
    ALPACA_SECRET_KEY_FILE: join(dir, 'key-secret'),
    CLOCK_OFFSET_MS: String(offsetMs),
  };
  const feed = startRoleProcess('feed', { ...common, ALPACA_DATA_STREAM_URL: sim.ws, ALPACA_DATA_REST_URL: sim.url, ...o.feedEnv }, 60_000);
  return {
    dir,
    sim,
    feed,
    offsetMs,
    accountsEnv: (extra = {}) => ({ ...common, DATABASE_BATCH_URL: o.tdb.batchUrl, ...extra }),
    close: async () => {
      await feed.stop('SIGKILL');
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
