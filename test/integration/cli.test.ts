import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeJoinRun, tokenYaml } from '../support/kube-join.ts';

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
    ['an agent duration without a unit', ['agent', '--auth-addr', 'a:1', '--token-name', 't', '--insecure', '--renew-before', '90'], 'kube-join: --renew-before must be a duration with a unit, such as 90s (got "90") [ERR_CONFIG]\n'],
    ['an auth duration without a unit', ['auth', '--cert-ttl', '3600'], 'kube-join: --cert-ttl must be a duration with a unit, such as 3600s (got "3600") [ERR_CONFIG]\n'],
    ['a demo duration without a unit', ['demo', '--duration', '5'], 'kube-join: --duration must be a duration with a unit, such as 5s (got "5") [ERR_CONFIG]\n'],
  ];
  for (const [title, args, stderr] of usage) {
    it(`${title}: exit 2 and one line`, async () => {
      const r = await kubeJoinRun(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, stderr);
    });
  }

  it('a duration without a unit from the environment: exit 2, naming the variable', async () => {
    const r = await kubeJoinRun(['agent', '--auth-addr', 'a:1', '--token-name', 't', '--insecure'], { env: { ...process.env, KUBE_JOIN_RETRY_BASE: '500' } });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'kube-join: KUBE_JOIN_RETRY_BASE must be a duration with a unit, such as 500s (got "500") [ERR_CONFIG]\n');
  });

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

/** Failures a user causes and can fix: one line naming what, where and the errno, never a stack trace. */
describe('kube-join CLI: expected failures in one line', function () {
  this.timeout(30_000);
  let dir: string;
  let taken: Server;
  let takenAddr: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-cli-'));
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    takenAddr = `127.0.0.1:${(taken.address() as AddressInfo).port}`;
  });
  after(async () => {
    taken.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('token create -f of a missing file: exit 1, naming the file and ENOENT', async () => {
    const r = await kubeJoinRun(['token', 'create', '-f', join(dir, 'nope.yaml'), '--state-dir', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `kube-join: token file ${join(dir, 'nope.yaml')} does not exist (ENOENT) [ERR_FILE_READ]\n`);
  });

  it('--config of a missing file: exit 2 (a configuration error), naming the file and ENOENT', async () => {
    for (const command of [['auth'], ['agent'], ['token', 'ls']]) {
      const r = await kubeJoinRun([...command, '--config', join(dir, 'nope.yaml')]);
      assert.equal(r.code, 2, command.join(' '));
      assert.equal(r.stderr, `kube-join: config file ${join(dir, 'nope.yaml')} does not exist (ENOENT) [ERR_CONFIG]\n`);
    }
  });

  it('--config that is not YAML: exit 2, with the line:column of the mistake', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'listen: 127.0.0.1:3025\n  stateDir: /x\n');
    const r = await kubeJoinRun(['auth', '--config', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `kube-join: config file ${file} is not valid YAML at 1:9: Nested mappings are not allowed in compact mappings [ERR_CONFIG]\n`);
  });

  const authArgs = (name: string) => ['auth', '--state-dir', join(dir, name), '--cluster-name', 'cli'];
  it('--listen on a port in use: exit 1, naming the flag, the address and EADDRINUSE', async () => {
    const r = await kubeJoinRun([...authArgs('listen'), '--listen', takenAddr, '--metrics-addr', '127.0.0.1:0']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `kube-join: --listen ${takenAddr} is already in use (EADDRINUSE) [ERR_LISTEN]\n`);
  });

  it('--metrics-addr on a port in use: the same, naming --metrics-addr', async () => {
    const r = await kubeJoinRun([...authArgs('metrics'), '--listen', '127.0.0.1:0', '--metrics-addr', takenAddr]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `kube-join: --metrics-addr ${takenAddr} is already in use (EADDRINUSE) [ERR_LISTEN]\n`);
  });

  it('agent --health-addr on a port in use: the same, naming --health-addr', async () => {
    const r = await kubeJoinRun(['agent', '--auth-addr', '127.0.0.1:1', '--token-name', 't', '--insecure', '--out-dir', join(dir, 'out'), '--health-addr', takenAddr]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `kube-join: --health-addr ${takenAddr} is already in use (EADDRINUSE) [ERR_LISTEN]\n`);
  });

  describe('as an unprivileged user', () => {
    // Root reads every file and binds every port: run the CLI as nobody when the tests run as root.
    const prefix = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    before(async () => {
      await chmod(dir, 0o777);
    });

    it('token create -f of a file it may not read: exit 1, EACCES in words', async () => {
      const file = join(dir, 'secret.yaml');
      await writeFile(file, tokenYaml({ name: 'secret', type: 'in_cluster' }));
      await chmod(file, 0o000);
      const r = await kubeJoinRun(['token', 'create', '-f', file, '--state-dir', dir], { prefix });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `kube-join: token file ${file} is not readable by this process (EACCES) [ERR_FILE_READ]\n`);
    });

    it('--listen on a privileged port: exit 1, EACCES in words', async () => {
      const r = await kubeJoinRun([...authArgs('unprivileged'), '--listen', '127.0.0.1:1', '--metrics-addr', 'off'], { prefix });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, 'kube-join: --listen 127.0.0.1:1 is a privileged port this process may not bind (EACCES) [ERR_LISTEN]\n');
    });
  });
});
