import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeJoin } from '../support/kube-join.ts';
import { RUNTIME_FLAGS } from '../../src/cli/runtime-flags.ts';

describe('stopping the agent', function () {
  this.timeout(30_000);
  let dir: string;
  const sockets = new Set<Socket>();
  // Accepts TCP connections and never answers: a join stays in flight until the agent is stopped.
  const silent = createServer((socket) => sockets.add(socket));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-signals-'));
    await writeFile(join(dir, 'token'), 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.');
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('--once stopped by SIGTERM before its first set exits non-zero and says so', async () => {
    const port = (silent.address() as { port: number }).port;
    const connected = new Promise((resolve) => silent.once('connection', resolve));
    const agent = kubeJoin(['agent', '--once', '--auth-addr', `127.0.0.1:${port}`, '--insecure', '--token-name', 't', '--token-path', join(dir, 'token'), '--out-dir', join(dir, 'out')]);
    try {
      await connected;
      agent.child.kill('SIGTERM');
      assert.equal(await agent.exited, 1);
      assert.equal(agent.stderr(), 'kube-join: stopped by SIGTERM before the first certificate set was written [ERR_ONCE_FAILED]\n');
    } finally {
      await agent.stop();
    }
  });

  it('the agent runs with its V8 flags in the process that was started: its own SIGTERM ends it with a clean stop and exit 0', async () => {
    const port = (silent.address() as { port: number }).port;
    const connected = new Promise((resolve) => silent.once('connection', resolve));
    const agent = kubeJoin(['agent', '--auth-addr', `127.0.0.1:${port}`, '--insecure', '--token-name', 't', '--token-path', join(dir, 'token'), '--out-dir', join(dir, 'out-daemon'), '--health-addr', 'off']);
    try {
      await connected;
      // The entry point replaced itself (execve): same pid, now with the table's flags before the script.
      const argv = (await readFile(`/proc/${agent.child.pid}/cmdline`, 'utf8')).split('\0');
      const flags = RUNTIME_FLAGS.find((r) => r.command === 'agent')?.flags ?? [];
      assert.ok(flags.length > 0);
      assert.deepEqual(argv.slice(1, 1 + flags.length), flags);
      agent.child.kill('SIGTERM');
      assert.equal(await agent.exited, 0);
      assert.ok(agent.lines.some((l) => l.msg === 'stopped' && l.signal === 'SIGTERM'), agent.stderr());
    } finally {
      await agent.stop();
    }
  });
});
