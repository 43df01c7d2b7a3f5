import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AGENT_OPTIONS } from '../../src/agent/options.ts';
import { AUTH_OPTIONS } from '../../src/auth/options.ts';
import { ADMIN_LISTING_OPTIONS } from '../../src/cli/admin-options.ts';
import { INJECTOR_OPTIONS } from '../../src/injector/options.ts';
import { envNameOf, type OptionSpec } from '../../src/config/options.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The lines of the configuration reference's `### <heading>` section, up to the next heading. */
function section(heading: string): string[] {
  const start = readme.indexOf(`\n### ${heading}`);
  assert.ok(start >= 0, `README has a section "### ${heading}"`);
  const rest = readme.slice(start + 1);
  const end = rest.slice(1).search(/\n##/);
  return (end < 0 ? rest : rest.slice(0, end + 1)).split('\n');
}

describe('README configuration reference', () => {
  const check = (heading: string, table: readonly OptionSpec[]) => {
    const lines = section(heading);
    for (const o of table) {
      const row = lines.find((l) => l.startsWith(`| \`--${o.flag} `) || l.startsWith(`| \`--${o.flag}\``));
      assert.ok(row, `README section "${heading}" has no row for --${o.flag}`);
      const environment = row.split(' | ')[1] ?? '';
      for (const name of [envNameOf(o.key), ...(o.extraEnv ?? [])]) assert.ok(environment.includes(`\`${name}\``), `README row of --${o.flag} names ${name} in its environment column`);
      if (o.default !== undefined) {
        const shown = Array.isArray(o.default) ? o.default.join(',') : String(o.default);
        assert.ok(row.includes(`\`${shown}\``), `README row of --${o.flag} shows its default ${shown}`);
      }
    }
  };
  it('documents every agent option with its environment variables and default', () => check('`kube-join agent`', AGENT_OPTIONS));
  it('documents every auth option with its environment variables and default', () => check('`kube-join auth`', AUTH_OPTIONS));
  it('documents every injector option with its environment variables and default', () => check('`kube-join injector`', INJECTOR_OPTIONS));
  it('documents every admin command option with its environment variable and default', () => check('Admin commands', ADMIN_LISTING_OPTIONS));
  it('says what the exit codes mean', () => {
    assert.match(readme, /\*\*Exit codes\*\*, for every command: `0` success[^]*`1` a failure[^]*`2` a usage or configuration error/);
  });
  it('opens with exactly the two commands a new user runs', () => {
    assert.match(readme, /^# kube-join\n\n```sh\nnpm ci && npm run demo +#[^\n]+\nnpm test +#[^\n]+\n```\n/);
  });
});
