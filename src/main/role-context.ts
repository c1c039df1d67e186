// What every role process gets before it starts: typed config, a redacting logger, metrics and an orderly shutdown.
import { ConfigError, loadConfig, secretValues, type Config } from '../config/index.js';
import { createLogger, type Logger, type Redactor } from '../infra/logging/index.js';
import { createMetricsRegistry } from '../infra/metrics/index.js';
import type { Registry } from 'prom-client';

export interface RoleContext {
  role: string;
  config: Config;
  logger: Logger;
  redactor: Redactor;
  metrics: Registry;
  /** Registers a cleanup step; steps run in reverse order on shutdown, each even if an earlier one fails. */
  onShutdown(step: () => Promise<void> | void): void;
}

export interface RunningRole {
  url: string;
  /** Logged with the ready line so an operator sees what this process does. */
  note?: string;
}

export type RoleStarter = (ctx: RoleContext) => Promise<RunningRole>;

export async function runRole(role: string, start: RoleStarter): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // No logger yet (its level is config too): one plain line, as the orchestrator and kubectl logs show it.
    process.stderr.write(`${JSON.stringify({ level: 'fatal', role, code: err.code, variable: err.variable, msg: err.message })}\n`);
    process.exit(2);
  }
  const { logger, redactor } = createLogger({ role, level: config.log.level, pretty: config.log.format === 'pretty' });
  for (const value of secretValues(config)) redactor.learn(value);
  for (const secret of Object.values(config.secrets)) secret.onChange((next) => redactor.learn(next));

  const steps: Array<() => Promise<void> | void> = [];
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string, exitCode: number) =>
    (stopping ??= (async () => {
      logger.info({ reason }, 'stopping');
      for (const step of steps.reverse()) {
        try {
          await step();
        } catch (err) {
          logger.warn({ err }, 'shutdown step failed');
        }
      }
      for (const secret of Object.values(config.secrets)) secret.close();
      logger.info('stopped');
      process.exit(exitCode);
    })());

  process.once('SIGINT', () => void shutdown('SIGINT', 0));
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  // The orchestrator talks to us over a pipe: when it goes away, so do we (no orphaned roles).
  process.once('disconnect', () => void shutdown('parent gone', 0));

  const ctx: RoleContext = {
    role,
    config,
    logger,
    redactor,
    metrics: createMetricsRegistry(role),
    onShutdown: (step) => steps.push(step),
  };
  try {
    const running = await start(ctx);
    // The ready line is a contract (orchestrators and tests wait for it), so it is written whatever LOG_LEVEL says.
    logger.child({}, { level: 'info' }).info({ ready: true, url: running.url, ...(running.note ? { note: running.note } : {}) }, 'ready');
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    await shutdown('start failed', 1);
  }
}
