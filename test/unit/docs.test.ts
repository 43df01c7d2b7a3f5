import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AGENT_OPTIONS } from '../../src/agent/options.ts';
import { AUTH_OPTIONS } from '../../src/auth/options.ts';
import { envNameOf, type OptionSpec } from '../../src/common/options.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README configuration reference', () => {
  const check = (table: readonly OptionSpec[]) => {
    for (const o of table) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`--${o.flag}`));
      assert.ok(row, `README has no row for --${o.flag}`);
      assert.ok(row.includes(`\`${envNameOf(o.key)}\``), `README row of --${o.flag} names ${envNameOf(o.key)}`);
      if (o.default !== undefined) {
        const shown = Array.isArray(o.default) ? o.default.join(',') : String(o.default);
        assert.ok(row.includes(`\`${shown}\``), `README row of --${o.flag} shows its default ${shown}`);
      }
    }
  };
  it('documents every agent option with its environment variable and default', () => check(AGENT_OPTIONS));
  it('documents every auth option with its environment variable and default', () => check(AUTH_OPTIONS));
  it('opens with exactly the two commands a new user runs', () => {
    assert.match(readme, /^# kube-join\n\n```sh\nnpm ci && npm run demo +#[^\n]+\nnpm test +#[^\n]+\n```\n/);
  });
});
