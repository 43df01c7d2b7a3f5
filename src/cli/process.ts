import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** This build's CLI entry point (main.js in dist/, main.ts when run from source). */
export const MAIN_PATH = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './main.ts' : './main.js', import.meta.url));

export interface KubeJoinProcess {
  child: ChildProcess;
  /** Every JSON log line seen so far (non-JSON lines are kept as `{ raw }`). */
  lines: Record<string, unknown>[];
  /** Resolves with the first log line (past or future) whose `msg` is `msg`; rejects if the process exits first. */
  waitFor(msg: string, predicate?: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Sends SIGTERM (then SIGKILL after `graceMs`) and waits for the exit. */
  stop(graceMs?: number): Promise<number | string>;
  stderr(): string;
}

/**
 * Runs `kube-join ARGS` as a child on the same Node, collecting its JSON log lines from stdout (and
 * copying them to `logFile` when given). Used by the demo, the integration tests and the benchmarks.
 */
export function spawnKubeJoin(args: readonly string[], options: { env?: NodeJS.ProcessEnv; logFile?: string; main?: string; prefix?: readonly string[] } = {}): KubeJoinProcess {
  // `prefix` runs node under another command (e.g. `unshare --mount bash -c SCRIPT`), which must end by
  // exec'ing its last arguments, so that the child's pid and signals are node's.
  const command = [...(options.prefix ?? []), process.execPath, options.main ?? MAIN_PATH, ...args];
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  const lines: Record<string, unknown>[] = [];
  const waiters: { msg: string; predicate: ((l: Record<string, unknown>) => boolean) | undefined; resolve: (l: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  let stderr = '';
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    log?.write(text + '\n');
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { raw: text };
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (line.msg === w.msg && (w.predicate?.(line) ?? true)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    log?.write(chunk);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      log?.end();
      const result = code ?? signal ?? 'unknown';
      // Let the last stdout lines reach the waiters before failing them.
      setImmediate(() => {
        for (const w of waiters.splice(0)) w.reject(new Error(`kube-join ${args[0]} exited (${result}) before logging "${w.msg}"; stderr: ${stderr.slice(-2000)}`));
      });
      resolve(result);
    });
  });
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitFor(msg, predicate) {
      const seen = lines.find((l) => l.msg === msg && (predicate?.(l) ?? true));
      if (seen) return Promise.resolve(seen);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`kube-join ${args[0]} already exited before logging "${msg}"; stderr: ${stderr.slice(-2000)}`));
      return new Promise((resolve, reject) => waiters.push({ msg, predicate, resolve, reject }));
    },
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        timer.unref();
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}
