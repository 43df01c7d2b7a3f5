import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notifyApp, type NotifyDeps } from '../../../src/agent/notify.ts';
import { findProcessesByName } from '../../../src/agent/processes.ts';
import type { Logger } from '../../../src/common/logger.ts';

/** A /proc with the given processes: comm, cmdline (NUL-separated argv) and stat (for the ppid). */
async function fakeProc(root: string, processes: { pid: number; ppid: number; comm: string; argv: string[] }[]): Promise<void> {
  for (const p of processes) {
    const dir = join(root, String(p.pid));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'comm'), `${p.comm}\n`);
    await writeFile(join(dir, 'cmdline'), `${p.argv.join('\0')}\0`);
    await writeFile(join(dir, 'stat'), `${p.pid} (${p.comm}) S ${p.ppid} ${p.pid} ${p.pid} 0 -1 4194560`);
  }
  await mkdir(join(root, 'self'), { recursive: true }); // not a pid: skipped
}

function recordingLogger(): Logger & { lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => lines.push({ level, msg, fields });
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger & { lines: typeof lines };
}

describe('notify: the app by process name in the shared PID namespace', () => {
  let proc: string;
  beforeEach(async () => {
    proc = await mkdtemp(join(tmpdir(), 'kj-proc-'));
    await fakeProc(proc, [
      { pid: 1, ppid: 0, comm: 'pause', argv: ['/pause'] },
      { pid: 7, ppid: 0, comm: 'nginx', argv: ['nginx: master process /usr/sbin/nginx'] },
      { pid: 12, ppid: 7, comm: 'nginx', argv: ['nginx: worker process'] },
      { pid: 13, ppid: 7, comm: 'nginx', argv: ['nginx: worker process'] },
      { pid: 20, ppid: 0, comm: 'node', argv: ['/usr/local/bin/node', '/app/dist/cli/main.js', 'agent'] },
      { pid: 30, ppid: 0, comm: 'grafana-server-', argv: ['/usr/share/grafana/bin/grafana-server-long', '--config'] },
      { pid: 40, ppid: 0, comm: 'envoy', argv: ['/usr/local/bin/envoy'] },
      { pid: 41, ppid: 0, comm: 'envoy', argv: ['/usr/local/bin/envoy'] },
    ]);
  });
  afterEach(async () => {
    await rm(proc, { recursive: true, force: true });
  });

  it('finds the main process, not its workers of the same name', async () => {
    assert.deepEqual(await findProcessesByName('nginx', { procRoot: proc, selfPid: 20 }), [7]);
  });
  it('matches the base name of argv[0] when comm was cut at 15 bytes, and every unrelated process of the name', async () => {
    assert.deepEqual(await findProcessesByName('grafana-server-long', { procRoot: proc, selfPid: 20 }), [30]);
    assert.deepEqual(await findProcessesByName('envoy', { procRoot: proc, selfPid: 20 }), [40, 41]);
  });
  it('never finds the agent itself', async () => {
    assert.deepEqual(await findProcessesByName('node', { procRoot: proc, selfPid: 20 }), []);
  });

  const notify = { signal: 'SIGHUP' as NodeJS.Signals, pidFile: undefined, exec: undefined, execTimeoutMs: 1000 };

  it('signals each found pid once and logs it', async () => {
    const sent: [number, string][] = [];
    const deps: NotifyDeps = { procRoot: proc, selfPid: 20, kill: (pid, sig) => sent.push([pid, sig]) };
    const logger = recordingLogger();
    await notifyApp({ ...notify, process: 'nginx' }, { outDir: '/out', logger }, deps);
    assert.deepEqual(sent, [[7, 'SIGHUP']]);
    assert.deepEqual(logger.lines, [{ level: 'info', msg: 'signalled app', fields: { signal: 'SIGHUP', pid: 7, process: 'nginx' } }]);
  });

  it('no such process: ERR_NOTIFY naming shareProcessNamespace', async () => {
    const logger = recordingLogger();
    await notifyApp({ ...notify, process: 'haproxy' }, { outDir: '/out', logger }, { procRoot: proc, selfPid: 20, kill: () => assert.fail('nothing to signal') });
    assert.deepEqual(logger.lines, [{
      level: 'warn',
      msg: 'could not signal app',
      fields: {
        signal: 'SIGHUP',
        process: 'haproxy',
        code: 'ERR_NOTIFY',
        error: 'no process named "haproxy" in the agent\'s PID namespace: the app\'s container must share it (pod spec shareProcessNamespace: true; the chart sets it with notify.process)',
      },
    }]);
  });

  it('EPERM: ERR_NOTIFY naming the app\'s uid or CAP_KILL', async () => {
    const logger = recordingLogger();
    const kill = () => {
      throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
    };
    await notifyApp({ ...notify, process: 'nginx' }, { outDir: '/out', logger }, { procRoot: proc, selfPid: 20, kill });
    assert.deepEqual(logger.lines.map((l) => [l.level, l.msg, l.fields.code, l.fields.error]), [[
      'warn',
      'could not signal app',
      'ERR_NOTIFY',
      'not permitted to send SIGHUP to "nginx" (pid 7) (EPERM): run the agent as the app\'s uid, or add the capability CAP_KILL to the agent\'s container',
    ]]);
  });
});
