import type { Command } from 'commander';
import { formatTable } from './table.ts';
import { ADMIN_LISTING_OPTIONS, ADMIN_OPTIONS, resolveAdminConfig, type ResolvedAdminConfig } from './admin-options.ts';
import { formatJson, formatOutput } from './output.ts';
import { addOptions, sourcesFrom } from './options.ts';
import type { OptionSpec } from '../config/options.ts';
import { readUserFile } from '../common/read-file.ts';

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

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('manage provision tokens (kind: token, version: v2) through the admin API');

  const create = token
    .command('create')
    .description('create a provision token from a YAML file')
    .requiredOption('-f, --file <file>', 'token YAML ("-" for standard input)')
    .option('--force', 'replace a token of the same name');
  const createConfig = adminCommand(create);
  create.action(async (opts: { file: string; force?: boolean }) => {
    const config = await createConfig();
    const text = opts.file === '-' ? await readStdin() : await readUserFile(opts.file, 'token file');
    // Checked here too, so a typo is reported before any connection, with the same field path.
    const { parseProvisionToken } = await import('../auth/tokens.ts');
    parseProvisionToken(text, Date.now());
    const created = await (await connect(config)).createToken(text, opts.force === true);
    process.stdout.write(`provision token "${created.name}" created; it expires at ${created.expires}\n`);
  });

  const get = token.command('get').argument('<name>').description('print a provision token: as YAML (text, yaml), the form token create reads, or as JSON');
  const getConfig = adminCommand(get, ADMIN_LISTING_OPTIONS);
  get.action(async (name: string) => {
    const config = await getConfig();
    const yaml = await (await connect(config)).getToken(name);
    // The service's YAML as it is (text and yaml alike): it reads back with token create -f unchanged.
    process.stdout.write(config.format === 'json' ? formatJson((await import('yaml')).parse(yaml)) : yaml);
  });

  const ls = token.command('ls').description('list provision tokens');
  const lsConfig = adminCommand(ls, ADMIN_LISTING_OPTIONS);
  ls.action(async () => {
    const config = await lsConfig();
    const tokens = await (await connect(config)).listTokens();
    const table = () => formatTable(['Token', 'Type', 'Roles', 'Allow', 'Expiry Time (UTC)'], tokens.map((t) => [t.name, t.type, t.roles.join(','), t.allow.join(','), `${t.expires}${t.expired ? ' (expired)' : ''}`]));
    process.stdout.write(await formatOutput(config.format, tokens, table));
  });

  const rm = token.command('rm').argument('<name>').description('delete a provision token');
  const rmConfig = adminCommand(rm);
  rm.action(async (name: string) => {
    await (await connect(await rmConfig())).deleteToken(name);
    process.stdout.write(`provision token "${name}" deleted\n`);
  });
}
