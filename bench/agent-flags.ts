/**
 * Which V8 flags pay for the agent (src/cli/runtime-flags.ts takes its table from here): for each flag
 * set, the idle RSS of `kube-join agent` after its first join, and RSS over fast renewals, interleaved
 * so that load from other processes hits every set alike. The flag sets are given to node directly and
 * the entry point's own flags are turned off (KUBE_JOIN_RUNTIME_FLAGS=off), so each set is measured alone.
 *
 *   node bench/agent-flags.ts [--runs 3] [--renewals 300] ['--sets=;--max-semi-space-size=1;--jitless']
 */
import { parseArgs } from 'node:util';
import { measureAgentMemory } from './memory.ts';
import { agentBenchEnv } from './lib/env.ts';
import { fmt, median } from './lib/stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, renewals: { type: 'string', default: '300' }, sets: { type: 'string', default: ';--max-semi-space-size=1 --max-old-space-size=48;--max-semi-space-size=1 --max-old-space-size=48 --jitless;--max-semi-space-size=1 --max-old-space-size=48 --lite-mode' } } });
const sets = values.sets.split(';').map((s) => s.split(' ').filter(Boolean));
const MB = 1024 * 1024;
const { dir, issuer, auth, close } = await agentBenchEnv('agent-flags');
try {
  const rows = sets.map(() => ({ idle: [] as number[], mid: [] as number[], end: [] as number[], seconds: [] as number[] }));
  for (let k = 0; k < Number(values.runs); k++) {
    for (const [j, flags] of sets.entries()) {
      process.stderr.write(`run ${k + 1}: ${flags.join(' ') || '(none)'}\n`);
      const m = await measureAgentMemory({ auth, issuer, dir, renewals: Number(values.renewals), idleSeconds: 3, timeoutSeconds: 600, nodeArgs: flags, env: { ...process.env, KUBE_JOIN_RUNTIME_FLAGS: 'off' } });
      const mid = m.series.find((x) => x.renewals >= m.renewals / 2);
      const r = rows[j] as (typeof rows)[0];
      r.idle.push(m.idleAfterFirstJoin);
      r.mid.push(mid?.rss ?? Number.NaN);
      r.end.push(m.afterRenewals);
      r.seconds.push(m.seconds);
    }
  }
  console.log(`| agent node flags | idle RSS MB | RSS at ${Number(values.renewals) / 2} renewals | RSS at ${values.renewals} | growth over 2nd half | renewal run s |\n|---|---|---|---|---|---|`);
  for (const [j, flags] of sets.entries()) {
    const r = rows[j] as (typeof rows)[0];
    console.log(`| ${flags.join(' ') || '(none)'} | ${fmt(median(r.idle) / MB, 1)} | ${fmt(median(r.mid) / MB, 1)} | ${fmt(median(r.end) / MB, 1)} | ${fmt((median(r.end) - median(r.mid)) / MB, 1)} | ${fmt(median(r.seconds))} |`);
  }
} finally {
  await close();
}
process.exit(0);
