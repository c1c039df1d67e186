// Entry point of the simulator process (`npm run sim`, or role `sim`): reads SIM_* settings, serves, logs one ready line.
import { pathToFileURL } from 'node:url';
import { loadSimConfig, SimConfigError } from './config.js';
import { createSimLog } from './log.js';
import { startSimulator } from './server.js';

export async function runSimulator(env: Record<string, string | undefined> = process.env): Promise<void> {
  const log = createSimLog();
  let config;
  try {
    config = loadSimConfig(env);
  } catch (err) {
    if (!(err instanceof SimConfigError)) throw err;
    log('fatal', err.message, { code: 'config_invalid', variable: err.variable });
    process.exit(2);
  }
  let sim;
  try {
    sim = await startSimulator(config, log);
  } catch (err) {
    log('fatal', 'failed to start', { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  const ws = sim.url.replace(/^http/, 'ws');
  log('info', 'ready', {
    ready: true,
    url: sim.url,
    kmsUrl: sim.kmsUrl,
    marketDataStream: `${ws}/v2/{iex,sip,delayed_sip,test}`,
    tradeUpdates: `${ws}/stream`,
    control: `${sim.url}/_control/`,
    clock: config.SIM_CLOCK,
    seed: config.SIM_SEED,
    symbols: config.SIM_SYMBOLS,
    rate: config.SIM_RATE,
  });

  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping', { reason });
    await sim.close();
    log('info', 'stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('disconnect', () => void stop('parent gone'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runSimulator();
