/**
 * The logger every module uses, in the IoT Edge log format (syslog severity, UTC timestamp, message,
 * then the structured fields as JSON):
 *
 *     <6> 2026-11-25 10:00:00.000 +00:00 connected to edgeHub {"component":"module-client","attempt":2}
 *
 * Written synchronously so the last lines before a crash are not lost. Secrets are redacted by key
 * name and by value pattern (connection strings, SAS signatures, bearer tokens) before anything is
 * written. Our own rather than pino: pino writes JSON lines, and turning them into this format needs
 * a second parse per line or a worker-thread transport.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  readonly level: LogLevel;
  isEnabled(level: LogLevel): boolean;
  trace(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  fatal(message: string, fields?: LogFields): void;
  /** A logger that adds `bindings` to every line (e.g. `{ component: 'outbox' }`). */
  child(bindings: LogFields): Logger;
}

export interface LoggerOptions {
  /** Default `info`. Accepts the IoT Edge `RuntimeLogLevel` spellings too (see {@link parseLogLevel}). */
  level?: LogLevel;
  /** Fields on every line, e.g. `{ module: 'orchestrator' }`. */
  bindings?: LogFields;
  /** Where lines go. Default: synchronous write to stdout. */
  write?: (line: string) => void;
  /** Injected clock, for tests. */
  now?: () => Date;
}

const ORDER: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
/** RFC 5424 severities, as IoT Edge's own modules print them. */
const SEVERITY: Record<LogLevel, number> = { trace: 7, debug: 7, info: 6, warn: 4, error: 3, fatal: 2 };

/**
 * Reads a log level the way IoT Edge spells it in `RuntimeLogLevel` (`verbose`, `warning`, …) or ours.
 * Unknown or empty values give `fallback`.
 */
export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  switch (value?.trim().toLowerCase()) {
    case 'trace':
    case 'verbose':
      return 'trace';
    case 'debug':
      return 'debug';
    case 'info':
    case 'information':
      return 'info';
    case 'warn':
    case 'warning':
      return 'warn';
    case 'error':
      return 'error';
    case 'fatal':
    case 'critical':
      return 'fatal';
    default:
      return fallback;
  }
}

const SECRET_KEY =
  /password|passwd|secret|token|accesskey|primarykey|secondarykey|privatekey|apikey|connectionstring|authorization|credential|signature|^sig$|^sas$|^key$|^cookie$/i;

const SECRET_VALUE_PATTERNS: readonly [RegExp, string][] = [
  [/(SharedAccessKey\s*=\s*)[^;\s"']+/gi, '$1[redacted]'],
  [/(SharedAccessSignature\s+)[^\s"']+/gi, '$1[redacted]'],
  [/([?&;]sig=)[^&;\s"']+/gi, '$1[redacted]'],
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, '$1[redacted]'],
  [/(password\s*[=:]\s*)[^;\s"',}]+/gi, '$1[redacted]'],
  [/(InstrumentationKey\s*=\s*)[^;\s"']+/gi, '$1[redacted]'],
];

/** Removes secrets from a string: connection-string keys, SAS signatures, bearer tokens, passwords. */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_VALUE_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const MAX_DEPTH = 6;

/** Copies `value` into plain JSON with secrets redacted (keys by name, strings by pattern). */
export function redact(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol' ? String(value) : value;
  }
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[depth]';
  seen.add(value);
  if (value instanceof Error) {
    const coded = value as Error & { code?: unknown; retryable?: unknown };
    const out: Record<string, unknown> = { name: value.name, message: redactText(value.message) };
    if (coded.code !== undefined) out['code'] = coded.code;
    if (coded.retryable !== undefined) out['retryable'] = coded.retryable;
    if (value.cause !== undefined) out['cause'] = redact(value.cause, depth + 1, seen);
    return out;
  }
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      SECRET_KEY.test(key) && item !== undefined && item !== null ? '[redacted]' : redact(item, depth + 1, seen);
  }
  return out;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `2026-11-25 10:00:00.000 +00:00` */
function formatTime(date: Date): string {
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.` +
    `${pad(date.getUTCMilliseconds(), 3)} +00:00`
  );
}

/** Formats one line in the IoT Edge format (exported for tools that print logs the same way). */
export function formatLogLine(level: LogLevel, time: Date, message: string, fields: LogFields): string {
  const safeFields = redact(fields) as Record<string, unknown>;
  const json = Object.keys(safeFields).length === 0 ? '' : ` ${JSON.stringify(safeFields)}`;
  const oneLine = redactText(message).replace(/\r?\n/g, ' | ');
  return `<${SEVERITY[level]}> ${formatTime(time)} ${oneLine}${json}`;
}

const writeStdout = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Creates the root logger of a process. Components get `logger.child({ component: '…' })`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const write = options.write ?? writeStdout;
  const now = options.now ?? (() => new Date());
  const make = (bindings: LogFields): Logger => {
    const threshold = ORDER[level];
    const emit =
      (lvl: LogLevel) =>
      (message: string, fields?: LogFields): void => {
        if (ORDER[lvl] < threshold) return;
        write(formatLogLine(lvl, now(), message, fields ? { ...bindings, ...fields } : bindings));
      };
    return {
      level,
      isEnabled: (lvl) => ORDER[lvl] >= threshold,
      trace: emit('trace'),
      debug: emit('debug'),
      info: emit('info'),
      warn: emit('warn'),
      error: emit('error'),
      fatal: emit('fatal'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make(options.bindings ?? {});
}

/** A logger that drops everything (for tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ level: 'fatal', write: () => undefined });
