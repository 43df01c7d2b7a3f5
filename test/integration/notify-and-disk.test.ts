import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenIssuer, type TokenIssuer } from '../../src/demo/index.ts';
import { DIST_MAIN, kubeJoin, kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';

const CLUSTER = 'notify-cluster';

describe('telling the app, and a full disk', function () {
  this.timeout(60_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthProcess;
  let tokenPath: string;
  const agentArgs = (out: string) => ['agent', '--once', '--auth-addr', auth.addr, '--ca-file', auth.caFile, '--cluster-name', CLUSTER, '--token-name', 'kube-token', '--token-path', tokenPath, '--out-dir', out];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-notify-'));
    issuer = await createTokenIssuer();
    auth = await startAuthProcess(dir, { clusterName: CLUSTER });
    await writeFile(join(dir, 'token.yaml'), tokenYaml({ name: 'kube-token', jwks: issuer.jwks() }));
    assert.equal((await kubeJoinRun(['token', 'create', '-f', join(dir, 'token.yaml'), '--state-dir', auth.stateDir])).code, 0);
    tokenPath = join(dir, 'sa-token');
    await issuer.writeToken(tokenPath, { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', audience: CLUSTER });
  });
  after(async () => {
    await auth?.stop();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('--exec runs the command after the set is written, with KUBE_JOIN_OUT_DIR set', async () => {
    const out = join(dir, 'out-exec');
    const marker = join(dir, 'exec-ran');
    const r = await kubeJoinRun([...agentArgs(out), '--exec', `test -s "$KUBE_JOIN_OUT_DIR/tls.crt" && echo "$KUBE_JOIN_OUT_DIR" > ${marker}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readFile(marker, 'utf8')).trim(), out);
    assert.ok(r.lines.some((l) => l.msg === 'notify command succeeded'));
  });

  it('--exec failing is logged with its exit code and does not fail the join', async () => {
    const r = await kubeJoinRun([...agentArgs(join(dir, 'out-exec-fail')), '--exec', 'echo broken >&2; exit 3']);
    assert.equal(r.code, 0);
    const failed = r.lines.find((l) => l.msg === 'notify command failed');
    assert.equal(failed?.exit, 3);
    assert.equal(r.lines.find((l) => l.msg === 'notify command stderr')?.stderr, 'broken\n');
  });

  it('--notify-signal sends the signal to the pid in --pid-file', async () => {
    const got = join(dir, 'signal-got');
    const app = spawn(process.execPath, ['-e', `process.on('SIGHUP', () => { require('fs').writeFileSync(${JSON.stringify(got)}, 'SIGHUP'); process.exit(0); }); setInterval(() => {}, 1000); console.log('ready');`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve) => app.stdout.once('data', resolve));
      await writeFile(join(dir, 'app.pid'), `${app.pid}\n`);
      const exited = new Promise((resolve) => app.once('exit', resolve));
      const r = await kubeJoinRun([...agentArgs(join(dir, 'out-signal')), '--notify-signal', 'SIGHUP', '--pid-file', join(dir, 'app.pid')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await exited, 0);
      assert.equal(await readFile(got, 'utf8'), 'SIGHUP');
    } finally {
      app.kill('SIGKILL');
    }
  });

  it('--notify-process finds the app by name and signals it exactly once per new set, never its worker of the same name', async () => {
    // The app: a process titled kj-notify-app (its comm and argv[0]) that prints one line per SIGHUP,
    // and its worker of the same title, which has no SIGHUP handler, so a SIGHUP would kill it.
    const worker = `process.title = 'kj-notify-app'; process.on('SIGUSR1', () => console.log('worker alive')); setInterval(() => {}, 1000); console.log('worker ready');`;
    const main = `process.title = 'kj-notify-app'; let n = 0; process.on('SIGHUP', () => console.log('SIGHUP ' + (++n)));
      const w = require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(worker)}], { stdio: ['ignore', 'inherit', 'inherit'] });
      process.on('SIGUSR1', () => w.kill('SIGUSR1')); process.on('SIGTERM', () => { w.kill('SIGKILL'); process.exit(0); });
      console.log('worker pid ' + w.pid); setInterval(() => {}, 1000);`;
    const app = spawn(process.execPath, ['-e', main], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out: string[] = [];
    const waiters: { test: (lines: string[]) => boolean; resolve: () => void }[] = [];
    app.stdout.on('data', (d: Buffer) => {
      out.push(...d.toString().split('\n').filter(Boolean));
      for (const w of waiters.filter((x) => x.test(out))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    const appSaid = (test: (lines: string[]) => boolean) => (test(out) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve })));
    const agent = kubeJoin(['agent', '--auth-addr', auth.addr, '--ca-file', auth.caFile, '--cluster-name', CLUSTER, '--token-name', 'kube-token', '--token-path', tokenPath, '--out-dir', join(dir, 'out-process'), '--ttl', '3s', '--health-addr', 'off', '--notify-signal', 'SIGHUP', '--notify-process', 'kj-notify-app']);
    try {
      await appSaid((l) => l.includes('worker ready'));
      await agent.waitFor('signalled app', () => agent.lines.filter((l) => l.msg === 'signalled app').length >= 3);
      assert.equal(await agent.stop(), 0);
      const written = agent.lines.filter((l) => l.msg === 'credential set written').length;
      const signalled = agent.lines.filter((l) => l.msg === 'signalled app');
      assert.ok(written >= 3);
      assert.equal(signalled.length, written, 'one signal per set written');
      assert.deepEqual([...new Set(signalled.map((l) => l.pid))], [app.pid], 'only the main process, never the worker');
      await appSaid((l) => l.includes(`SIGHUP ${written}`));
      app.kill('SIGUSR1');
      await appSaid((l) => l.includes('worker alive'));
      assert.deepEqual(out.filter((l) => l.startsWith('SIGHUP')), Array.from({ length: written }, (_, i) => `SIGHUP ${i + 1}`));
      assert.equal(agent.lines.filter((l) => l.msg === 'could not signal app').length, 0);
    } finally {
      await agent.stop();
      app.kill('SIGTERM');
    }
  });

  it('--notify-process with no such process logs ERR_NOTIFY naming shareProcessNamespace, and the join still succeeds', async () => {
    const r = await kubeJoinRun([...agentArgs(join(dir, 'out-noproc')), '--notify-signal', 'SIGHUP', '--notify-process', 'kj-no-such-app']);
    assert.equal(r.code, 0, r.stderr);
    const line = r.lines.find((l) => l.msg === 'could not signal app');
    assert.equal(line?.code, 'ERR_NOTIFY');
    assert.equal(line?.process, 'kj-no-such-app');
    assert.match(String(line?.error), /^no process named "kj-no-such-app" in the agent's PID namespace: .*shareProcessNamespace: true/);
  });

  it('a full disk: ERR_CERT_WRITE, and the previous set stays whole', async () => {
    // A private mount namespace (works as root or as a user with user namespaces) with a 1 MiB tmpfs
    // as the shared volume: first a good join, then fill the volume, then a join that cannot write.
    const vol = join(dir, 'vol');
    const script = [
      'set -u',
      `mkdir -p ${vol} && mount -t tmpfs -o size=1m tmpfs ${vol} || { echo "MOUNT_FAILED"; exit 97; }`,
      `"${process.execPath}" ${DIST_MAIN} ${agentArgs(`${vol}/out`).map((a) => `'${a}'`).join(' ')} >/dev/null 2>&1; echo "first=$?"`,
      `before=$(cat ${vol}/out/tls.key ${vol}/out/tls.crt | sha256sum)`,
      `head -c 2m /dev/zero > ${vol}/filler 2>/dev/null; echo "filled"`,
      `"${process.execPath}" ${DIST_MAIN} ${agentArgs(`${vol}/out`).map((a) => `'${a}'`).join(' ')} --once-timeout 2s --retry-base 100ms >/dev/null 2>${dir}/second.err; echo "second=$?"`,
      `after=$(cat ${vol}/out/tls.key ${vol}/out/tls.crt | sha256sum)`,
      '[ "$before" = "$after" ] && echo "intact=yes" || echo "intact=no"',
      `ls -a ${vol}/out | grep -c '^\\.\\.2' | sed 's/^/setdirs=/'`,
      `"${process.execPath}" -e "new (require('node:crypto').X509Certificate)(require('node:fs').readFileSync('${vol}/out/tls.crt'))" && echo "certok=yes"`,
    ].join('\n');
    const wrapper = process.getuid?.() === 0 ? ['unshare', ['--mount', 'bash', '-c', script]] : ['unshare', ['--user', '--map-root-user', '--mount', 'bash', '-c', script]];
    const child = spawn(wrapper[0] as string, wrapper[1] as string[], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(!output.includes('MOUNT_FAILED'), 'this test needs to mount a tmpfs in a private mount namespace (root, or user namespaces)');
    assert.equal(code, 0, output);
    assert.match(output, /^first=0$/m);
    assert.match(output, /^second=1$/m);
    assert.match(output, /^intact=yes$/m);
    assert.match(output, /^setdirs=1$/m, 'no half-written set left behind');
    assert.match(output, /^certok=yes$/m);
    assert.match(await readFile(join(dir, 'second.err'), 'utf8'), /^kube-join: join did not succeed within 2s: writing the certificate set to \S+ failed: ENOSPC: no space left on device.*; the previous set is intact \[ERR_ONCE_FAILED\]\n$/);
  });
});
