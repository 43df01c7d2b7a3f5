// The admin commands' option table on its own, so that the CLI can register flags without loading the client.
import { parseHostPort, resolveOptions, type OptionSources, type OptionSpec } from '../config/options.ts';
import { DEFAULT_STATE_DIR, stateDirPaths } from '../protocol/admin.ts';

/**
 * Where the auth service is and who the caller is, for every admin command (`token *`, `apps ls`); the
 * single home of their defaults. Inside the auth pod the state directory answers both; from outside,
 * `--auth-addr` and `--identity` (a copy of its admin folder).
 */
export const ADMIN_OPTIONS: readonly OptionSpec[] = [
  { key: 'stateDir', flag: 'state-dir', kind: 'string', arg: '<dir>', default: DEFAULT_STATE_DIR, help: 'state directory of the auth service, when run inside its pod: the address (auth.addr) and the admin identity (admin/) are read from it' },
  { key: 'authAddr', flag: 'auth-addr', kind: 'string', arg: '<host:port>', help: 'auth service address (default: the state directory\'s auth.addr, written by the running service)' },
  { key: 'identity', flag: 'identity', kind: 'string', arg: '<dir>', help: 'admin identity folder with tls.key, tls.crt and ca.crt (default: <state-dir>/admin)' },
];

/** Output formats of the listing and get commands. */
export const OUTPUT_FORMATS = ['text', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `--format` of the listing and get commands (`token ls`, `token get`, `apps ls`). */
export const FORMAT_OPTION: OptionSpec = { key: 'format', flag: 'format', kind: 'string', arg: '<format>', default: 'text', choices: OUTPUT_FORMATS, help: 'output: text (a table; a token as YAML), json or yaml' };

/** The admin options of a listing or get command: ADMIN_OPTIONS plus `--format`. */
export const ADMIN_LISTING_OPTIONS: readonly OptionSpec[] = [...ADMIN_OPTIONS, FORMAT_OPTION];

export interface ResolvedAdminConfig {
  /** `--state-dir`: where the address file and (without --identity) the admin identity are looked for. */
  stateDir: string;
  /** `host:port` from --auth-addr; undefined: read it from `addressFile`. */
  authAddr: string | undefined;
  /** The state directory's auth.addr, written by the running service. */
  addressFile: string;
  /** Folder holding tls.key, tls.crt and ca.crt. */
  identityDir: string;
  /** `--format`; `text` for commands without one. */
  format: OutputFormat;
}

/**
 * Resolves the admin options: flags > environment (`KUBE_JOIN_STATE_DIR`, `KUBE_JOIN_AUTH_ADDR`,
 * `KUBE_JOIN_IDENTITY`, `KUBE_JOIN_FORMAT`) > config file > defaults. The identity and the address
 * file default to their places in the state directory. Throws ConfigError naming the option.
 */
export function resolveAdminConfig(sources: OptionSources, table: readonly OptionSpec[] = ADMIN_OPTIONS): ResolvedAdminConfig {
  const v = resolveOptions(table, sources);
  const paths = stateDirPaths(v.stateDir as string);
  const authAddr = v.authAddr as string | undefined;
  if (authAddr !== undefined) parseHostPort(authAddr, 'authAddr', 'auth-addr');
  return {
    stateDir: v.stateDir as string,
    authAddr: authAddr?.trim(),
    addressFile: paths.authAddress,
    identityDir: (v.identity as string | undefined) ?? paths.adminIdentity,
    format: (v.format as OutputFormat | undefined) ?? 'text',
  };
}
