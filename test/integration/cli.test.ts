import assert from 'node:assert/strict';
import { kubeJoinRun } from '../support/kube-join.ts';

/** The CLI's contract with scripts: exit 0 success, 1 runtime failure, 2 usage or configuration error; one line on stderr. */
describe('kube-join CLI: exit codes and error lines', function () {
  this.timeout(30_000);

  const usage: [string, string[], string][] = [
    ['an unknown option', ['token', 'ls', '--bogus'], "kube-join: unknown option '--bogus'\n"],
    ['a missing argument', ['token', 'get'], "kube-join: missing required argument 'name'\n"],
    ['too many arguments', ['token', 'rm', 'a', 'b'], "kube-join: too many arguments for 'rm'. Expected 1 argument but got 2.\n"],
    ['an unknown command', ['frob'], "kube-join: unknown command 'frob'\n"],
    ['an option without its value', ['apps', 'ls', '--format'], "kube-join: option '--format <format>' argument missing\n"],
    ['a bad option value', ['agent', '--auth-addr', 'no-port'], 'kube-join: --auth-addr must be host:port (got "no-port") [ERR_CONFIG]\n'],
  ];
  for (const [title, args, stderr] of usage) {
    it(`${title}: exit 2 and one line`, async () => {
      const r = await kubeJoinRun(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, stderr);
    });
  }

  it('no command: the help on stderr and exit 2', async () => {
    const r = await kubeJoinRun([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Usage: kube-join \[options\] \[command\]/);
  });

  it('--help and --version: exit 0', async () => {
    const help = await kubeJoinRun(['token', 'ls', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: kube-join token ls \[options\]/);
    const version = await kubeJoinRun(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+$/);
  });
});
