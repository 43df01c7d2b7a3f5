#!/usr/bin/env node
// The one test command (`npm test`, and so .ci/run): every tier in one mocha run, so the closing
// "N passed, N failed" line counts them all. The k8s tier needs real Kubernetes binaries; they are
// built (or found in the cache) first, and a missing tool fails the run instead of skipping tests.
//   KUBE_JOIN_TEST_TIERS=unit,integration npm test   runs a subset while developing.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tiers = (process.env.KUBE_JOIN_TEST_TIERS ?? 'unit,integration,k8s').split(',').map((t) => t.trim()).filter(Boolean);
const env = { ...process.env };

if (tiers.includes('k8s') || tiers.includes('integration')) {
  const tools = spawnSync('bash', ['scripts/k8s-tools'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (tools.status !== 0) {
    process.stdout.write('scripts/k8s-tools failed: the Kubernetes test binaries are missing\n\n0 passed, 1 failed\n');
    process.exit(1);
  }
  env.KUBE_JOIN_K8S_BIN = tools.stdout.trim().split('\n').pop();
}

const globs = tiers.map((t) => `test/${t}/**/*.test.ts`);
const mocha = spawnSync(process.execPath, ['node_modules/mocha/bin/mocha.js', ...globs], { cwd: root, stdio: 'inherit', env });
process.exit(mocha.status ?? 1);
