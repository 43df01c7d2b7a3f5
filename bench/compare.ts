/**
 * Before/after of the agent's per-pod cost: this checkout's build against another build of kube-join
 * (e.g. an earlier commit, built with its own `npm run build`), on the same machine in the same run,
 * interleaved, each with the same-run baselines `npm run bench` uses (node -e 0; the floor, node with
 * node:https loaded and idle). One auth service (this build) serves both.
 *
 *   node bench/compare.ts --before OTHER/dist/cli/main.js [--runs 10] [--idle-runs 3] [--renewals 1000]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BASELINE, measureColdStarts, type Variant } from './coldstart.ts';
import { measureAgentIdle, measureAgentMemory, type AgentMemoryResult } from './memory.ts';
import { agentBenchEnv } from './lib/env.ts';
import { MAIN_JS, rssBytes, sleep, spawnLogged } from './lib/proc.ts';
import { fmt, median } from './lib/stats.ts';

const { values } = parseArgs({ options: { before: { type: 'string' }, runs: { type: 'string', default: '10' }, 'idle-runs': { type: 'string', default: '3' }, renewals: { type: 'string', default: '1000' } } });
if (!values.before) throw new Error('--before PATH/dist/cli/main.js is required');
const builds = [{ name: 'before', main: values.before }, { name: 'after', main: MAIN_JS }];
const MB = 1024 * 1024;
const { dir, issuer, auth, close } = await agentBenchEnv('compare');
const say = (t: string) => process.stderr.write(`${t}\n`);
try {

  say(`cold start: ${values.runs} x (node -e 0, before, after), interleaved...`);
  const variants: Variant[] = [BASELINE, ...builds.map((b) => ({ name: b.name, args: [b.main], agent: true, warm: true }))];
  const cold = await measureColdStarts(variants, { auth, issuer, dir, runs: Number(values.runs) });

  say(`idle RSS: ${values['idle-runs']} x (floor, before, after), interleaved...`);
  const floors: number[] = [];
  const idle = builds.map(() => [] as number[]);
  for (let i = 0; i < Number(values['idle-runs']); i++) {
    const floor = spawnLogged(['-e', "require('node:https'); setTimeout(() => {}, 60_000)"], join(dir, 'node-floor.log'));
    await sleep(3000);
    floors.push(rssBytes(floor.pid));
    await floor.stop();
    for (const [j, b] of builds.entries()) (idle[j] as number[]).push((await measureAgentIdle({ auth, issuer, dir, idleSeconds: 3, main: b.main })).rss);
  }
  const renewals = Number(values.renewals);
  const mem: AgentMemoryResult[] = [];
  for (const b of builds) {
    say(`${b.name}: RSS over ${renewals} renewals...`);
    mem.push(await measureAgentMemory({ auth, issuer, dir, renewals, idleSeconds: 1, timeoutSeconds: 900, main: b.main }));
  }

  const [base] = cold as [(typeof cold)[0]];
  const floor = median(floors);
  console.log(`\n| figure | baseline (same run) | before | after | target |\n|---|---|---|---|---|`);
  const c = (j: number) => cold[j + 1] as (typeof cold)[0];
  const coldCell = (j: number) => `${fmt(c(j).ms.median)} ms = ${fmt(c(j).ms.median / base.ms.median, 1)}x (CPU ${fmt(c(j).cpuMs.median)} ms = ${fmt(c(j).cpuMs.median / base.cpuMs.median, 1)}x)`;
  console.log(`| agent --once cold start, median of ${values.runs} | node -e 0: ${fmt(base.ms.median)} ms (CPU ${fmt(base.cpuMs.median)} ms) | ${coldCell(0)} | ${coldCell(1)} | <= 3x |`);
  const idleCell = (j: number) => `${fmt(median(idle[j] as number[]) / MB, 1)} MB = ${fmt(median(idle[j] as number[]) / floor, 2)}x`;
  console.log(`| agent idle RSS after first join, median of ${values['idle-runs']} | floor: ${fmt(floor / MB, 1)} MB | ${idleCell(0)} | ${idleCell(1)} | <= 1.25x |`);
  const growth = (m: AgentMemoryResult) => {
    const mid = m.series.find((s) => s.renewals >= m.renewals / 2);
    return `${fmt(m.afterRenewals / MB, 1)} MB, ${fmt((m.afterRenewals - (mid?.rss ?? m.afterRenewals)) / MB, 1)} MB over the 2nd half; peak ${fmt(m.peak / MB, 1)} MB`;
  };
  console.log(`| agent RSS after ${renewals} renewals | | ${growth(mem[0] as AgentMemoryResult)} | ${growth(mem[1] as AgentMemoryResult)} | <= 2 MB growth |`);
} finally {
  await close();
}
process.exit(0);
