import type { Command } from 'commander';
import type { OptionSpec } from '../config/options.ts';
import { ConfigError } from '../common/errors.ts';
import { resolveOptions } from '../config/options.ts';
import { CA_ROTATION_PHASES, type CaRotateRequest, type CaStatus } from '../protocol/index.ts';

type RotationPhase = (typeof CA_ROTATION_PHASES)[number];
import { ADMIN_LISTING_OPTIONS, ADMIN_OPTIONS, FORMAT_OPTION, type ResolvedAdminConfig } from './admin-options.ts';
import { sourcesFrom } from './options.ts';
import { formatOutput } from './output.ts';
import { formatTable } from './table.ts';
import { adminCommand } from './token.ts';

/** `ca rotate`'s own options; the admin options and --format come with them. */
export const ROTATE_OPTIONS: readonly OptionSpec[] = [
  { key: 'phase', flag: 'phase', kind: 'string', arg: '<phase>', choices: CA_ROTATION_PHASES, help: 'step the rotation to this phase, which must be the next one: init (a new CA joins the bundle), update-clients (it signs agents\' certificates), update-servers (the auth serves with it), standby (the old CA leaves the bundle once everything it signed has expired)' },
  { key: 'manual', flag: 'manual', kind: 'bool', default: false, help: 'rotate at once, for a compromised CA key: the new CA signs and serves now, and the old one leaves the bundle after --grace, whatever it signed' },
  { key: 'auto', flag: 'auto', kind: 'bool', default: false, help: 'start an automatic rotation: init now, then each later phase a third of --grace after the one before (give every phase at least two certificate lifetimes and the ConfigMap sync)' },
  { key: 'grace', flag: 'grace', kind: 'duration', arg: '<duration>', default: '5m', help: 'with --manual: how long the old CA stays in the bundle; with --auto: how long the rotation takes to reach standby' },
];

/** The request `ca rotate` sends: exactly one of --phase, --manual and --auto. */
export function rotateRequestOf(values: { phase?: string; manual: boolean; auto?: boolean; graceMs: number }): CaRotateRequest {
  const chosen = [values.phase !== undefined, values.manual, values.auto === true].filter(Boolean).length;
  if (chosen > 1) throw new ConfigError('phase', 'ca rotate takes one of --phase PHASE, --manual and --auto');
  if (values.manual) return { manual: true, graceSeconds: Math.ceil(values.graceMs / 1000) };
  if (values.auto) {
    if (values.graceMs < 1000) throw new ConfigError('grace', '--grace must be at least 1s with --auto');
    return { auto: true, graceSeconds: Math.ceil(values.graceMs / 1000) };
  }
  if (values.phase === undefined) throw new ConfigError('phase', `ca rotate needs --phase (${CA_ROTATION_PHASES.join(', ')}), --manual or --auto`);
  return { phase: values.phase as RotationPhase };
}

/** `kube-join ca` as text: the rotation, then one row per CA, like `tctl status`. */
export function formatCaStatus(status: CaStatus): string {
  const head = [
    `Cluster:        ${status.clusterName}`,
    `Rotation:       ${status.phase} (${status.mode}, since ${status.changedAt})`,
    `Signing CA:     ${status.signing}`,
    `Serving CA:     ${status.serving}`,
    `CA pins:        ${status.bundlePins.join(' ')}`,
    ...(status.nextStepAt !== undefined ? [`Next step:      ${status.nextStepAt} (automatic)`] : []),
    ...(status.agents !== undefined ? [`Agents:         ${status.agents.joinedSinceChange} of ${status.agents.live} live agents joined since this phase began`] : []),
    '',
  ].join('\n');
  const rows = status.cas.map((c) => [c.role, c.subject, c.pin, c.notAfter, c.retireAt !== undefined ? (c.inBundle ? `until ${c.retireAt}` : `left ${c.retireAt}`) : 'yes']);
  return `${head}\n${formatTable(['Role', 'Subject', 'Pin (--ca-pin)', 'Not After (UTC)', 'In Bundle'], rows)}`;
}

async function connect(config: ResolvedAdminConfig) {
  const { connectAdmin } = await import('./admin-client.ts');
  return connectAdmin(config);
}

export function caCommand(program: Command): void {
  const ca = program.command('ca').description('the auth service\'s CA: show it (pins for --ca-pin, not-after, rotation phase) and rotate it, like tctl status and tctl auth rotate');

  const show = ca.command('status', { isDefault: true }).description('show the CAs, their pins and not-after, and the rotation phase (the default of kube-join ca)');
  const showConfig = adminCommand(show, ADMIN_LISTING_OPTIONS);
  show.action(async () => {
    const config = await showConfig();
    const status = await (await connect(config)).caStatus();
    process.stdout.write(await formatOutput(config.format, status, () => formatCaStatus(status)));
  });

  const rotate = ca.command('rotate').description('step a CA rotation one phase (--phase), rotate at once (--manual), or start an automatic rotation (--auto)');
  const table = [...ADMIN_OPTIONS, FORMAT_OPTION, ...ROTATE_OPTIONS];
  const rotateConfig = adminCommand(rotate, table);
  rotate.action(async () => {
    const config = await rotateConfig();
    const v = resolveOptions(table, await sourcesFrom(rotate, table));
    const request = rotateRequestOf({ phase: v.phase as string | undefined, manual: v.manual as boolean, auto: v.auto as boolean, graceMs: v.grace as number });
    const status = await (await connect(config)).rotateCa(request);
    process.stdout.write(await formatOutput(config.format, status, () => formatCaStatus(status)));
  });
}
