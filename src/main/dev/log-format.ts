// Turns a role's JSON log line into one readable, prefixed line for the dev terminal.

const COLORS = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m', '\x1b[91m'];
const RESET = '\x1b[0m';
const LEVEL_STYLE: Record<string, string> = { fatal: '\x1b[41m', error: '\x1b[31m', warn: '\x1b[33m', info: '', debug: '\x1b[90m', trace: '\x1b[90m' };
const HIDDEN = new Set(['level', 'time', 'role', 'pid', 'msg', 'hostname']);

export function prefixFor(name: string, index: number, color: boolean): string {
  const label = `[${name}]`.padEnd(11);
  return color ? `${COLORS[index % COLORS.length]}${label}${RESET}` : label;
}

export function formatLine(prefix: string, line: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return `${prefix} ${line}`;
    record = parsed as Record<string, unknown>;
  } catch {
    return `${prefix} ${line}`;
  }
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const level = typeof record.level === 'string' ? record.level : 'info';
  const levelText = level.toUpperCase().padEnd(5);
  const styled = color && LEVEL_STYLE[level] ? `${LEVEL_STYLE[level]}${levelText}${RESET}` : levelText;
  const fields = Object.entries(record)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${prefix} ${time} ${styled} ${String(record.msg ?? '')}${fields ? `  ${fields}` : ''}`;
}
