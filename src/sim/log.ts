// The simulator's own JSON-lines log (it shares no code with the app); it never logs keys, tokens or key material.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface SimLog {
  (level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function createSimLog(write: (line: string) => void = (l) => process.stdout.write(l)): SimLog {
  return (level, msg, fields = {}) => {
    write(`${JSON.stringify({ level, time: new Date().toISOString(), role: 'sim', pid: process.pid, ...fields, msg })}\n`);
  };
}
