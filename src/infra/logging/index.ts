// Logging: pino with secret redaction.
export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export { createRedactor, serializeError, REDACTED, type Redactor } from './redactor.js';
