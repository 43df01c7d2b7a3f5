/**
 * The auth service on a state directory that cannot be written: a real tmpfs, mounted in a private
 * mount namespace (root, or a user namespace) around the real `kube-join auth` process, then made
 * read-only or full.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import got from 'got';
import { kubeJoin, kubeJoinRun, tokenYaml } from '../support/kube-join.ts';

const MOUNT_FAILED = 97;

/**
 * A command prefix that runs `script` in a private mount namespace; `$0` is `mountPoint`, and the script
 * must end with `exec "$@"` (or run "$@") to start the auth process.
 */
function inPrivateMount(script: string, mountPoint: string): string[] {
  const unshare = process.getuid?.() === 0 ? ['unshare', '--mount'] : ['unshare', '--user', '--map-root-user', '--mount'];
  return [...unshare, 'bash', '-c', script, mountPoint];
}

/** `nsenter` arguments that run a command in the mount namespace of `pid` (made by inPrivateMount). */
function inMountOf(pid: number): string[] {
  return process.getuid?.() === 0 ? ['-t', String(pid), '--mount'] : ['-t', String(pid), '--user', '--mount', '--preserve-credentials'];
}

const mountTmpfs = (size: string) => `mount -t tmpfs -o size=${size} tmpfs "$0" || exit ${MOUNT_FAILED}`;

describe('auth service: a state directory that cannot be written (real tmpfs)', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-state-dir-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('while serving, the state directory turns read-only: /readyz 503 naming it and EROFS; token create fails in one line with storage_unavailable', async () => {
    const auth = kubeJoin(['auth', '--state-dir', `${dir}/state`, '--listen', '127.0.0.1:0', '--metrics-addr', 'off', '--cluster-name', 'state-dir'], { prefix: inPrivateMount([mountTmpfs('4m'), 'exec "$@"'].join('\n'), dir) });
    try {
      const listening = await auth.waitFor('auth service listening');
      const addr = String(listening.addr);
      const pid = auth.child.pid as number;
      // The tmpfs exists only in the auth's mount namespace: the admin commands reach it through /proc.
      const stateDir = `/proc/${pid}/root${dir}/state`;
      const ca = await readFile(join(stateDir, 'ca.crt'), 'utf8');
      const createToken = async (name: string) => {
        await writeFile(join(dir, `${name}.yaml`), tokenYaml({ name, type: 'in_cluster' }));
        return kubeJoinRun(['token', 'create', '-f', join(dir, `${name}.yaml`), '--state-dir', stateDir]);
      };
      const before = await createToken('before');
      assert.equal(before.code, 0, before.stderr);

      await promisify(execFile)('nsenter', [...inMountOf(pid), 'mount', '-o', 'remount,ro', dir]);

      const ready = await got(`https://${addr}/readyz`, { https: { certificateAuthority: ca }, throwHttpErrors: false, retry: { limit: 0 } });
      assert.equal(ready.statusCode, 503);
      assert.deepEqual(JSON.parse(ready.body), { ready: false, reason: `storage: state directory ${dir}/state is read-only (EROFS)` });
      const after = await createToken('after');
      assert.equal(after.code, 1);
      assert.equal(after.stderr, `kube-join: auth service https://${addr} answered 503 storage_unavailable: state directory ${dir}/state is read-only (EROFS) [ERR_ADMIN_REQUEST]\n`);
      assert.ok(auth.lines.some((l) => l.msg === 'admin request failed' && l.error === `state directory ${dir}/state is read-only (EROFS)`), 'the auth log says why');
    } finally {
      await auth.stop();
    }
  });

  it('refuses to start on a read-only state directory: exit 1, one line naming the directory and EROFS', async () => {
    const script = [mountTmpfs('4m'), 'mkdir -p "$0/state/tokens" "$0/state/agents" && mount -o remount,ro "$0" || exit 98', 'exec "$@"'].join('\n');
    const r = await kubeJoinRun(['auth', '--state-dir', `${dir}/state`, '--listen', '127.0.0.1:0', '--metrics-addr', 'off'], { prefix: inPrivateMount(script, dir) });
    assert.notEqual(r.code, MOUNT_FAILED, 'this test needs to mount a tmpfs in a private mount namespace (root, or user namespaces)');
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `kube-join: state directory ${dir}/state is read-only (EROFS) [ERR_STORAGE]\n`);
  });

  it('on a full disk at start: exit 1, one line naming ENOSPC, and no empty auth.lock left behind', async () => {
    const script = [
      mountTmpfs('1m'),
      // Fill every block: creating files (and the lock) still works, writing into them does not.
      'head -c 2m /dev/zero > "$0/filler" 2>/dev/null',
      '"$@"',
      'code=$?',
      'echo "left: $(ls -A "$0/state" | tr "\\n" " ")"',
      'exit $code',
    ].join('\n');
    const r = await kubeJoinRun(['auth', '--state-dir', `${dir}/state`, '--listen', '127.0.0.1:0', '--metrics-addr', 'off'], { prefix: inPrivateMount(script, dir) });
    assert.notEqual(r.code, MOUNT_FAILED, 'this test needs to mount a tmpfs in a private mount namespace (root, or user namespaces)');
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `kube-join: state directory ${dir}/state is full (ENOSPC) [ERR_STORAGE]\n`);
    assert.deepEqual(r.lines.filter((l) => typeof l.raw === 'string').map((l) => l.raw), ['left: agents tokens ']);
  });
});
