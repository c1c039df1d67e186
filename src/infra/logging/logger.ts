// Builds the pino logger every role uses: JSON lines, secrets scrubbed twice (by field and over the final line).
import pino, { type Logger } from 'pino';
import { createRedactor, serializeError, type Redactor } from './redactor.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  role: string;
  level?: string;
  pretty?: boolean;
  redactor?: Redactor;
  /** Where lines go; defaults to stdout. Tests pass a collecting stream. */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions): { logger: Logger; redactor: Redactor } {
  const redactor = opts.redactor ?? createRedactor();
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { role: opts.role, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    serializers: { err: serializeError, error: serializeError },
    formatters: {
      level: (label) => ({ level: label }),
      // Structured pass: secret-named fields at any depth, error objects, strings inside objects.
      log: (record) => redactor.scrubObject(record),
    },
    hooks: {
      // Final pass over the serialised line: catches secrets inside `msg`, error messages and URLs
      // that a field-name rule cannot see.
      streamWrite: (line) => redactor.scrubText(line),
    },
  };
  if (opts.pretty && !opts.destination) {
    const transport = pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } });
    return { logger: pino(options, transport), redactor };
  }
  return { logger: pino(options, opts.destination ?? pino.destination({ dest: 1, sync: true })), redactor };
}
