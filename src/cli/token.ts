import type { Command } from 'commander';
import { formatTable } from './table.ts';
import { ADMIN_OPTIONS, resolveAdminConfig, type ResolvedAdminConfig } from './admin-options.ts';
import { addOptions, sourcesFrom } from './options.ts';
import type { OptionSpec } from '../common/options.ts';
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

  const get = token.command('get').argument('<name>').description('print a provision token as YAML');
  const getConfig = adminCommand(get);
  get.action(async (name: string) => {
    process.stdout.write(await (await connect(await getConfig())).getToken(name));
  });

  const ls = token.command('ls').description('list provision tokens');
  const lsConfig = adminCommand(ls);
  ls.action(async () => {
    const tokens = await (await connect(await lsConfig())).listTokens();
    const rows = tokens.map((t) => [t.name, t.type, t.roles.join(','), t.allow.join(','), `${t.expires}${t.expired ? ' (expired)' : ''}`]);
    process.stdout.write(formatTable(['Token', 'Type', 'Roles', 'Allow', 'Expiry Time (UTC)'], rows));
  });

  const rm = token.command('rm').argument('<name>').description('delete a provision token');
  const rmConfig = adminCommand(rm);
  rm.action(async (name: string) => {
    await (await connect(await rmConfig())).deleteToken(name);
    process.stdout.write(`provision token "${name}" deleted\n`);
  });
}
