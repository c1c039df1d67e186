// `npm start`: the whole system on one machine — local Redis and PostgreSQL, migrations, demo users, every role.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, childEnvironment, loadConfig, type Config } from '../config/index.js';
import { DevstackError, chooseStackDirs, isPortFree, startPostgres, startRedis, type LocalPostgres, type LocalRedis, type StackDirs } from '../devstack/index.js';
import { bootstrapDatabase, createDb, runMigrations, seedDemoUsers } from '../infra/db/index.js';
import { acquireDevLock, type DevLock } from './dev/lock.js';
import { startStatusPage } from './dev/status-page.js';
import { Supervisor } from './dev/supervisor.js';
import { ROLE_NODE_FLAGS } from './node-flags.js';
import { roleNames, type RoleName } from './roles/index.js';

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const color = process.stdout.isTTY === true;
const say = (line: string) => process.stdout.write(`${color ? '\x1b[1m[dev]\x1b[0m      ' : '[dev]       '} ${line}\n`);

const READY_TIMEOUT_MS = 90_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }

  const dirs = chooseStackDirs(checkout, config.dev.dataDir);
  const statusUrl = `http://127.0.0.1:${config.dev.statusPort}/`;
  const cleanup: Array<() => Promise<void> | void> = [];
  let lock: DevLock;
  try {
    lock = acquireDevLock(dirs.root, statusUrl);
  } catch (err) {
    if (err instanceof DevstackError) fail(err.message, 1);
    throw err;
  }
  cleanup.push(() => lock.release());

  const supervisor = new Supervisor({
    cwd: checkout,
    command: [process.execPath, ...ROLE_NODE_FLAGS, '--import', 'tsx', resolve(checkout, 'src/main/role.ts')],
    color,
    write: (line) => process.stdout.write(`${line}\n`),
  });

  let stopping = false;
  const shutdown = async (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping every role and service…');
    await supervisor.stopAll();
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
    say('stopped.');
    process.exit(exitCode);
  };
  process.on('SIGINT', () => {
    if (stopping) {
      supervisor.killAll(); // second Ctrl-C: don't wait for graceful stops
      return;
    }
    void shutdown(0);
  });
  process.on('SIGTERM', () => void shutdown(0));

  try {
    if (config.dev.statusPort !== 0 && !(await isPortFree(config.dev.statusPort))) {
      throw new DevstackError('port_in_use', `Port ${config.dev.statusPort} (DEV_STATUS_PORT) is already in use; stop what listens there or set DEV_STATUS_PORT.`);
    }
    const services = await startServices(config, dirs, cleanup);
    await prepareDatabase(config, services.postgres !== undefined);

    const status = await startStatusPage({
      host: '127.0.0.1',
      port: config.dev.statusPort,
      checkout,
      status: () => ({ roles: supervisor.statuses(), services: describeServices(config, services) }),
    });
    cleanup.push(() => status.close());

    const secrets = devSecretFiles(config, dirs);
    for (const role of roleOrder) supervisor.start({ name: role, env: roleEnv(config, role, dirs, secrets) });
    await supervisor.waitAllReady(READY_TIMEOUT_MS);
    await supervisor.waitAllReadyz(READY_TIMEOUT_MS);
    const gateway = supervisor.statuses().find((s) => s.name === 'gateway')?.url;
    say('');
    say(`Raxx Stream is up. Open ${status.url}`);
    if (gateway) say(`Gateway (API): ${gateway}`);
    if (gateway) say(`Live trading page: ${gateway.replace('127.0.0.1', 'localhost')}/live/ (passkeys need localhost)`);
    say('Ctrl-C stops everything.');
  } catch (err) {
    say(`could not start: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown(1);
  }
}

/** sim first (others will talk to it), the gateway last (it is what a person opens). */
const roleOrder: RoleName[] = ['sim', 'feed', 'accounts', 'workers', 'gateway'];
if (roleOrder.length !== roleNames.length) throw new Error('roleOrder must list every role');

function roleEnv(config: Config, role: RoleName, dirs: StackDirs, secrets: Record<string, string>): Record<string, string | undefined> {
  const ports: Partial<Record<RoleName, number>> = { sim: config.dev.simPort, gateway: config.dev.gatewayPort };
  // The simulator keeps its KMS keys with the rest of the dev data, so sealed tokens survive restarts.
  const extra: Record<string, string> = role === 'sim' ? { SIM_DATA_DIR: join(dirs.root, 'sim') } : secrets;
  return childEnvironment({ RAXX_ENV: config.env, HOST: '127.0.0.1', PORT: String(ports[role] ?? 0), LOG_FORMAT: 'json', ...extra });
}

/** The simulator's dev market-data key, as files the feed watches (edit one to see a key rotation). */
const DEV_SECRETS: Record<string, string> = {
  ALPACA_KEY_ID: 'raxx-dev-key',
  ALPACA_SECRET_KEY: 'raxx-dev-secret',
  ALPACA_OAUTH_CLIENT_SECRET: 'raxx-dev-oauth-secret',
  // The simulator's KMS credentials (SIM_KMS_SECRET_ACCESS_KEY's default).
  KMS_SECRET_ACCESS_KEY: 'raxx-sim-kms-dev-secret-access-key-000000',
  // Random per checkout: signs the dev issuer's session tokens.
  SESSION_JWT_SECRET: randomBytes(32).toString('base64url'),
};

function devSecretFiles(config: Config, dirs: StackDirs): Record<string, string> {
  const dir = join(dirs.root, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(DEV_SECRETS)) {
    if (config.secrets[name as keyof Config['secrets']]) continue; // the developer gave their own
    const file = join(dir, name.toLowerCase().replaceAll('_', '-'));
    if (!existsSync(file)) writeFileSync(file, `${value}\n`, { mode: 0o600 });
    env[`${name}_FILE`] = file;
  }
  return env;
}

interface Services {
  redis: LocalRedis | undefined;
  postgres: LocalPostgres | undefined;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

function portOf(url: string, fallback: number): number {
  const port = new URL(url).port;
  return port ? Number(port) : fallback;
}

async function startServices(config: Config, dirs: StackDirs, cleanup: Array<() => Promise<void> | void>): Promise<Services> {
  const services: Services = { redis: undefined, postgres: undefined };
  if (isLoopback(config.redis.url)) {
    services.redis = await startRedis({ port: portOf(config.redis.url, 6379), dir: dirs.redis, persistent: true, log: say });
    cleanup.push(() => services.redis!.stop());
  } else {
    say('REDIS_URL is not local: using it as it is');
  }
  if (isLoopback(config.database.migrationUrl)) {
    services.postgres = await startPostgres({ port: portOf(config.database.migrationUrl, 5432), dir: dirs.postgres, durable: true, log: say });
    cleanup.push(() => services.postgres!.stop());
  } else {
    say('DATABASE_MIGRATION_URL is not local: using it as it is');
  }
  return services;
}

async function prepareDatabase(config: Config, local: boolean): Promise<void> {
  if (local) {
    // Only a local cluster gives us a superuser; managed PostgreSQL gets its roles from the DBA (docs/database.md).
    const admin = new URL(config.database.migrationUrl);
    const database = admin.pathname.slice(1) || 'raxx';
    admin.pathname = '/postgres';
    await bootstrapDatabase({ adminUrl: admin.toString(), database });
  }
  await runMigrations({ url: config.database.migrationUrl, ...(config.database.migrationRole ? { role: config.database.migrationRole } : {}) });
  say('migrations applied');
  // Seeding goes through the app role and RLS like any request, scoped to the demo users.
  const app = createDb(config.database.appUrl, { max: 1, appName: 'raxx-seed' });
  try {
    await seedDemoUsers(app.db, { startingCash: config.accounts.startingCash });
  } finally {
    await app.close();
  }
  say('demo users ready: demo-free (Free), demo-pro (Pro), demo-pro-plus (Pro+), demo-operator');
}

function describeServices(config: Config, services: Services): Array<{ name: string; url: string; pid?: number | undefined; managed: boolean }> {
  const redisUrl = new URL(config.redis.url);
  redisUrl.password = '';
  const pgUrl = new URL(config.database.appUrl);
  pgUrl.password = '';
  return [
    { name: 'Redis', url: redisUrl.toString(), pid: services.redis?.pid, managed: services.redis !== undefined },
    { name: 'PostgreSQL', url: pgUrl.toString(), pid: services.postgres?.pid, managed: services.postgres !== undefined },
  ];
}

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

await main();
