import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import { exitCodeOf, usageErrorLine } from '../../../src/cli/exit-codes.ts';
import { ConfigError, KubeJoinError } from '../../../src/common/errors.ts';

describe('exit codes', () => {
  const cases: [string, unknown, number][] = [
    ['--help and --version exit 0', new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), 0],
    ['an unknown option is a usage error, not commander\'s 1', new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), 2],
    ['help shown because no command was given is a usage error', new CommanderError(1, 'commander.help', '(outputHelp)'), 2],
    ['a bad option value is a usage error', new ConfigError('format', '--format must be one of text, json, yaml (got "xml")'), 2],
    ['a refusal or an unreachable service is a runtime failure', new KubeJoinError('ERR_ADMIN_REQUEST', 'provision token "x" not found'), 1],
    ['a bug is a runtime failure', new TypeError('x is undefined'), 1],
  ];
  for (const [title, err, code] of cases) it(title, () => assert.equal(exitCodeOf(err), code));

  it('writes commander\'s errors as kube-join\'s other error lines', () => {
    assert.equal(usageErrorLine("error: unknown option '--x'\n"), "kube-join: unknown option '--x'\n");
  });
});
