import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TokenIssuer } from '../src/demo/index.ts';
import { CLUSTER, mintFor, TOKEN_NAME, type AuthProcess } from './lib/env.ts';
import { cpuSeconds, LogTail, MAIN_JS, rssBytes, sleep, spawnLogged, waitForLog } from './lib/proc.ts';

export interface AgentMemoryResult {
  /** RSS a few seconds after the first join, nothing else happening (default renewal schedule). */
  idleAfterFirstJoin: number;
  /** RSS samples of the fast-renewing agent: [renewals, rss bytes, heap used bytes]. */
  series: { renewals: number; rss: number; heapUsed: number; heapTotal: number; external: number }[];
  renewals: number;
  seconds: number;
  afterRenewals: number;
  /** Peak RSS of the fast-renewing agent over its whole run (VmHWM). */
  peak: number;
  /** CPU (user + system) of the agent per renewal, from its first set to its last. */
  cpuMsPerRenewal: number;
  /** node's own arguments in the running agent (/proc/PID/cmdline): the V8 flags it runs with. */
  nodeFlags: string[];
}

/** `main`: the CLI entry point to run, by default this checkout's dist/ (bench/compare.ts gives another build). */
type MemoryContext = { auth: AuthProcess; issuer: TokenIssuer; dir: string; nodeArgs?: string[]; env?: NodeJS.ProcessEnv; main?: string };

/** node's arguments before the script, as the process runs now (after the entry point's re-exec). */
async function nodeFlagsOf(pid: number, main: string): Promise<string[]> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  return argv.slice(1, argv.indexOf(main));
}

/** V8 heap used and committed, and external memory, from the agent's own /metrics (prom-client defaults). */
async function heapOf(port: number): Promise<{ heapUsed: number; heapTotal: number; external: number }> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const get = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { heapUsed: get('nodejs_heap_size_used_bytes'), heapTotal: get('nodejs_heap_size_total_bytes'), external: get('nodejs_external_memory_bytes') };
  } catch {
    return { heapUsed: Number.NaN, heapTotal: Number.NaN, external: Number.NaN };
  }
}

function agentArgs(auth: AuthProcess, dir: string, name: string, tokenPath: string, extra: string[], nodeArgs: string[] = [], main = MAIN_JS): string[] {
  return [
    ...nodeArgs,
    main, 'agent',
    '--auth-addr', auth.addr,
    '--token-name', TOKEN_NAME,
    '--token-path', tokenPath,
    '--ca-file', auth.caFile,
    '--out-dir', join(dir, name),
    '--cluster-name', CLUSTER,
    '--health-addr', '127.0.0.1:0',
    ...extra,
  ];
}

/**
 * The real `kube-join agent` process (dist/), measured from outside (/proc VmRSS): its RSS `idleSeconds`
 * after the first set is written, default schedule, nothing else happening.
 */
export async function measureAgentIdle(ctx: MemoryContext & { idleSeconds: number }): Promise<{ rss: number; nodeFlags: string[] }> {
  const tokenPath = join(ctx.dir, 'sa-token-idle');
  await writeFile(tokenPath, await mintFor(ctx.issuer, 3), { mode: 0o600 });
  const run = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const idleLog = join(ctx.dir, `agent-idle-${run}.log`);
  const idle = spawnLogged(agentArgs(ctx.auth, ctx.dir, `mem-idle-${run}`, tokenPath, [], ctx.nodeArgs, ctx.main), idleLog, ctx.env);
  try {
    await waitForLog(idleLog, 'credential set written', idle, 30_000);
    await sleep(ctx.idleSeconds * 1000);
    return { rss: rssBytes(idle.pid), nodeFlags: await nodeFlagsOf(idle.pid, ctx.main ?? MAIN_JS) };
  } finally {
    await idle.stop();
  }
}

/**
 * The same CLI made to renew fast with flags only (--ttl 1s --renew-fraction 0.02 --renew-jitter 0
 * --retry-base 10ms): every renewal is a full join (new key, CSR, TLS, verify, atomic write). RSS and
 * the heap (from its own /metrics) are sampled every tenth of the run.
 */
export async function measureAgentMemory(ctx: MemoryContext & { renewals: number; idleSeconds: number; timeoutSeconds: number }): Promise<AgentMemoryResult> {
  const idle = await measureAgentIdle(ctx);
  const tokenPath = join(ctx.dir, 'sa-token-mem');
  // 30 minutes: the longest lifetime the auth service accepts; the fast run must end well before.
  await writeFile(tokenPath, await mintFor(ctx.issuer, 2, 1800), { mode: 0o600 });
  const run = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`; // fresh log files: the tail counts every line
  const fastLog = join(ctx.dir, `agent-fast-${run}.log`);
  const fast = spawnLogged(agentArgs(ctx.auth, ctx.dir, `mem-fast-${run}`, tokenPath, ['--ttl', '1s', '--renew-fraction', '0.02', '--renew-jitter', '0', '--retry-base', '10ms', '--retry-cap', '1s', '--log-level', 'info'], ctx.nodeArgs, ctx.main), fastLog, ctx.env);
  const series: AgentMemoryResult['series'] = [];
  const started = Date.now();
  let renewals = 0;
  let peak = Number.NaN;
  let cpuAtFirst = Number.NaN;
  let cpuMsPerRenewal = Number.NaN;
  try {
    const health = await waitForLog(fastLog, 'health server listening', fast, 30_000);
    const port = Number(health.port);
    const tail = new LogTail(fastLog);
    let nextSample = 0;
    const deadline = started + ctx.timeoutSeconds * 1000;
    // The first set is the join; every later one is a renewal.
    while (Date.now() < deadline) {
      const written = (await tail.poll()).get('credential set written') ?? 0;
      renewals = Math.max(0, written - 1);
      if (written > 0 && Number.isNaN(cpuAtFirst)) cpuAtFirst = cpuSeconds(fast.pid);
      if (written > 0 && renewals >= nextSample) {
        series.push({ renewals, rss: rssBytes(fast.pid), ...(await heapOf(port)) });
        nextSample = nextSample === 0 ? ctx.renewals / 10 : nextSample + ctx.renewals / 10;
      }
      if (renewals >= ctx.renewals) break;
      if (fast.child.exitCode !== null || fast.child.signalCode !== null) throw new Error(`fast-renewing agent exited (${fast.child.exitCode ?? fast.child.signalCode}): ${(await readFile(fastLog, 'utf8')).slice(-1500)}`);
      await sleep(100);
    }
    if (renewals < ctx.renewals) throw new Error(`only ${renewals} renewals in ${ctx.timeoutSeconds} s; see ${fastLog}`);
    peak = rssBytes(fast.pid, 'VmHWM');
    cpuMsPerRenewal = ((cpuSeconds(fast.pid) - cpuAtFirst) * 1000) / renewals;
  } finally {
    await fast.stop();
  }
  const last = series[series.length - 1] as { rss: number };
  return { idleAfterFirstJoin: idle.rss, series, renewals, seconds: (Date.now() - started) / 1000, afterRenewals: last.rss, peak, cpuMsPerRenewal, nodeFlags: idle.nodeFlags };
}
