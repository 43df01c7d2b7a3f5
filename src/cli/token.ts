import type { Command } from 'commander';
import { formatTable } from './table.ts';
import { ADMIN_LISTING_OPTIONS, ADMIN_OPTIONS, resolveAdminConfig, type ResolvedAdminConfig } from './admin-options.ts';
import { formatJson, formatOutput } from './output.ts';
import { addOptions, sourcesFrom } from './options.ts';
import type { OptionSpec } from '../config/options.ts';
import { readUserFile } from '../common/read-file.ts';
import { ConfigError } from '../common/errors.ts';
import { formatExpiry } from '../protocol/admin.ts';

/**
 * Adds the admin options of `table` to `command` and returns a function that resolves them (flags >
 * KUBE_JOIN_* environment > --config file > defaults) when its action runs.
 */
export function adminCommand(command: Command, table: readonly OptionSpec[] = ADMIN_OPTIONS): () => Promise<ResolvedAdminConfig> {
  addOptions(command, table);
  return async () => resolveAdminConfig(await sourcesFrom(command, table), table);
}

async function connect(config: ResolvedAdminConfig) {
  const { connectAdmin } = await import('./admin-client.ts');
  return connectAdmin(config);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A token's name as `token get|rm` take it: `NAME` or Teleport's `token/NAME`. */
export function tokenNameArgument(arg: string): string {
  const slash = arg.indexOf('/');
  if (slash < 0) return arg;
  const [kind, name] = [arg.slice(0, slash), arg.slice(slash + 1)];
  if (kind !== 'token' || name === '') throw new ConfigError('name', `the token must be given as NAME or token/NAME (got ${JSON.stringify(arg)})`);
  return name;
}

/** The token file of `token create FILE` or `token create -f FILE`: exactly one of them. */
export function tokenFileArgument(positional: string | undefined, flag: string | undefined): string {
  if (positional !== undefined && flag !== undefined) throw new ConfigError('file', `token create takes the token file once: give FILE or -f FILE, not both (got ${JSON.stringify(positional)} and -f ${JSON.stringify(flag)})`);
  const file = positional ?? flag;
  if (file === undefined) throw new ConfigError('file', 'token create needs the token file: give FILE or -f FILE ("-" for standard input)');
  return file;
}

/** `30m`, `23h59m`, `45s`: the time until an expiry, rounded to the minute (to the second under one). */
export function formatRemaining(ms: number): string {
  if (ms < 59_500) return `${Math.max(0, Math.round(ms / 1000))}s`;
  const minutes = Math.round(ms / 60_000);
  const [h, m] = [Math.floor(minutes / 60), minutes % 60];
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h${m}m`;
}

/** Within this long of its expiry a newly created token gets a warning: agents may not join in time. */
export const SHORT_LIVED_TOKEN_MS = 24 * 60 * 60 * 1000;

/** The warning `token create` prints for a token that expires within 24 h (or has expired), else undefined. */
export function expiryWarning(name: string, expires: string, now: number): string | undefined {
  const at = new Date(expires);
  const left = at.getTime() - now;
  if (left >= SHORT_LIVED_TOKEN_MS) return undefined;
  const when = formatExpiry(at);
  return left <= 0
    ? `warning: provision token "${name}" has already expired (${when}); no agent can join with it`
    : `warning: provision token "${name}" expires in ${formatRemaining(left)} (${when}); agents that have not joined by then cannot join`;
}

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('manage provision tokens (kind: token, version: v2) through the admin API');

  const create = token
    .command('create')
    .description('create a provision token from a YAML file, like tctl create (token create FILE, or -f FILE)')
    .argument('[file]', 'token YAML ("-" for standard input)')
    .option('-f, --file <file>', 'token YAML ("-" for standard input); the same as the FILE argument')
    .option('--force', 'replace a token of the same name');
  const createConfig = adminCommand(create);
  create.action(async (positional: string | undefined, opts: { file?: string; force?: boolean }) => {
    const file = tokenFileArgument(positional, opts.file);
    const config = await createConfig();
    const text = file === '-' ? await readStdin() : await readUserFile(file, 'token file');
    // Checked here too, so a typo is reported before any connection, with the same field path.
    const { checkNewTokenRoles, parseProvisionToken } = await import('../auth/tokens.ts');
    checkNewTokenRoles(parseProvisionToken(text, Date.now()));
    const created = await (await connect(config)).createToken(text, opts.force === true);
    const expires = formatExpiry(new Date(created.expires));
    process.stdout.write(`provision token "${created.name}" created; it expires at ${expires}\n`);
    const warning = expiryWarning(created.name, created.expires, Date.now());
    if (warning !== undefined) process.stderr.write(`${warning}\n`);
  });

  const get = token.command('get').argument('<name>', 'NAME or token/NAME').description('print a provision token: as YAML (text, yaml), the form token create reads, or as JSON');
  const getConfig = adminCommand(get, ADMIN_LISTING_OPTIONS);
  get.action(async (name: string) => {
    const config = await getConfig();
    const yaml = await (await connect(config)).getToken(tokenNameArgument(name));
    // The service's YAML as it is (text and yaml alike): it reads back with token create unchanged.
    process.stdout.write(config.format === 'json' ? formatJson((await import('./yaml.ts')).parse(yaml)) : yaml);
  });

  const ls = token.command('ls').description('list provision tokens');
  const lsConfig = adminCommand(ls, ADMIN_LISTING_OPTIONS);
  ls.action(async () => {
    const config = await lsConfig();
    const tokens = await (await connect(config)).listTokens();
    const table = () => formatTable(['Token', 'Type', 'Roles', 'Allow', 'Agents', 'Expiry Time (UTC)'], tokens.map((t) => [t.name, t.type, t.roles.join(','), t.allow.join(','), String(t.agents), `${t.expires}${t.expired ? ' (expired)' : ''}`]));
    process.stdout.write(await formatOutput(config.format, tokens, table));
  });

  const rm = token.command('rm').argument('<name>', 'NAME or token/NAME').description('delete a provision token');
  const rmConfig = adminCommand(rm);
  rm.action(async (arg: string) => {
    const name = tokenNameArgument(arg);
    await (await connect(await rmConfig())).deleteToken(name);
    process.stdout.write(`provision token "${name}" deleted\n`);
  });
}
