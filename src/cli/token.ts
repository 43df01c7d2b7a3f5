import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatTable } from './table.ts';

const STATE_DIR_HELP = 'state directory of the auth service (default: /var/lib/kube-join) [KUBE_JOIN_STATE_DIR]';

async function storageFor(options: { stateDir?: string }) {
  const { openFileStorage } = await import('../auth/index.ts');
  return openFileStorage(options.stateDir ?? process.env.KUBE_JOIN_STATE_DIR ?? '/var/lib/kube-join', { serve: false, now: () => Date.now() });
}

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('manage provision tokens (kind: token, version: v2)');

  token
    .command('create')
    .description('create a provision token from a YAML file')
    .requiredOption('-f, --file <file>', 'token YAML ("-" for standard input)')
    .option('--force', 'replace a token of the same name')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (opts: { file: string; force?: boolean; stateDir?: string }) => {
      const { parseProvisionToken } = await import('../auth/index.ts');
      const text = opts.file === '-' ? await readStdin() : await readFile(opts.file, 'utf8');
      const parsed = parseProvisionToken(text, Date.now());
      const storage = await storageFor(opts);
      await storage.putToken(parsed, { overwrite: opts.force === true });
      process.stdout.write(`provision token "${parsed.metadata.name}" created; it expires at ${parsed.metadata.expires.toISOString()}\n`);
    });

  token
    .command('get')
    .argument('<name>')
    .description('print a provision token as YAML')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (name: string, opts: { stateDir?: string }) => {
      const { formatProvisionToken, TokenNotFoundError } = await import('../auth/index.ts');
      const found = await (await storageFor(opts)).getToken(name);
      if (!found) throw new TokenNotFoundError(name);
      process.stdout.write(formatProvisionToken(found));
    });

  token
    .command('ls')
    .description('list provision tokens')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (opts: { stateDir?: string }) => {
      const { isTokenExpired } = await import('../auth/index.ts');
      const tokens = await (await storageFor(opts)).listTokens();
      const now = Date.now();
      const rows = tokens.map((t) => [
        t.metadata.name,
        t.spec.kubernetes.type,
        t.spec.roles.join(','),
        t.spec.kubernetes.allow.map((a) => a.service_account).join(','),
        `${t.metadata.expires.toISOString()}${isTokenExpired(t, now) ? ' (expired)' : ''}`,
      ]);
      process.stdout.write(formatTable(['Token', 'Type', 'Roles', 'Allow', 'Expiry Time (UTC)'], rows));
    });

  token
    .command('rm')
    .argument('<name>')
    .description('delete a provision token')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (name: string, opts: { stateDir?: string }) => {
      await (await storageFor(opts)).deleteToken(name);
      process.stdout.write(`provision token "${name}" deleted\n`);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
