import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../common/logger.ts';
import type { ResolvedAgentConfig } from './config.ts';

/**
 * Tells the app that a new set is on disk: a signal to the pid in a pid file (spiffe-helper's
 * renew_signal), and/or a shell command (Vault Agent's exec). Failures are logged, never fatal: the
 * files are already in place and the app can still pick them up on its own schedule.
 */
export async function notifyApp(notify: ResolvedAgentConfig['notify'], context: { outDir: string; logger: Logger }): Promise<void> {
  const { logger } = context;
  if (notify.signal !== undefined && notify.pidFile !== undefined) {
    try {
      const pid = Number((await readFile(notify.pidFile, 'utf8')).trim());
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`pid file ${notify.pidFile} does not hold a pid`);
      process.kill(pid, notify.signal);
      logger.info('signalled app', { signal: notify.signal, pid });
    } catch (err) {
      logger.warn('could not signal app', { signal: notify.signal, pidFile: notify.pidFile, error: (err as Error).message });
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
