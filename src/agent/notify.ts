import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { errorLogFields } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { ResolvedAgentConfig } from './config.ts';
import { NotifyError } from './errors.ts';
import { findProcessesByName } from './processes.ts';

/** Where notify looks for processes and how it signals them; tests give their own /proc and kill. */
export interface NotifyDeps {
  procRoot: string;
  selfPid: number;
  kill: (pid: number, signal: NodeJS.Signals) => void;
}

const defaultDeps: NotifyDeps = { procRoot: '/proc', selfPid: process.pid, kill: (pid, signal) => process.kill(pid, signal) };

type Target = { pidFile: string } | { process: string };

async function targetPids(target: Target, deps: NotifyDeps): Promise<number[]> {
  if ('pidFile' in target) {
    const pid = Number((await readFile(target.pidFile, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new NotifyError(`pid file ${target.pidFile} does not hold a pid`);
    return [pid];
  }
  const pids = await findProcessesByName(target.process, { procRoot: deps.procRoot, selfPid: deps.selfPid });
  if (pids.length === 0) {
    throw new NotifyError(`no process named "${target.process}" in the agent's PID namespace: the app's container must share it (pod spec shareProcessNamespace: true; the chart sets it with notify.process)`);
  }
  return pids;
}

function signalPid(pid: number, signal: NodeJS.Signals, target: Target, deps: NotifyDeps): void {
  try {
    deps.kill(pid, signal);
  } catch (err) {
    const what = 'pidFile' in target ? `pid ${pid} (from ${target.pidFile})` : `"${target.process}" (pid ${pid})`;
    if ((err as NodeJS.ErrnoException).code === 'EPERM') {
      throw new NotifyError(`not permitted to send ${signal} to ${what} (EPERM): run the agent as the app's uid, or add the capability CAP_KILL to the agent's container`, err);
    }
    throw new NotifyError(`sending ${signal} to ${what} failed: ${(err as Error).message}`, err);
  }
}

/**
 * Tells the app that a new set is on disk: a signal to the pid in a pid file (spiffe-helper's
 * renew_signal) or to the processes of a name in the shared PID namespace, and/or a shell command run
 * in the agent's own container (Vault Agent's exec). Failures are logged, never fatal: the files are
 * already in place and the app can still pick them up on its own schedule.
 */
export async function notifyApp(notify: ResolvedAgentConfig['notify'], context: { outDir: string; logger: Logger }, deps: NotifyDeps = defaultDeps): Promise<void> {
  const { logger } = context;
  const target: Target | undefined = notify.pidFile !== undefined ? { pidFile: notify.pidFile } : notify.process !== undefined ? { process: notify.process } : undefined;
  if (notify.signal !== undefined && target !== undefined) {
    const signal = notify.signal;
    try {
      for (const pid of await targetPids(target, deps)) {
        signalPid(pid, signal, target, deps);
        logger.info('signalled app', { signal, pid, ...('process' in target ? { process: target.process } : {}) });
      }
    } catch (err) {
      const fields = err instanceof NotifyError ? errorLogFields(err) : errorLogFields(new NotifyError((err as Error).message, err));
      logger.warn('could not signal app', { signal, ...target, ...fields });
    }
  }
  if (notify.exec !== undefined) {
    const command = notify.exec;
    const code = await new Promise<number | string>((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: notify.execTimeoutMs,
        killSignal: 'SIGKILL',
        env: { ...process.env, KUBE_JOIN_OUT_DIR: context.outDir },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 2048) stderr += chunk.toString('utf8');
      });
      child.on('error', (err) => {
        resolve(err.message);
      });
      child.on('close', (exitCode, signal) => {
        if (exitCode !== 0 && stderr) logger.warn('notify command stderr', { stderr: stderr.slice(0, 2048) });
        resolve(exitCode ?? `killed by ${signal}`);
      });
    });
    if (code === 0) logger.info('notify command succeeded', { command });
    else logger.warn('notify command failed', { command, exit: code });
  }
}
