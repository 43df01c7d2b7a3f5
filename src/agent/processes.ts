import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** What the agent sees of one process in its PID namespace. */
interface ProcessEntry {
  pid: number;
  ppid: number;
  /** The kernel's name (comm: the executable's name, or what the process set, cut to 15 bytes). */
  comm: string;
  /** The base name of argv[0]. */
  argv0: string;
}

async function readEntry(procRoot: string, pid: number): Promise<ProcessEntry | undefined> {
  try {
    const [comm, cmdline, stat] = await Promise.all([
      readFile(join(procRoot, String(pid), 'comm'), 'utf8'),
      readFile(join(procRoot, String(pid), 'cmdline'), 'utf8'),
      readFile(join(procRoot, String(pid), 'stat'), 'utf8'),
    ]);
    // stat is "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { pid, ppid, comm: comm.replace(/\n$/, ''), argv0: basename(cmdline.split('\0')[0] ?? '') };
  } catch {
    return undefined; // it exited while we looked, or is not ours to read
  }
}

/**
 * The pids of the processes named `name` in this PID namespace (`<procRoot>/<pid>/comm`, or the base
 * name of argv[0] in `cmdline`), leaving out `selfPid` and every match whose parent is a match too:
 * an app's main process is signalled, not its workers (nginx's master, not its worker processes).
 * With `shareProcessNamespace: true`, this sees the other containers' processes of the pod.
 */
export async function findProcessesByName(name: string, options: { procRoot: string; selfPid: number }): Promise<number[]> {
  const pids = (await readdir(options.procRoot)).filter((e) => /^\d+$/.test(e)).map(Number);
  const entries = (await Promise.all(pids.map((pid) => readEntry(options.procRoot, pid)))).filter((e): e is ProcessEntry => e !== undefined);
  const comm = name.slice(0, 15);
  const matches = new Set(entries.filter((e) => e.pid !== options.selfPid && (e.comm === comm || e.argv0 === name)).map((e) => e.pid));
  return entries.filter((e) => matches.has(e.pid) && !matches.has(e.ppid)).map((e) => e.pid).sort((a, b) => a - b);
}
