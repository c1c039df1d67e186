// Canary secrets planted in nested fields, error messages, URLs and free text never reach a log line.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, createRedactor, REDACTED } from '../../../src/infra/logging/index.js';

function collectingLogger(secrets: string[] = []) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const { logger, redactor } = createLogger({ role: 'test', level: 'trace', destination, redactor: createRedactor(secrets) });
  return { logger, redactor, lines };
}

const CANARY = {
  nestedRefresh: 'canary-nested-refresh-7f3a',
  nestedAccess: 'canary-nested-access-91bc',
  header: 'canary-bearer-token-55de',
  cookie: 'canary-cookie-0a1b',
  queryCode: 'canary-oauth-code-3c4d',
  queryState: 'canary-oauth-state-8e9f',
  dbParam: 'canary-db-param-2468',
  dbPassword: 'canary-db-password-1357',
  learned: 'canary-learned-secret-abcd',
  rotated: 'canary-rotated-secret-ef01',
  causeMsg: 'canary-cause-token-9999',
  apiSecret: 'canary-apca-secret-4242',
  ciphertext: 'canary-ciphertext-7777',
};

describe('log redaction', () => {
  it('removes every planted canary from every line while keeping the context', () => {
    const { logger, redactor, lines } = collectingLogger([CANARY.learned]);

    logger.info({ user: { connection: { tokens: { refresh_token: CANARY.nestedRefresh, nested: { accessToken: CANARY.nestedAccess } } } } }, 'nested');
    logger.info({ req: { headers: { authorization: `Bearer ${CANARY.header}`, Cookie: `session=${CANARY.cookie}`, 'user-agent': 'vitest' } } }, 'headers');
    logger.info({ url: `https://broker.example/oauth/callback?code=${CANARY.queryCode}&state=${CANARY.queryState}&ok=1` }, 'callback');
    logger.info(`redirected to /cb?code=${CANARY.queryCode}`);
    const dbError = new Error(`Failed query: insert into live (token) values ($1)\nparams: ${CANARY.dbParam}`);
    logger.error({ err: dbError }, 'db failed');
    logger.error(new Error('outer', { cause: new Error(`refresh failed with refresh_token=${CANARY.causeMsg}`) }), 'wrapped');
    logger.warn({ dsn: `postgres://app:${CANARY.dbPassword}@db.internal:5432/raxx` }, 'connecting');
    logger.info({ note: `the key is ${CANARY.learned} today` }, `also in the message: ${CANARY.learned}`);
    logger.info({ headers: { 'APCA-API-SECRET-KEY': CANARY.apiSecret } }, 'upstream');
    logger.info({ sealed: { access_token_ciphertext: Buffer.from(CANARY.ciphertext) } }, 'sealed');
    logger.info({ blob: Buffer.from(CANARY.ciphertext) }, 'raw bytes');
    redactor.learn(CANARY.rotated); // what a SecretProvider change event does
    logger.info(`new key ${CANARY.rotated} in use`);

    expect(lines.length).toBe(12);
    const all = lines.join('\n');
    for (const [name, value] of Object.entries(CANARY)) expect(all, `${name} leaked`).not.toContain(value);

    // Context survives: the redactor must not blank whole lines.
    expect(all).toContain('user-agent');
    expect(all).toContain('ok=1');
    expect(all).toContain('Failed query');
    expect(all).toContain('db.internal:5432');
    expect(all).toContain(REDACTED);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('keeps non-secret fields and booleans such as needs_reauth readable', () => {
    const { logger, lines } = collectingLogger();
    logger.info({ orderId: 'o-1', qty: '10', needs_reauth: true, token_count: null }, 'order accepted');
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(record).toMatchObject({ orderId: 'o-1', qty: '10', needs_reauth: true, msg: 'order accepted', role: 'test' });
  });

  it('keeps error codes but not OAuth codes', () => {
    const { logger, lines } = collectingLogger();
    logger.warn({ err: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }, 'db down');
    logger.info({ callback: { code: 'canary-oauth-code-in-field-77aa' } }, 'callback');
    expect(lines[0]).toContain('ECONNREFUSED');
    expect(lines[1]).not.toContain('canary-oauth-code-in-field-77aa');
  });

  it('handles circular structures without throwing', () => {
    const { logger, lines } = collectingLogger();
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    logger.info({ a }, 'circular');
    expect(lines[0]).toContain('[Circular]');
  });
});
