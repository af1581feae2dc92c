/**
 * The gateway's logger: JSON lines for machines, pino-pretty's human-readable form for people on a
 * terminal, written synchronously either way so that nothing is lost when the process exits.
 *
 * The redaction list lives here too, so every logger the gateway runs with (the CLI's, the default
 * one in gateway.ts) censors the same fields.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogFormat } from './schema.js';

/**
 * Fields whose values never reach a log line, wherever a caller puts them. Request logging itself
 * never logs headers or raw URLs (see app.ts); this is the net under every other log call.
 */
export const LOG_REDACT_PATHS: readonly string[] = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'token',
  '*.token',
  'auth_headers',
  '*.auth_headers',
  'authHeaders',
  '*.authHeaders',
  'admin_token',
  '*.admin_token',
  'adminToken',
  '*.adminToken',
  'master_key',
  '*.master_key',
  'masterKey',
  '*.masterKey',
  'api_key',
  '*.api_key',
  'api_token',
  '*.api_token',
  'password',
  '*.password',
];

export const REDACTED = '[redacted]';

/** pino's options shared by every logger of the gateway. */
export function baseLoggerOptions(level: string): pino.LoggerOptions {
  return { level, redact: { paths: [...LOG_REDACT_PATHS], censor: REDACTED } };
}

/** `auto`: pretty when the output is a terminal, JSON lines otherwise. */
export function resolveLogFormat(format: LogFormat, isTTY: boolean): 'pretty' | 'json' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

/** The fields of the one line logged per request (app.ts), hidden from pretty output's detail lines. */
const ACCESS_KEYS = ['method', 'route', 'status', 'duration_ms', 'project_id', 'token_id', 'reqId'] as const;
export const ACCESS_MESSAGE = 'request';

function isAccessLine(log: Record<string, unknown>): boolean {
  return log.msg === ACCESS_MESSAGE && typeof log.method === 'string' && typeof log.status === 'number';
}

/** `GET /v1/projects/:pid/metrics 200 1.2 ms project=p-… token=t-…` for an access line; the message otherwise. */
function messageFormat(log: Record<string, unknown>, messageKey: string): string {
  if (!isAccessLine(log)) return String(log[messageKey] ?? '');
  let line = `${log.method as string} ${String(log.route)} ${String(log.status)} ${String(log.duration_ms)} ms`;
  if (log.project_id !== undefined) line += ` project=${String(log.project_id)}`;
  if (log.token_id !== undefined) line += ` token=${String(log.token_id)}`;
  return line;
}

export interface LoggerOptions {
  readonly level: string;
  readonly format: LogFormat;
  /** Where lines go; default standard output (file descriptor 1). */
  readonly destination?: DestinationStream | NodeJS.WritableStream;
  /** Whether the output is a terminal; default: standard output's. Decides `auto`, and colours. */
  readonly isTTY?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The gateway's logger. Pretty output runs pino-pretty's formatter in this thread and writes each
 * line synchronously (no worker thread, no buffer to lose on exit); pino-pretty is only loaded then.
 */
export async function createLogger(opts: LoggerOptions): Promise<Logger> {
  const isTTY = opts.isTTY ?? process.stdout.isTTY === true;
  const format = resolveLogFormat(opts.format, isTTY);
  const out = opts.destination ?? pino.destination({ fd: 1, sync: true });
  if (format === 'json') return pino(baseLoggerOptions(opts.level), out);
  const { prettyFactory } = await import('pino-pretty');
  const env = opts.env ?? process.env;
  const hideOnAccessLines = (value: unknown, _key: string, log: object): string =>
    (isAccessLine(log as Record<string, unknown>) ? undefined : JSON.stringify(value, null, 2)) as string;
  const format1 = prettyFactory({
    colorize: isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb',
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
    messageFormat: messageFormat as never,
    customPrettifiers: Object.fromEntries(ACCESS_KEYS.map((k) => [k, hideOnAccessLines])),
  });
  const stream: DestinationStream = { write: (line: string) => void out.write(format1(line)) };
  return pino(baseLoggerOptions(opts.level), stream);
}
