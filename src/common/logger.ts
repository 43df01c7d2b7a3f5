import winston from 'winston';

export type Logger = winston.Logger;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * Field names whose values never reach a log line, whatever a caller passes: tokens, keys and CSR
 * bodies are secrets or close to them.
 */
const SECRET_FIELDS = new Set(['token', 'kubernetesToken', 'csr', 'key', 'privateKey', 'password', 'authorization']);

const redact = winston.format((info) => {
  for (const field of Object.keys(info)) {
    if (SECRET_FIELDS.has(field)) info[field] = '[redacted]';
  }
  return info;
});

/** One JSON object per line on stdout: `level`, `msg`, `time`, then the event's fields. */
export function createLogger(options: { level: LogLevel; component: string; silent?: boolean }): Logger {
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    defaultMeta: { component: options.component },
    format: winston.format.combine(
      redact(),
      winston.format.timestamp({ alias: 'time' }),
      winston.format((info) => {
        // winston calls the text `message`; the design and the peers' logs call it `msg`.
        const { message, timestamp, ...rest } = info;
        return Object.assign(rest, { msg: message, time: timestamp }) as unknown as typeof info;
      })(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}

/** A logger that drops everything: for tests and library use without output. */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', component: 'silent', silent: true });
}
