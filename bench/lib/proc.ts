import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The built CLI: what users run, so what cold start and the processes measure. */
export const MAIN_JS = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const NODE = process.execPath;

const live = new Set<ChildProcess>();

/** Every child still running is killed (by its own pid) when the benchmark exits, however it exits. */
function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

export interface Child {
  child: ChildProcess;
  pid: number;
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<number | string>;
}

export function track(child: ChildProcess): Child {
  live.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', () => {
      live.delete(child);
      resolve('spawn-error');
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}

/** Runs `node ARGS` with stdout+stderr appended to `logFile` (the kernel copies; this process does no work). */
export function spawnLogged(args: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Child {
  const fd = openSync(logFile, 'a');
  try {
    return track(spawn(NODE, [...args], { stdio: ['ignore', fd, fd] as StdioOptions, env }));
  } finally {
    closeSync(fd);
  }
}

/**
 * Polls a JSON-lines log until a line with `msg` appears at or after byte `fromByte`; rejects after
 * `timeoutMs` or when `child` exits. Reads only what is new on each poll.
 */
export async function waitForLog(logFile: string, msg: string, child: Child, timeoutMs = 20_000, fromByte = 0): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  let offset = fromByte;
  let pending = '';
  const handle = await open(logFile, 'r');
  try {
    while (Date.now() < deadline) {
      const chunk = Buffer.alloc(64 * 1024);
      let got: number;
      while ((got = (await handle.read(chunk, 0, chunk.length, offset)).bytesRead) > 0) {
        offset += got;
        pending += chunk.subarray(0, got).toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() as string;
        for (const line of lines) {
          if (!line.includes(msg)) continue;
          try {
            const parsed = JSON.parse(line) as Record<string, unknown>;
            if (parsed.msg === msg) return parsed;
          } catch {
            // not JSON
          }
        }
      }
      if (exited) throw new Error(`process ${child.pid} exited before logging "${msg}"; see ${logFile}`);
      await sleep(10);
    }
  } finally {
    await handle.close();
  }
  throw new Error(`no "${msg}" in ${logFile} within ${timeoutMs} ms`);
}

/** Follows a JSON-lines log file, counting lines whose `msg` is one of interest. */
export class LogTail {
  private offset = 0;
  private pending = '';
  readonly counts = new Map<string, number>();
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }
  /** Reads what was appended since the last call; returns this.counts. */
  async poll(): Promise<Map<string, number>> {
    const handle = await open(this.file, 'r');
    try {
      const chunk = Buffer.alloc(256 * 1024);
      let got: number;
      while ((got = (await handle.read(chunk, 0, chunk.length, this.offset)).bytesRead) > 0) {
        this.offset += got;
        this.pending += chunk.subarray(0, got).toString('utf8');
        const lines = this.pending.split('\n');
        this.pending = lines.pop() as string;
        for (const line of lines) {
          const m = /"msg":"([^"]*)"/.exec(line);
          if (m) this.counts.set(m[1] as string, (this.counts.get(m[1] as string) ?? 0) + 1);
        }
      }
    } finally {
      await handle.close();
    }
    return this.counts;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resident set size of a process in bytes (VmRSS; `VmHWM`: its peak so far), or NaN once it is gone. */
export function rssBytes(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "(comm) ": state is field 0, utime is 11, stime 12 (fields 14 and 15 of proc(5)), in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds used by this process's waited-for children so far (cutime + cstime of /proc/self/stat). */
export function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/**
 * Runs a command to completion, with a time bound; resolves with wall time, CPU time (user + system, 10 ms
 * resolution; only meaningful when no other child of this process exits meanwhile) and exit code.
 */
export function runTimed(args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<{ ms: number; cpuMs: number; code: number | string; stderr: string }> {
  const cpuBefore = childrenCpuSeconds();
  const started = process.hrtime.bigint();
  const child = track(spawn(NODE, [...args], { stdio: ['ignore', 'ignore', 'pipe'], env: options.env ?? process.env }));
  let stderr = '';
  child.child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const timer = setTimeout(() => child.child.kill('SIGKILL'), options.timeoutMs);
  return child.exited.then((code) => {
    clearTimeout(timer);
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, cpuMs: (childrenCpuSeconds() - cpuBefore) * 1000, code, stderr };
  });
}
