import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TokenIssuer } from '../src/demo/index.ts';
import { CLUSTER, mintFor, TOKEN_NAME, type AuthProcess } from './lib/env.ts';
import { MAIN_JS, NODE, REPO, runTimed } from './lib/proc.ts';
import { summarize, type Summary } from './lib/stats.ts';

/** One way of starting a process, timed from spawn to exit. */
export interface Variant {
  name: string;
  /** argv after `node`; for agents, the CLI entry point (the agent flags are appended). */
  args: string[];
  agent: boolean;
  env?: NodeJS.ProcessEnv;
  /** Runs once before the timed runs (e.g. to fill a compile cache). */
  warm?: boolean;
}

export interface ColdStartResult {
  name: string;
  /** Wall time, spawn to exit. */
  ms: Summary;
  /** CPU time of the process (user + system), which load from other processes does not inflate. */
  cpuMs: Summary;
}

/**
 * Times `runs` cold starts of each variant, interleaved round-robin so that load from other processes on
 * the machine hits every variant alike. An agent run is `kube-join agent --once` into a fresh output
 * directory against the running auth service; it must exit 0 with the set on disk.
 */
export async function measureColdStarts(variants: readonly Variant[], ctx: { auth: AuthProcess; issuer: TokenIssuer; dir: string; runs: number }): Promise<ColdStartResult[]> {
  const tokenPath = join(ctx.dir, 'sa-token');
  await writeFile(tokenPath, await mintFor(ctx.issuer, 0), { mode: 0o600 });
  let n = 0;
  const agentArgs = () => [
    'agent', '--once',
    '--auth-addr', ctx.auth.addr,
    '--token-name', TOKEN_NAME,
    '--token-path', tokenPath,
    '--ca-file', ctx.auth.caFile,
    '--out-dir', join(ctx.dir, `out-${n++}`),
    '--cluster-name', CLUSTER,
  ];
  const run = async (v: Variant) => {
    const r = await runTimed(v.agent ? [...v.args, ...agentArgs()] : v.args, { timeoutMs: 60_000, ...(v.env ? { env: v.env } : {}) });
    if (r.code !== 0) throw new Error(`cold start "${v.name}" exited ${r.code}: ${r.stderr.slice(-1500)}`);
    return r;
  };
  for (const v of variants) if (v.warm) await run(v);
  const wall = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (let i = 0; i < ctx.runs; i++) {
    for (const [j, v] of variants.entries()) {
      const r = await run(v);
      (wall[j] as number[]).push(r.ms);
      (cpu[j] as number[]).push(r.cpuMs);
    }
  }
  return variants.map((v, j) => ({ name: v.name, ms: summarize(wall[j] as number[]), cpuMs: summarize(cpu[j] as number[]) }));
}

export const BASELINE: Variant = { name: 'node -e 0', args: ['-e', '0'], agent: false };
export const AGENT_DIST: Variant = { name: 'kube-join agent --once (dist/)', args: [MAIN_JS], agent: true };

/**
 * Where the time of one cold join goes: runs coldstart-probe.ts `runs` times in fresh processes and
 * returns the median of each step. The probe's own bootstrap includes Node's type stripping of the probe
 * file, so it is replaced by the median of `node -e 0`.
 */
export async function coldStartBreakdown(ctx: { auth: AuthProcess; issuer: TokenIssuer; dir: string; runs: number; baselineMs: number }): Promise<{ step: string; ms: number }[]> {
  const tokenPath = join(ctx.dir, 'sa-token-probe');
  await writeFile(tokenPath, await mintFor(ctx.issuer, 1), { mode: 0o600 });
  const probe = join(REPO, 'bench', 'coldstart-probe.ts');
  const samples: Record<string, number>[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const r = spawnSync(NODE, [probe, join(REPO, 'src'), ctx.auth.addr, ctx.auth.caFile, tokenPath, join(ctx.dir, `probe-${i}`), CLUSTER], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`cold start probe failed (${r.status}): ${r.stderr.slice(-1500)}`);
    samples.push(JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number>);
  }
  const steps = Object.keys(samples[0] as Record<string, number>);
  return steps.map((step) => {
    const values = samples.map((s) => s[step] ?? 0).sort((a, b) => a - b);
    const ms = step.startsWith('node bootstrap') ? ctx.baselineMs : (values[Math.floor((values.length - 1) / 2)] as number);
    return { step: step.startsWith('node bootstrap') ? 'node bootstrap (= median of node -e 0)' : step, ms };
  });
}
