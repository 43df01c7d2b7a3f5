import { ConfigError } from '../common/errors.ts';
import { DurationUnitError, parseDurationMs } from './duration.ts';

/**
 * One table describes every option of a command: its key (as in the config file), flag, environment
 * variable, kind, default and help. `resolveOptions` is the only place where sources meet and defaults
 * apply, so flags, environment, config file and the chart can never drift apart.
 */
export type OptionKind = 'string' | 'int' | 'number' | 'bool' | 'duration' | 'list';

export interface OptionSpec {
  /** Key in the config file and in the resolved raw values. */
  key: string;
  /** Long flag without dashes, e.g. `auth-addr`. */
  flag: string;
  kind: OptionKind;
  help: string;
  /** Default, as a user would type it (durations as `10m`). Absent: no default. */
  default?: string | number | boolean | readonly string[];
  /** Placeholder shown in --help, e.g. `<host:port>`. */
  arg?: string;
  /** Extra environment variables read after `KUBE_JOIN_<KEY>` (e.g. `KUBERNETES_TOKEN_PATH`). */
  extraEnv?: readonly string[];
  /** Flag may be given several times (kind `list`). */
  repeatable?: boolean;
  /** The only values a `string` option takes; anything else is refused, naming the source and the choices. */
  choices?: readonly string[];
}

export type OptionValue = string | number | boolean | string[] | undefined;

export interface OptionSources {
  /** Parsed command-line flags, keyed by `key`. Undefined means "not given". */
  flags?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  /** Parsed config file, keyed by `key`. */
  file?: Record<string, unknown>;
}

/** `authAddr` → `KUBE_JOIN_AUTH_ADDR`. */
export function envNameOf(key: string): string {
  return `KUBE_JOIN_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function describeSource(spec: OptionSpec, source: 'flag' | 'env' | 'file' | 'default', env?: string): string {
  switch (source) {
    case 'flag':
      return `--${spec.flag}`;
    case 'env':
      return env ?? envNameOf(spec.key);
    case 'file':
      return `config file key "${spec.key}"`;
    default:
      return `default of "${spec.key}"`;
  }
}

function coerce(spec: OptionSpec, value: unknown, where: string): OptionValue {
  const bad = (expect: string) => new ConfigError(spec.key, `${where} must be ${expect} (got ${JSON.stringify(value)})`);
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') throw bad('a string');
      if (spec.choices !== undefined && !spec.choices.includes(value)) throw bad(`one of ${spec.choices.join(', ')}`);
      return value;
    case 'int':
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) throw bad(spec.kind === 'int' ? 'an integer' : 'a number');
      return n;
    }
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0' || value === '') return false;
      throw bad('true or false');
    case 'duration':
      return parseDurationOption(value, spec.key, where);
    case 'list':
      if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.flatMap((v: string) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''));
      throw bad('a list of strings');
  }
}

/**
 * A duration option's value in milliseconds, from any source: `90s`, `10m`, `1h30m`. A bare number
 * (`--renew-before 90`, or `renewBefore: 90` in a config file) is refused with a suggestion, since it
 * could mean seconds or milliseconds; only 0 needs no unit. Throws ConfigError naming `where`.
 */
export function parseDurationOption(value: unknown, key: string, where: string): number {
  // A number in a YAML file is a bare number too: the same question of its unit.
  const text = typeof value === 'number' ? String(value) : value;
  try {
    if (typeof text !== 'string') throw new TypeError('not text');
    return parseDurationMs(text, where);
  } catch (err) {
    const expect = err instanceof DurationUnitError ? `a duration with a unit, such as ${err.suggestion}` : 'a duration like 30s, 10m or 1h';
    throw new ConfigError(key, `${where} must be ${expect} (got ${JSON.stringify(value)})`);
  }
}

/**
 * Merges flags > environment > config file > default for every option in `table`. Unknown config file
 * keys are rejected (a typo must not silently fall back to a default). Returns values keyed by `key`;
 * durations in milliseconds.
 */
export function resolveOptions(table: readonly OptionSpec[], sources: OptionSources): Record<string, OptionValue> {
  const known = new Set(table.map((s) => s.key));
  for (const key of Object.keys(sources.file ?? {})) {
    if (!known.has(key)) throw new ConfigError(key, `unknown config file key "${key}" (known: ${[...known].join(', ')})`);
  }
  const out: Record<string, OptionValue> = {};
  for (const spec of table) {
    const fromFlag = sources.flags?.[spec.key];
    if (fromFlag !== undefined) {
      out[spec.key] = coerce(spec, fromFlag, describeSource(spec, 'flag'));
      continue;
    }
    const envNames = [envNameOf(spec.key), ...(spec.extraEnv ?? [])];
    const envName = envNames.find((n) => sources.env?.[n] !== undefined);
    if (envName !== undefined) {
      out[spec.key] = coerce(spec, sources.env?.[envName], describeSource(spec, 'env', envName));
      continue;
    }
    const fromFile = sources.file?.[spec.key];
    if (fromFile !== undefined) {
      out[spec.key] = coerce(spec, fromFile, describeSource(spec, 'file'));
      continue;
    }
    out[spec.key] = spec.default === undefined ? undefined : coerce(spec, Array.isArray(spec.default) ? [...spec.default] : spec.default, describeSource(spec, 'default'));
  }
  return out;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port` or `[v6]:port` of option `key` (flag `--flag`). */
export function parseHostPort(text: string, key: string, flag: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(key, `--${flag} must be host:port (got ${JSON.stringify(text)})`);
  return { host: (m[1] ?? m[2]) as string, port };
}
