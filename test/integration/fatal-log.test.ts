import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeJoinRun } from '../support/kube-join.ts';

const FATAL = 'exiting on a fatal error';
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The run's stdout lines without their time, after checking that each has one. */
function timeless(lines: Record<string, unknown>[]): Record<string, unknown>[] {
  return lines.map(({ time, ...rest }) => {
    assert.match(String(time), ISO_TIME);
    return rest;
  });
}

describe('a fatal error of agent or auth is also a log line (real processes)', function () {
  this.timeout(30_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-fatal-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('auth with a bad config, --log-format json: one JSON error line on stdout (time, level, msg first) and the stderr line', async () => {
    const r = await kubeJoinRun(['auth', '--state-dir', join(dir, 'state'), '--storage', 'etcd', '--log-format', 'json']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'kube-join: --storage must be file or kubernetes (got "etcd") [ERR_CONFIG]\n');
    assert.equal(r.lines.length, 1, r.stdout);
    assert.deepEqual(Object.keys(r.lines[0] ?? {}), ['time', 'level', 'msg', 'component', 'code', 'error']);
    assert.deepEqual(timeless(r.lines), [{ level: 'error', msg: FATAL, component: 'auth', code: 'ERR_CONFIG', error: '--storage must be file or kubernetes (got "etcd")' }]);
  });

  it('auth whose --listen port is taken: its start-up lines, then the error line with the stderr line\'s code', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const r = await kubeJoinRun(['auth', '--state-dir', join(dir, 'taken'), '--listen', `127.0.0.1:${port}`, '--metrics-addr', 'off']);
      assert.equal(r.code, 1);
      // A KubeJoinError prints `kube-join: <message> [<code>]`; anything else `kube-join: internal error: <stack>`.
      const named = /^kube-join: (.+) \[(ERR_[A-Z_]+)\]\n$/.exec(r.stderr);
      const expected = named ? { code: named[2], error: named[1] } : { code: 'ERR_UNEXPECTED', error: /^kube-join: internal error: Error: (.+)\n/.exec(r.stderr)?.[1] };
      assert.match(String(expected.error), new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${port}|127\\.0\\.0\\.1:${port}.*EADDRINUSE`), r.stderr);
      assert.deepEqual(timeless(r.lines).at(-1), { level: 'error', msg: FATAL, component: 'auth', ...expected });
      assert.ok(r.lines.length >= 2, r.stdout);
      assert.deepEqual(new Set(r.lines.slice(0, -1).map((l) => `${String(l.level)} ${String(l.component)}`)), new Set(['info auth']), 'start-up lines before it');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('agent with a bad config, --log-format text from the config file: one human error line and the stderr line', async () => {
    const config = join(dir, 'agent.yaml');
    await writeFile(config, 'logFormat: text\nauthAddr: auth:3025\ntokenName: kube-token\n');
    const r = await kubeJoinRun(['agent', '--config', config]);
    assert.equal(r.code, 2);
    const message = 'the auth service must be verified: give --ca-file or --ca-pin (--insecure exists for development only)';
    assert.equal(r.stderr, `kube-join: ${message} [ERR_CONFIG]\n`);
    assert.equal(r.lines.length, 1, r.stdout);
    const raw = String(r.lines[0]?.raw);
    assert.match(raw.slice(0, 24), ISO_TIME);
    assert.equal(raw.slice(24), ` error ${FATAL} code=ERR_CONFIG error=${JSON.stringify(message)}`);
  });

  it('log options that are themselves wrong fall back to json for the error line', async () => {
    const r = await kubeJoinRun(['agent', '--auth-addr', 'auth:3025', '--token-name', 'kube-token', '--ca-pin', `sha256:${'0'.repeat(64)}`, '--log-format', 'yaml']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'kube-join: --log-format must be json or text (got "yaml") [ERR_CONFIG]\n');
    assert.deepEqual(timeless(r.lines), [{ level: 'error', msg: FATAL, component: 'agent', code: 'ERR_CONFIG', error: '--log-format must be json or text (got "yaml")' }]);
  });

  it('other commands keep stderr only', async () => {
    const r = await kubeJoinRun(['token', 'get', 'nope', '--state-dir', join(dir, 'none')]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.lines, []);
  });
});
