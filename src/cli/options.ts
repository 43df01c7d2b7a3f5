import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { ConfigError } from '../common/errors.ts';
import { readFailure } from '../common/read-file.ts';
import { yamlErrorText } from '../common/document-errors.ts';
import { envNameOf, type OptionSpec, type OptionSources } from '../config/options.ts';

function attributeOf(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function helpOf(spec: OptionSpec): string {
  const def = spec.default === undefined ? '' : ` (default: ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)})`;
  return `${spec.help}${def} [${envNameOf(spec.key)}]`;
}

/**
 * Adds `--config` and one flag per option of `table`. No commander defaults: `resolveOptions` applies
 * them, so that a flag the user did not type never hides an environment variable or config file value.
 */
export function addOptions(command: Command, table: readonly OptionSpec[]): Command {
  command.option('--config <file>', 'YAML file of option keys (flags > KUBE_JOIN_* environment > config file > defaults)');
  for (const spec of table) {
    const flags = spec.kind === 'bool' ? `--${spec.flag}` : `--${spec.flag} ${spec.arg ?? '<value>'}`;
    const option = new Option(flags, helpOf(spec));
    if (spec.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    command.addOption(option);
  }
  return command;
}

/** Turns parsed commander options into `resolveOptions` sources, reading `--config` if given. */
export async function sourcesFrom(command: Command, table: readonly OptionSpec[]): Promise<OptionSources> {
  const parsed = command.opts<Record<string, unknown>>();
  const flags: Record<string, unknown> = {};
  for (const spec of table) flags[spec.key] = parsed[attributeOf(spec.flag)];
  let file: Record<string, unknown> | undefined;
  const configPath = parsed.config as string | undefined;
  if (configPath !== undefined) {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (err) {
      throw new ConfigError('config', readFailure('config file', configPath, err));
    }
    let value: unknown;
    try {
      const { parse: parseYaml } = await import('./yaml.ts');
      value = parseYaml(text, { uniqueKeys: true });
    } catch (err) {
      throw new ConfigError('config', yamlErrorText(`config file ${configPath} is not valid YAML`, err));
    }
    if (value !== null && (typeof value !== 'object' || Array.isArray(value))) throw new ConfigError('config', `config file ${configPath} must hold a mapping of option keys`);
    file = (value ?? {}) as Record<string, unknown>;
  }
  return { flags, env: process.env, ...(file ? { file } : {}) };
}
