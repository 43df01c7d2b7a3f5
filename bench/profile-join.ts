/**
 * Where one join's CPU goes: `decideJoin` (file storage, static_jwks, the CA code) called back to back in
 * this process under V8's sampling profiler, then self time by package and by function.
 *
 *   node bench/profile-join.ts [--joins N] [--out FILE.cpuprofile]
 */
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCsrPem, generateKey } from '../src/agent/keys.ts';
import { createCa, createStaticJwksValidator, decideJoin, loadCa, openFileStorage } from '../src/auth/index.ts';
import { AGENT_VERSION } from '../src/protocol/index.ts';
import { CLUSTER, createProvisionToken, mintFor, newIssuer, removeDir, scratchDir, TOKEN_NAME } from './lib/env.ts';
import { selfTimeByCategory, selfTimeByFunction } from './lib/cpuprofile.ts';
import { fmt } from './lib/stats.ts';

const { values: args } = parseArgs({ options: { joins: { type: 'string', default: '2000' }, out: { type: 'string' } } });
const joins = Number(args.joins);
const dir = await scratchDir('profile');
const issuer = await newIssuer();
try {
  const stateDir = join(dir, 'state');
  await createProvisionToken(stateDir, issuer);
  const storage = await openFileStorage(stateDir, { serve: true, now: () => Date.now() });
  const ca = await loadCa(await createCa(CLUSTER, Date.now()));
  const ctx = {
    storage,
    validators: { static_jwks: createStaticJwksValidator({ audience: CLUSTER }) },
    authority: () => ({ signing: ca, bundlePem: ca.certPem }),
    clusterName: CLUSTER,
    certTtlMs: 3_600_000,
    maxCertTtlMs: 86_400_000,
    now: () => Date.now(),
    inventory: { graceMs: 3_600_000, maxPerServiceAccount: 1_000_000 },
  };
  const bodies: Parameters<typeof decideJoin>[1][] = [];
  for (let i = 0; i < 64; i++) {
    bodies.push({ tokenName: TOKEN_NAME, joinMethod: 'kubernetes' as const, kubernetesToken: await mintFor(issuer, i), csr: await createCsrPem(await generateKey('ecdsa-p256'), `p-${i}`), agentVersion: AGENT_VERSION });
  }
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const decision = await decideJoin(ctx, bodies[i % bodies.length] as Parameters<typeof decideJoin>[1]);
      if (decision.outcome !== 'issued') throw new Error(`join refused: ${decision.problem.message}`);
    }
  };
  await run(200); // warm-up: JIT, caches
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const cpu0 = process.cpuUsage();
  await run(joins);
  const cpu = process.cpuUsage(cpu0);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  await storage.close();
  const out = args.out ?? join(dir, 'join.cpuprofile');
  await writeFile(out, JSON.stringify(profile));
  const perJoinMs = (cpu.user + cpu.system) / 1000 / joins;
  process.stdout.write(`${fmt(joins)} joins: ${fmt(perJoinMs, 3)} ms CPU per join (${fmt(1000 / perJoinMs)} joins per CPU-second), profile ${out}\n\nself time by category:\n`);
  const { byCategory } = await selfTimeByCategory(out);
  const total = [...byCategory.values()].reduce((a, b) => a + b, 0);
  for (const [cat, ms] of [...byCategory].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${fmt((100 * ms) / total, 1).padStart(5)} %  ${cat}\n`);
  process.stdout.write('\ntop functions by self time:\n');
  for (const f of (await selfTimeByFunction(out)).slice(0, 25)) process.stdout.write(`  ${fmt((100 * f.ms) / total, 1).padStart(5)} %  ${f.name}\n`);
} finally {
  await issuer.close();
  if (args.out === undefined) await removeDir(dir);
}
