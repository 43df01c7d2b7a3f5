/**
 * Peak RSS of `kube-join agent --once` (the init-container mode, which runs without the daemon's V8
 * flags), median of N runs, from the kernel's accounting of each exited child (GNU time's %M).
 *
 *   node bench/once-peak.ts [--runs 5]
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { agentBenchEnv, CLUSTER, mintFor, TOKEN_NAME } from './lib/env.ts';
import { MAIN_JS, NODE } from './lib/proc.ts';
import { fmt, median } from './lib/stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const { dir, issuer, auth, close } = await agentBenchEnv('once-peak');
try {
  const tokenPath = join(dir, 'sa-token');
  await writeFile(tokenPath, await mintFor(issuer, 0), { mode: 0o600 });
  const peaks: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '%M', NODE, MAIN_JS, 'agent', '--once', '--auth-addr', auth.addr, '--token-name', TOKEN_NAME, '--token-path', tokenPath, '--ca-file', auth.caFile, '--out-dir', join(dir, `out-${i}`), '--cluster-name', CLUSTER], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    if (r.status !== 0) throw new Error(`agent --once failed (${r.status}): ${r.stderr}`);
    // time's line is the last one of stderr; the agent writes nothing there on success.
    peaks.push(Number(r.stderr.trim().split('\n').pop()) / 1024);
  }
  console.log(`agent --once peak RSS, median of ${values.runs}: ${fmt(median(peaks), 1)} MB (${peaks.map((p) => fmt(p, 1)).join(', ')})`);
} finally {
  await close();
}
process.exit(0);
