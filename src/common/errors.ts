/**
 * Base class of every error kube-join raises on purpose. `code` is stable: callers switch on it, tests
 * assert it; the message may be improved over time.
 */
export class KubeJoinError<C extends string = string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration value (flag, environment variable or config file key) is missing or wrong. */
export class ConfigError extends KubeJoinError<'ERR_CONFIG'> {
  /** The option's key, e.g. `renewBefore`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super('ERR_CONFIG', message);
    this.option = option;
  }
}

/** The error fields of a log line. */
export interface ErrorLogFields {
  /** The KubeJoinError `code`, or `ERR_UNEXPECTED` for an error kube-join did not raise on purpose (a bug, or a failure nobody named). */
  code: string;
  /** The error's message. Named `error`, not `message`: winston appends a `message` field to `msg`. */
  error: string;
}

/** `{ code, error }` of any thrown value, for a log line; the one place that maps an error to log fields. */
export function errorLogFields(err: unknown): ErrorLogFields {
  if (err instanceof KubeJoinError) return { code: err.code, error: err.message };
  return { code: 'ERR_UNEXPECTED', error: (err as Error | undefined)?.message ?? String(err) };
}
