// Config parsing: defaults, fail-fast errors that name the variable, file-backed and rotating secrets.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'raxx-config-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.env).toBe('dev');
    expect(c.http).toEqual({ host: '127.0.0.1', port: 0 });
    expect(c.redis.url).toBe('redis://127.0.0.1:16379');
    expect(c.database.appUrl).toBe('postgres://raxx_app@127.0.0.1:15432/raxx');
    expect(c.database.migrationRole).toBe('raxx_owner');
    expect(c.accounts).toEqual({ partitions: 64, leaseTtlMs: 5000, startingCash: '100000', gateCycles: 20, quoteLingerMs: 60_000, maxConcurrentTurns: 8, maxTurnPartitions: 16, turnLingerMs: 5, blindTurns: true });
    expect(c.tiers.freeDelayMs).toBe(900_000);
    expect(c.dev.statusPort).toBe(8700);
    expect(c.alpaca.liveHandoffDisabled).toBe(false);
    expect(c.secrets).toEqual({});
  });

  it('parses typed values', () => {
    const c = loadConfig({ PORT: '9100', ALPACA_LIVE_HANDOFF_DISABLED: '1', CLOCK_OFFSET_MS: '-2500', KMS_ENDPOINT: '', DATABASE_MIGRATION_ROLE: '' });
    expect(c.http.port).toBe(9100);
    expect(c.alpaca.liveHandoffDisabled).toBe(true);
    expect(c.clock.offsetMs).toBe(-2500);
    expect(c.kms.endpoint).toBeUndefined();
    expect(c.database.migrationRole).toBeUndefined();
    expect(loadConfig({ ACCOUNTS_MAX_CONCURRENT_TURNS: '12' }).accounts.maxConcurrentTurns).toBe(12);
    expect(loadConfig({ ACCOUNTS_MAX_TURN_PARTITIONS: '4' }).accounts.maxTurnPartitions).toBe(4);
    expect(() => loadConfig({ ACCOUNTS_MAX_TURN_PARTITIONS: '0' })).toThrow(/ACCOUNTS_MAX_TURN_PARTITIONS/);
    expect(loadConfig({ ACCOUNTS_TURN_LINGER_MS: '0' }).accounts.turnLingerMs).toBe(0);
    expect(() => loadConfig({ ACCOUNTS_TURN_LINGER_MS: '51' })).toThrow(/ACCOUNTS_TURN_LINGER_MS/);
    expect(() => loadConfig({ ACCOUNTS_TURN_LINGER_MS: '-1' })).toThrow(/ACCOUNTS_TURN_LINGER_MS/);
    expect(loadConfig({}).accounts.blindTurns).toBe(true);
    expect(loadConfig({ ACCOUNTS_BLIND_TURNS: '0' }).accounts.blindTurns).toBe(false);
    expect(() => loadConfig({ ACCOUNTS_BLIND_TURNS: 'maybe' })).toThrow(/ACCOUNTS_BLIND_TURNS/);
  });

  it('keeps command bookkeeping no longer than the shortest history horizon', () => {
    expect(loadConfig({}).workers.retention).toEqual({ pattern: '0 7 * * *', batchSize: 1000, freeDays: 90, proDays: 1095, commandsDays: 30 });
    expect(loadConfig({ RETENTION_COMMANDS_DAYS: '90' }).workers.retention.commandsDays).toBe(90);
    // processed_commands rows and dead letters hold order contents: a longer window would outlive Free's history.
    const err = configError({ RETENTION_COMMANDS_DAYS: '91' });
    expect(err.variable).toBe('RETENTION_COMMANDS_DAYS');
    expect(err.message).toMatch(/at most RETENTION_FREE_DAYS/);
    expect(configError({ RETENTION_FREE_DAYS: '7' }).variable).toBe('RETENTION_COMMANDS_DAYS');
    expect(loadConfig({ RETENTION_FREE_DAYS: '7', RETENTION_COMMANDS_DAYS: '7' }).workers.retention.commandsDays).toBe(7);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['DATABASE_URL', 'not a url'],
    ['RAXX_ENV', 'staging'],
    ['ACCOUNTS_PARTITIONS', '0'],
    ['ACCOUNTS_MAX_CONCURRENT_TURNS', '0'],
    ['ACCOUNTS_MAX_CONCURRENT_TURNS', '65'],
    ['PAPER_STARTING_CASH', '1e5'],
    ['ALPACA_MARKET_DATA_DISABLED', 'maybe'],
  ])('fails fast naming %s for %j', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.code).toBe('config_invalid');
    expect(err.variable).toBe(name);
    expect(err.message).toContain(name);
  });

  it('never echoes a bad value, which may be a credential', () => {
    const err = configError({ DATABASE_URL: 'mysql://u:hunter2-canary@db/x' });
    expect(err.message).not.toContain('hunter2-canary');
  });

  it('refuses a Free-tier delay under 15 minutes unless the environment is test', () => {
    expect(configError({ FREE_TIER_DELAY_MS: '1000' }).variable).toBe('FREE_TIER_DELAY_MS');
    expect(configError({ FREE_TIER_DELAY_MS: '1000', RAXX_ENV: 'production' }).variable).toBe('FREE_TIER_DELAY_MS');
    expect(loadConfig({ FREE_TIER_DELAY_MS: '1000', RAXX_ENV: 'test' }).tiers.freeDelayMs).toBe(1000);
  });

  it('reads connection URLs from *_FILE', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'db'), 'postgres://app:pw@db.internal:5432/raxx\n');
    expect(loadConfig({ DATABASE_URL_FILE: join(dir, 'db') }).database.appUrl).toBe('postgres://app:pw@db.internal:5432/raxx');
    expect(configError({ DATABASE_URL_FILE: join(dir, 'missing') }).variable).toBe('DATABASE_URL_FILE');
  });

  it('reads secrets from the environment or a file, and never prints them', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secret'), 'file-secret-value\n');
    const c = loadConfig({ ALPACA_KEY_ID: 'env-key-value', ALPACA_SECRET_KEY_FILE: join(dir, 'secret') });
    expect(c.secrets.ALPACA_KEY_ID?.current()).toBe('env-key-value');
    expect(c.secrets.ALPACA_SECRET_KEY?.current()).toBe('file-secret-value');
    expect(JSON.stringify(c)).not.toMatch(/env-key-value|file-secret-value/);
    expect(String(c.secrets.ALPACA_KEY_ID)).toBe('[secret]');
    c.secrets.ALPACA_SECRET_KEY?.close();
  });

  it('fails naming the *_FILE variable when a secret file is unreadable', () => {
    expect(configError({ SESSION_JWT_SECRET_FILE: '/nonexistent/raxx/secret' }).variable).toBe('SESSION_JWT_SECRET_FILE');
  });

  it('notices a rotated secret file without a restart', async () => {
    const dir = tempDir();
    const path = join(dir, 'key');
    writeFileSync(path, 'first-key-value');
    const c = loadConfig({ ALPACA_KEY_ID_FILE: path });
    const secret = c.secrets.ALPACA_KEY_ID!;
    const seen = new Promise<string>((resolve) => secret.onChange(resolve));
    // The file watcher polls; a distinct mtime makes the change visible on coarse-grained filesystems.
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(path, 'second-key-value');
    await expect(seen).resolves.toBe('second-key-value');
    expect(secret.current()).toBe('second-key-value');
    secret.close();
  });
});
