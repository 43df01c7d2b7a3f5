import type { Command } from 'commander';
import { logFieldsOf } from '../agent/errors.ts';
import { errorLogFields } from '../common/errors.ts';
import { createLogger, LOG_OPTIONS, resolveLogSettings, type LogFormat } from '../common/logger.ts';
import { resolveOptions, type OptionSources } from '../config/options.ts';
import { sourcesFrom } from './options.ts';

/** `msg` of the line a long-running command logs for the error that ends it. */
export const FATAL_MSG = 'exiting on a fatal error';

/** The commands that log, by name (= their log `component`), with the fields of their error lines. */
const LOGGING_COMMANDS: Readonly<Record<string, (err: unknown) => object>> = {
  agent: logFieldsOf,
  auth: errorLogFields,
  injector: errorLogFields,
};

/**
 * The format the command's logger uses, resolved again from its flags, environment and config file:
 * the error may be that its configuration did not resolve. An unreadable config file leaves flags and
 * environment; log options that are themselves wrong leave the default, json.
 */
async function logFormatOf(command: Command): Promise<LogFormat> {
  let sources: OptionSources;
  try {
    sources = await sourcesFrom(command, LOG_OPTIONS);
  } catch {
    sources = { flags: command.opts(), env: process.env };
  }
  // Only the log keys of the file: resolveOptions refuses keys its table does not know.
  const file = sources.file === undefined ? undefined : Object.fromEntries(LOG_OPTIONS.map((o) => [o.key, sources.file?.[o.key]]));
  try {
    return resolveLogSettings(resolveOptions(LOG_OPTIONS, { ...sources, file })).logFormat;
  } catch {
    return 'json';
  }
}

/**
 * Logs the error that ends `kube-join agent` or `kube-join auth` as one line at level error, in the
 * command's log format and with the fields of its other error lines (`code`, for the agent `reason`,
 * `error`), so that a log collector sees why the process stopped. program.ts still prints its stderr
 * line. Other commands, and a failure to log, are left alone.
 */
export async function logFatalError(command: Command, err: unknown): Promise<void> {
  const fieldsOf = LOGGING_COMMANDS[command.name()];
  if (fieldsOf === undefined) return;
  try {
    createLogger({ level: 'error', format: await logFormatOf(command), component: command.name() }).error(FATAL_MSG, fieldsOf(err));
  } catch {
    // The stderr line still tells; a logger that cannot be made must not hide the original error.
  }
}
