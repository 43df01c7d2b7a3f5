import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatTable } from './table.ts';
import type { AdminOptions } from './admin-client.ts';

/** Flags shared by every admin command: where the auth service is and who we are. */
export function addAdminOptions(command: Command): Command {
  return command
    .option('--auth-addr <host:port>', 'auth service address (default: the state directory\'s auth.addr, written by the running service) [KUBE_JOIN_AUTH_ADDR]')
    .option('--identity <dir>', 'admin identity folder with tls.key, tls.crt, ca.crt (default: <state-dir>/admin) [KUBE_JOIN_IDENTITY]')
    .option('--state-dir <dir>', 'state directory of the auth service, when run inside its pod (default: /var/lib/kube-join) [KUBE_JOIN_STATE_DIR]');
}

async function admin(opts: AdminOptions) {
  const { connectAdmin } = await import('./admin-client.ts');
  return connectAdmin(opts);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('manage provision tokens (kind: token, version: v2) through the admin API');

  addAdminOptions(
    token
      .command('create')
      .description('create a provision token from a YAML file')
      .requiredOption('-f, --file <file>', 'token YAML ("-" for standard input)')
      .option('--force', 'replace a token of the same name'),
  ).action(async (opts: AdminOptions & { file: string; force?: boolean }) => {
    const text = opts.file === '-' ? await readStdin() : await readFile(opts.file, 'utf8');
    // Checked here too, so a typo is reported before any connection, with the same field path.
    const { parseProvisionToken } = await import('../auth/tokens.ts');
    parseProvisionToken(text, Date.now());
    const created = await (await admin(opts)).createToken(text, opts.force === true);
    process.stdout.write(`provision token "${created.name}" created; it expires at ${created.expires}\n`);
  });

  addAdminOptions(token.command('get').argument('<name>').description('print a provision token as YAML')).action(async (name: string, opts: AdminOptions) => {
    process.stdout.write(await (await admin(opts)).getToken(name));
  });

  addAdminOptions(token.command('ls').description('list provision tokens')).action(async (opts: AdminOptions) => {
    const tokens = await (await admin(opts)).listTokens();
    const rows = tokens.map((t) => [t.name, t.type, t.roles.join(','), t.allow.join(','), `${t.expires}${t.expired ? ' (expired)' : ''}`]);
    process.stdout.write(formatTable(['Token', 'Type', 'Roles', 'Allow', 'Expiry Time (UTC)'], rows));
  });

  addAdminOptions(token.command('rm').argument('<name>').description('delete a provision token')).action(async (name: string, opts: AdminOptions) => {
    await (await admin(opts)).deleteToken(name);
    process.stdout.write(`provision token "${name}" deleted\n`);
  });
}
