import { createRequire } from 'node:module';
import type winston from 'winston';
import { ConfigError } from './errors.ts';
import type { OptionSpec, OptionValue } from '../config/options.ts';

export type Logger = winston.Logger;

/** The levels `--log-level` accepts, most severe first. The one list: options, config and charts follow it. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The formats `--log-format` accepts: `json`, one JSON object per line for collectors; `text`, one
 * human line per event for a terminal.
 */
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const oneOf = (list: readonly string[]) => `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`;

/** The log options of every long-running command (agent, auth): one spec, spread into each option table. */
export const LOG_OPTIONS: readonly OptionSpec[] = [
  { key: 'logLevel', flag: 'log-level', kind: 'string', arg: '<level>', default: 'info', help: oneOf(LOG_LEVELS) },
  { key: 'logFormat', flag: 'log-format', kind: 'string', arg: '<format>', default: 'json', help: 'json: one JSON object per line (time, level, msg, then the fields); text: one human line per event' },
];

export interface LogSettings {
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Checks the resolved `logLevel` and `logFormat` values. Throws ConfigError (`ERR_CONFIG`) naming the flag. */
export function resolveLogSettings(values: Record<string, OptionValue>): LogSettings {
  const logLevel = values.logLevel as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('logLevel', `--log-level must be ${oneOf(LOG_LEVELS)} (got ${JSON.stringify(logLevel)})`);
  const logFormat = values.logFormat as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) throw new ConfigError('logFormat', `--log-format must be ${oneOf(LOG_FORMATS)} (got ${JSON.stringify(logFormat)})`);
  return { logLevel, logFormat };
}

/**
 * Field names whose values never reach a log line, whatever a caller passes: tokens, keys and CSR
 * bodies are secrets or close to them.
 */
const SECRET_FIELDS = new Set(['token', 'kubernetesToken', 'csr', 'key', 'privateKey', 'password', 'authorization']);

/** Keys every line starts with, in this order; an event field of the same name is dropped, never moved ahead. */
const HEAD_FIELDS = new Set(['time', 'level', 'msg']);

/**
 * One event as it is printed: `time`, `level`, `msg`, then `component`, then the event's fields in the
 * order the call site gave them (winston puts its default meta first, then the call's meta). Secret
 * fields are replaced here, so both formats redact alike.
 */
function orderedEntry(info: winston.Logform.TransformableInfo, time: string): Record<string, unknown> {
  const entry: Record<string, unknown> = { time, level: info.level, msg: info.message };
  for (const [field, value] of Object.entries(info)) {
    if (field === 'level' || field === 'message' || HEAD_FIELDS.has(field)) continue;
    entry[field] = SECRET_FIELDS.has(field) ? '[redacted]' : value;
  }
  return entry;
}

const UNSERIALIZABLE = '[unserializable]';

/** JSON text of `value` (a bigint as its digits), or undefined when it has none (a cycle, a function). */
function toJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    return undefined;
  }
}

/** The JSON line; a field that cannot be serialised becomes "[unserializable]" instead of losing the line. */
function jsonLine(entry: Record<string, unknown>): string {
  return toJson(entry) ?? (toJson(Object.fromEntries(Object.entries(entry).map(([field, value]) => [field, toJson(value) === undefined ? UNSERIALIZABLE : value]))) as string);
}

/** A field value in a text line: quoted (JSON string syntax) when it is empty or has a space, a control character or a leading quote. */
function textValue(value: unknown): string {
  const text = typeof value === 'string' ? value : (toJson(value) ?? UNSERIALIZABLE);
  return text === '' || /[\s\p{Cc}]/u.test(text) || (typeof value === 'string' && text.startsWith('"')) ? JSON.stringify(text) : text;
}

/**
 * `2026-12-01T20:00:00.000Z info  credential set written outDir=/x serial=01ab`: time, level padded
 * to five, msg, then `field=value` in the JSON line's order. `component` is left out: a process logs
 * as one component, and a terminal reader knows which one.
 */
function textLine(entry: Record<string, unknown>): string {
  const { time, level, msg, component: _component, ...fields } = entry;
  let line = `${String(time)} ${String(level).padEnd(5)} ${String(msg).replace(/[\r\n]+/g, ' ')}`;
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${field}=${textValue(value)}`;
  }
  return line;
}

// winston takes ~90 ms to load; every command imports this module (for its option table), but only the
// long-running ones log, so it is loaded on the first createLogger.
const require = createRequire(import.meta.url);
const MESSAGE = Symbol.for('message');
const LEVEL = Symbol.for('level');

export interface LoggerOptions {
  level: LogLevel;
  component: string;
  /** Default `json`. */
  format?: LogFormat;
  silent?: boolean;
  /** Where lines go; default stdout (every level, so that stderr stays for the fatal summary). */
  destination?: NodeJS.WritableStream;
}

/**
 * One line per event on stdout. `json`: an object whose keys are `time`, `level`, `msg`, `component`,
 * then the event's fields in the order given. `text`: the same in one human line (see textLine).
 */
export function createLogger(options: LoggerOptions): Logger {
  const w = require('winston') as typeof winston;
  const format = options.format ?? 'json';
  const render = w.format((info) => {
    const entry = orderedEntry(info, new Date().toISOString());
    const line = format === 'text' ? textLine(entry) : jsonLine(entry);
    // The event goes on as the entry (msg, time, redacted fields), so that a listener on the logger's
    // stream sees what the line says, with the level symbol the transports filter on. Not winston's
    // splat symbol: it holds the call's fields as given, secrets unredacted.
    const out = entry as Record<string | symbol, unknown>;
    out[LEVEL] = (info as unknown as Record<symbol, unknown>)[LEVEL];
    out[MESSAGE] = line;
    return out as unknown as typeof info;
  });
  return w.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { component: options.component },
    format: render(),
    transports: [options.destination ? new w.transports.Stream({ stream: options.destination }) : new w.transports.Console({ stderrLevels: [] })],
  });
}

/** A logger that drops everything: for tests and library use without output. */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', component: 'silent', silent: true });
}
