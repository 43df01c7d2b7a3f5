import type { Command } from 'commander';
import type { AgentRecord } from '../protocol/index.ts';
import { ADMIN_LISTING_OPTIONS } from './admin-options.ts';
import { adminCommand } from './token.ts';
import { formatTable } from './table.ts';
import { formatOutput } from './output.ts';
import { formatExpiry } from '../protocol/admin.ts';

/** One row per app a joined agent serves. */
export interface AppRow {
  name: string;
  uri: string;
  type: string;
  labels: Record<string, string>;
  hostId: string;
  namespace: string;
  serviceAccount: string;
  podName?: string;
  roles: string[];
  lastJoin: string;
  notAfter: string;
}

function typeOf(uri: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return 'HTTP';
  return scheme ? scheme.toUpperCase() : 'UNKNOWN';
}

/** One row per app, from the records no newer pod of the same workload took over and whose pod is not gone. */
export function appRows(agents: readonly AgentRecord[]): AppRow[] {
  return agents
    .filter((a) => a.supersededBy === undefined && a.podGoneAt === undefined)
    .flatMap((a) =>
      a.apps.map((app) => ({
        name: app.name,
        uri: app.uri,
        type: typeOf(app.uri),
        labels: { ...(app.labels ?? {}), 'kube-join/namespace': a.namespace, ...(a.nodeName ? { 'kube-join/node': a.nodeName } : {}) },
        hostId: a.hostId,
        namespace: a.namespace,
        serviceAccount: a.serviceAccount,
        ...(a.podName ? { podName: a.podName } : {}),
        roles: a.roles,
        lastJoin: a.lastJoin,
        notAfter: a.notAfter,
      })),
    )
    .sort((x, y) => x.name.localeCompare(y.name) || x.hostId.localeCompare(y.hostId));
}

export function appsCommand(program: Command): void {
  const apps = program.command('apps').description('apps served by joined agents (from the auth service inventory)');
  const ls = apps.command('ls').description('list apps, like tsh apps ls');
  const lsConfig = adminCommand(ls, ADMIN_LISTING_OPTIONS);
  ls.action(async () => {
    const opts = await lsConfig();
    const { connectAdmin } = await import('./admin-client.ts');
    const rows = appRows(await (await connectAdmin(opts)).inventory());
    // Expires: the agent's certificate, renewed at half its lifetime; a past one means the agent stopped renewing.
    const table = () => formatTable(['Application', 'Description', 'Type', 'Public Address', 'Expires (UTC)', 'Labels'], rows.map((r) => [r.name, `${r.namespace}/${r.podName ?? r.hostId} (${r.roles.join(',')})`, r.type, r.uri, formatExpiry(new Date(r.notAfter)), Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(',')]));
    process.stdout.write(await formatOutput(opts.format, rows, table));
  });
}
