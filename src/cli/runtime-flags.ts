// The V8 and Node flags each command runs with, set by the program itself so that the image run bare,
// the chart and a checkout behave the same. The entry point (main.ts) applies them before loading
// anything else, by replacing its own process with `node FLAGS main.js ARGS` (process.execve: same
// pid, same signals and exit code, no second process alive).
// This module is loaded by every start: node built-ins only.

export interface RuntimeFlagsRow {
  /** The subcommand, as typed first on the command line. */
  command: string;
  /** Arguments with which the command runs without the flags: one-shot runs have no steady state to bound, and a re-exec would add a Node start to them. */
  exceptWith: readonly string[];
  flags: readonly string[];
}

const HELP = ['--help', '-h'];

/**
 * One row per command that needs flags; adding a command's flags is adding its row. Figures: bench/
 * agent-flags.ts, summed up in bench/RESULTS.md.
 */
export const RUNTIME_FLAGS: readonly RuntimeFlagsRow[] = [
  // A renewal allocates a burst (key, CSR, TLS, ASN.1 parse) every half hour. Without bounds V8 grows the
  // young generation under such bursts and keeps it: RSS climbs over renewals although the heap in use
  // stays flat. Semi-space 1 MB and old space 48 MB (about 2x the agent's live heap) bound the heap;
  // --jitless drops the optimizing compilers' code and their growth: the agent's JavaScript runs a few
  // ms per renewal, which the interpreter does as well. Measured over 300 fast renewals: idle 92 -> 82
  // MB, growth over the second half 15 -> 0.4 MB, no slower renewals.
  { command: 'agent', exceptWith: ['--once', ...HELP], flags: ['--max-semi-space-size=1', '--max-old-space-size=48', '--jitless'] },
  // A join allocates short-lived buffers (TLS, DER, JSON) at hundreds per second; a 4 MB semi-space keeps
  // them in the young generation without letting it grow: RSS after 10,000 joins 163-191 MB against 243
  // MB without it (bench/RESULTS.md, issue 13).
  { command: 'auth', exceptWith: HELP, flags: ['--max-semi-space-size=4'] },
];

/** `off`: run without the table's flags (to measure them, or to set every flag by hand). Set to `applied` by the re-exec itself. */
export const RUNTIME_FLAGS_ENV = 'KUBE_JOIN_RUNTIME_FLAGS';

/** `--max_old_space_size=48` and `--max-old-space-size 48` both name `--max-old-space-size`. */
function flagName(flag: string): string {
  return (flag.split('=')[0] as string).replace(/_/g, '-');
}

/**
 * The table's flags for this command line, less those the operator already gives node (its own
 * arguments or NODE_OPTIONS): those win.
 */
export function runtimeFlagsFor(args: readonly string[], given: { execArgv: readonly string[]; nodeOptions: string | undefined }): string[] {
  const row = RUNTIME_FLAGS.find((r) => r.command === args[0]);
  if (row === undefined || args.some((a) => row.exceptWith.includes(a))) return [];
  const set = new Set([...given.execArgv, ...(given.nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('-')).map(flagName));
  return row.flags.filter((f) => !set.has(flagName(f)));
}

/** What to execve for this process to run with its flags, or undefined when it already runs as it should. */
export function reexecPlan(proc: { execPath: string; argv: readonly string[]; execArgv: readonly string[]; env: NodeJS.ProcessEnv }): { args: string[]; env: NodeJS.ProcessEnv } | undefined {
  if (proc.env[RUNTIME_FLAGS_ENV] !== undefined) return undefined;
  const [, script, ...args] = proc.argv;
  const flags = runtimeFlagsFor(args, { execArgv: proc.execArgv, nodeOptions: proc.env.NODE_OPTIONS });
  if (flags.length === 0 || script === undefined) return undefined;
  return { args: [proc.execPath, ...flags, ...proc.execArgv, script, ...args], env: { ...proc.env, [RUNTIME_FLAGS_ENV]: 'applied' } };
}

/**
 * Replaces this process with one that runs with the command's flags, or returns when there is nothing
 * to do. A Node without process.execve (before 22.15) runs on without them: a second process that
 * waits for the first would cost more memory than the flags save.
 */
export function applyRuntimeFlags(): void {
  const plan = reexecPlan(process);
  if (plan !== undefined && typeof process.execve === 'function') process.execve(process.execPath, plan.args, plan.env);
  // The marker has done its job; children the command starts (--exec) get their own flags.
  if (process.env[RUNTIME_FLAGS_ENV] === 'applied') delete process.env[RUNTIME_FLAGS_ENV];
}
