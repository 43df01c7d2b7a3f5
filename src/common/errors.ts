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
