/**
 * `npm run bench`: cold start, join throughput, memory and a fleet with a renewal storm, each against a
 * baseline measured in the same run; prints one table (figure, value, baseline, ratio, target, result).
 * Everything runs on loopback; every process started here is stopped by its pid, on failure too.
 *
 *   node bench/run.ts [--quick] [--only cold,throughput,replicas,memory,fleet] [--fleet-agents N] [--fleet-scale S]
 *                     [--plot FILE.svg] [--json FILE] [--fleet-reuse]
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_DIST, BASELINE, coldStartBreakdown, measureColdStarts } from './coldstart.ts';
import { measureAuthJoinCosts, type Cost } from './auth-costs.ts';
import { analyzeFleet, runFleet, stormPlot, type FleetFigures } from './fleet.ts';
import type { FleetResult } from './fleet-sim.ts';
import { measureAgentIdle, measureAgentMemory } from './memory.ts';
import { RUNTIME_FLAGS } from '../src/cli/runtime-flags.ts';
import { parse as parseYaml } from 'yaml';
import { prebuildBodies, runJoins, runLoad, type LoadResult } from './throughput.ts';
import { measureReplicaScaling } from './replicas.ts';
import { measureCryptoCeiling } from './lib/ceiling.ts';
import { createProvisionToken, mintFor, newIssuer, removeDir, scratchDir, startAuth, type AuthProcess } from './lib/env.ts';
import { MAIN_JS, REPO, rssBytes, sleep, spawnLogged } from './lib/proc.ts';
import { fmt, median, summarize } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'fleet-agents': { type: 'string' },
    'fleet-scale': { type: 'string' },
    plot: { type: 'string' },
    json: { type: 'string' },
    'fleet-reuse': { type: 'boolean', default: false },
  },
});
const quick = args.quick === true;
const phases = new Set((args.only ?? 'cold,throughput,replicas,memory,fleet').split(','));
const OUT = join(REPO, 'bench', 'out');
const MB = 1024 * 1024;
const cfg = {
  coldRuns: quick ? 5 : 20,
  probeRuns: quick ? 3 : 7,
  loadSeconds: quick ? 2 : 4,
  loadReps: quick ? 1 : 3,
  concurrency: [1, 8, 32],
  authJoinsForRss: quick ? 1500 : 10_000,
  renewals: quick ? 100 : 1000,
  idleRuns: 3,
  fleetAgents: Number(args['fleet-agents'] ?? (quick ? 100 : 500)),
  fleetScale: Number(args['fleet-scale'] ?? (quick ? 120 : 60)),
};
if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run "npm run build" first (npm run bench does)`);

/** Headroom the agent chart's memory must keep over the measured figures (see its values.yaml). */
const REQUEST_HEADROOM = 1.2;
const LIMIT_HEADROOM = 1.5;

/** The agent chart's memory request and limit, in bytes. */
async function chartMemory(): Promise<{ request: number; limit: number }> {
  const values = parseYaml(await readFile(join(REPO, 'chart', 'kube-join-agent', 'values.yaml'), 'utf8')) as { resources?: { requests?: { memory?: string }; limits?: { memory?: string } } };
  const bytes = (q: string | undefined) => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q ?? '');
    return m ? Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) * MB : Number.NaN;
  };
  return { request: bytes(values.resources?.requests?.memory), limit: bytes(values.resources?.limits?.memory) };
}

interface Row {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  result: 'PASS' | 'FAIL' | 'info';
}
const rows: Row[] = [];
const notes: string[] = [];
const results: Record<string, unknown> = { config: cfg };
const say = (text: string) => process.stderr.write(`${text}\n`);
const loadavg = async () => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

const machine = {
  nproc: cpus().length,
  cpu: /model name\s*:\s*(.*)/.exec(await readFile('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown',
  memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  node: process.version,
  loadAverageAtStart: await loadavg(),
};
results.machine = machine;
say(`kube-join bench: ${machine.nproc} CPU (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, load average ${machine.loadAverageAtStart}${quick ? ' [--quick]' : ''}`);

await mkdir(OUT, { recursive: true });
const dir = await scratchDir('run');
const issuer = await newIssuer();
let auth: AuthProcess | undefined;
try {
  const stateDir = join(dir, 'state');
  await createProvisionToken(stateDir, issuer);
  // Capacity is measured, so the per-source and global join rate limits are lifted here: every client
  // of these phases comes from 127.0.0.1. The fleet keeps the defaults (one source address per agent).
  auth = await startAuth({ stateDir, logFile: join(dir, 'auth.log'), extraArgs: ['--join-rate-per-source', '1000000', '--join-rate-global', '1000000'] });
  const authIdleRss = rssBytes(auth.pid);

  if (phases.has('cold')) {
    say(`cold start: ${cfg.coldRuns} x (node -e 0, kube-join agent --once), interleaved...`);
    const [base, agent] = await measureColdStarts([BASELINE, AGENT_DIST], { auth, issuer, dir, runs: cfg.coldRuns });
    if (!base || !agent) throw new Error('cold start: no result');
    const ratio = agent.ms.median / base.ms.median;
    rows.push({ figure: `Cold start: agent --once to cert set on disk, median of ${cfg.coldRuns} (p10..p90)`, value: `${fmt(agent.ms.median)} ms (${fmt(agent.ms.p10)}..${fmt(agent.ms.p90)})`, baseline: `node -e 0: ${fmt(base.ms.median)} ms (${fmt(base.ms.p10)}..${fmt(base.ms.p90)})`, ratio: `${fmt(ratio, 1)}x`, target: '<= 3x', result: ratio <= 3 ? 'PASS' : 'FAIL' });
    rows.push({ figure: 'Cold start CPU time (user+sys), median', value: `${fmt(agent.cpuMs.median)} ms`, baseline: `${fmt(base.cpuMs.median)} ms`, ratio: `${fmt(agent.cpuMs.median / base.cpuMs.median, 1)}x`, target: '', result: 'info' });
    say('cold start breakdown (probe)...');
    const breakdown = await coldStartBreakdown({ auth, issuer, dir, runs: cfg.probeRuns, baselineMs: base.ms.median });
    results.coldStart = { baseline: base, agent, breakdown };
  }

  if (phases.has('throughput')) {
    say('throughput: crypto ceiling (WebCrypto, this process, nothing else running here)...');
    const ceiling = await measureCryptoCeiling(await mintFor(issuer, 99), issuer.jwks(), quick ? 500 : 2000);
    say(`  ceiling ${fmt(ceiling.joinsPerCpuSecond)} joins per CPU-second (${ceiling.ops.map((o) => `${o.op} ${fmt(o.cpuUs)} us`).join(', ')})`);
    say('throughput: pre-minting tokens and pre-generating CSRs (not timed)...');
    const bodies = await prebuildBodies(issuer, quick ? 64 : 256);
    const loads: LoadResult[][] = [];
    for (const keepAlive of [true, false]) {
      for (const c of keepAlive ? cfg.concurrency : [8]) {
        const reps: LoadResult[] = [];
        for (let i = 0; i < cfg.loadReps; i++) reps.push(await runLoad(auth, bodies, { concurrency: c, seconds: cfg.loadSeconds, warmupSeconds: 1, keepAlive }));
        loads.push(reps);
        const rate = summarize(reps.map((r) => r.joinsPerSecond));
        const cores = median(reps.map((r) => r.authCores));
        const perCore = rate.median / cores;
        const eff = perCore / ceiling.joinsPerCpuSecond;
        say(`  c=${c}${keepAlive ? '' : ' new TLS per join'}: ${fmt(rate.median)} joins/s, auth ${fmt(cores, 2)} cores`);
        rows.push({
          figure: `Join throughput, ${c} client${c > 1 ? 's' : ''}${keepAlive ? ', keep-alive' : ', new TLS connection per join'} (median of ${reps.length} x ${cfg.loadSeconds} s; min..max)`,
          value: `${fmt(rate.median)} joins/s (${fmt(rate.min)}..${fmt(rate.max)}); p50 ${fmt(median(reps.map((r) => r.p50Ms)))} ms, p99 ${fmt(median(reps.map((r) => r.p99Ms)))} ms; auth ${fmt(cores, 2)} cores -> ${fmt(perCore)} joins/s per core`,
          baseline: `crypto ceiling ${fmt(ceiling.joinsPerCpuSecond)} joins/s per core`,
          ratio: `${fmt(eff * 100, 1)}%`,
          target: '>= 50% of ceiling per core',
          result: eff >= 0.5 ? 'PASS' : 'FAIL',
        });
      }
    }
    const done = loads.flat().reduce((a, r) => a + r.joins, 0);
    const fill = Math.max(0, cfg.authJoinsForRss - done);
    say(`auth memory: ${fmt(fill)} more joins to pass ${fmt(cfg.authJoinsForRss)} in all...`);
    const fillStarted = Date.now();
    await runJoins(auth, bodies, fill, 16);
    const fillSeconds = (Date.now() - fillStarted) / 1000;
    await sleep(2000);
    const authRss = rssBytes(auth.pid);
    rows.push({ figure: `Auth RSS after ${fmt(cfg.authJoinsForRss)}+ joins (inventory records on file storage)`, value: `${fmt(authRss / MB)} MB`, baseline: `auth idle after start: ${fmt(authIdleRss / MB)} MB`, ratio: `${fmt(authRss / authIdleRss, 2)}x`, target: '<= 200 MB', result: authRss <= 200 * MB ? 'PASS' : 'FAIL' });
    say('auth per-join CPU, in-process, step by step...');
    const costs = await measureAuthJoinCosts(issuer, dir, quick ? 50 : 200);
    results.throughput = { ceiling, loads, authIdleRss, authRss, totalJoins: done + fill, fillSeconds, costs };

  }

  if (phases.has('replicas')) {
    say('several cores: one auth process, then two (replicas), 8 keep-alive clients each, interleaved...');
    const bodies = await prebuildBodies(issuer, quick ? 64 : 256);
    const scaling = await measureReplicaScaling({ issuer, dir, bodies, concurrency: 8, seconds: cfg.loadSeconds, reps: cfg.loadReps });
    const oneRate = median(scaling.one.map((r) => r.joinsPerSecond));
    const oneCores = median(scaling.one.map((r) => r.authCores));
    const twoRate = median(scaling.two.map(([x, y]) => x.joinsPerSecond + y.joinsPerSecond));
    const twoCores = median(scaling.two.map(([x, y]) => x.authCores + y.authCores));
    rows.push({
      figure: `Several cores: two auth processes (replicas), 8 keep-alive clients each, at once (medians of ${scaling.one.length}, interleaved)`,
      value: `${fmt(twoRate)} joins/s on ${fmt(twoCores, 2)} cores -> ${fmt(twoRate / twoCores)} joins/s per core`,
      baseline: `one process: ${fmt(oneRate)} joins/s on ${fmt(oneCores, 2)} cores -> ${fmt(oneRate / oneCores)} per core`,
      ratio: `${fmt(twoRate / oneRate, 2)}x joins/s, ${fmt(twoRate / twoCores / (oneRate / oneCores), 2)}x per core`,
      target: 'scales with processes (per core ~1x)',
      result: 'info',
    });
    results.replicas = scaling;
  }

  if (phases.has('memory')) {
    say(`agent memory: idle RSS after the first join against the floor (node with node:https loaded, idle), ${cfg.idleRuns} x interleaved...`);
    const floors: number[] = [];
    const idles: number[] = [];
    let nodeFlags: string[] = [];
    for (let i = 0; i < cfg.idleRuns; i++) {
      const floor = spawnLogged(['-e', "require('node:https'); setTimeout(() => {}, 60_000)"], join(dir, 'node-floor.log'));
      await sleep(3000);
      floors.push(rssBytes(floor.pid));
      await floor.stop();
      const idle = await measureAgentIdle({ auth, issuer, dir, idleSeconds: 3 });
      idles.push(idle.rss);
      nodeFlags = idle.nodeFlags;
    }
    say(`agent memory: RSS over ${cfg.renewals} fast renewals...`);
    const mem = await measureAgentMemory({ auth, issuer, dir, renewals: cfg.renewals, idleSeconds: 3, timeoutSeconds: quick ? 120 : 600 });
    const floor = median(floors);
    const idle = median(idles);
    const mid = mem.series.find((s) => s.renewals >= cfg.renewals / 2) ?? mem.series[0];
    const growth = mem.afterRenewals - (mid?.rss ?? mem.afterRenewals);
    const range = (v: number[]) => `${fmt(Math.min(...v) / MB, 1)}..${fmt(Math.max(...v) / MB, 1)}`;
    rows.push({ figure: `Agent RSS idle after first join (median of ${cfg.idleRuns}, min..max)`, value: `${fmt(idle / MB, 1)} MB (${range(idles)})`, baseline: `floor, node + node:https idle: ${fmt(floor / MB, 1)} MB (${range(floors)})`, ratio: `${fmt(idle / floor, 2)}x`, target: '<= 1.25x floor', result: idle <= 1.25 * floor ? 'PASS' : 'FAIL' });
    rows.push({
      figure: `Agent RSS over ${fmt(mem.renewals)} renewals (real process, --ttl 1s --renew-fraction 0.02; ${fmt(mem.seconds)} s)`,
      value: `${fmt(mem.afterRenewals / MB, 1)} MB; ${growth >= 0 ? '+' : ''}${fmt(growth / MB, 1)} MB over the 2nd half`,
      baseline: `after ${fmt(mid?.renewals ?? 0)} renewals: ${fmt((mid?.rss ?? 0) / MB, 1)} MB`,
      ratio: `${fmt(mem.afterRenewals / (mid?.rss ?? mem.afterRenewals), 2)}x`,
      target: '<= 2 MB growth over the 2nd half',
      result: growth <= 2 * MB ? 'PASS' : 'FAIL',
    });
    rows.push({ figure: 'Agent CPU per renewal (user+sys, over those renewals)', value: `${fmt(mem.cpuMsPerRenewal)} ms`, baseline: '', ratio: '', target: '', result: 'info' });
    rows.push({ figure: 'Agent peak RSS over those renewals (VmHWM)', value: `${fmt(mem.peak / MB, 1)} MB`, baseline: `floor ${fmt(floor / MB, 1)} MB`, ratio: `${fmt(mem.peak / floor, 2)}x`, target: '', result: 'info' });
    const tableFlags = RUNTIME_FLAGS.find((r) => r.command === 'agent')?.flags ?? [];
    rows.push({ figure: 'Agent V8 flags set by the program (running process, /proc/PID/cmdline; no NODE_OPTIONS)', value: nodeFlags.join(' ') || '(none)', baseline: `runtime-flags.ts: ${tableFlags.join(' ')}`, ratio: '', target: 'the table\'s flags', result: tableFlags.length > 0 && tableFlags.every((f) => nodeFlags.includes(f)) ? 'PASS' : 'FAIL' });
    const chart = await chartMemory();
    const steady = Math.max(idle, mem.afterRenewals);
    rows.push({ figure: 'Agent chart memory request (chart/kube-join-agent values.yaml)', value: `${fmt(chart.request / MB)} MiB`, baseline: `steady RSS (idle, after renewals) ${fmt(steady / MB, 1)} MB`, ratio: `${fmt(chart.request / steady, 2)}x`, target: `>= ${REQUEST_HEADROOM}x steady`, result: chart.request >= REQUEST_HEADROOM * steady ? 'PASS' : 'FAIL' });
    rows.push({ figure: 'Agent chart memory limit', value: `${fmt(chart.limit / MB)} MiB`, baseline: `peak RSS ${fmt(mem.peak / MB, 1)} MB`, ratio: `${fmt(chart.limit / mem.peak, 2)}x`, target: `>= ${LIMIT_HEADROOM}x peak`, result: chart.limit >= LIMIT_HEADROOM * mem.peak ? 'PASS' : 'FAIL' });
    results.memory = { floorRss: floors, idleRss: idles, chart, ...mem };
  }
  await auth.stop();
  auth = undefined;

  if (phases.has('fleet')) {
    const figures: FleetFigures[] = [];
    for (const admission of [true, false]) {
      for (const jitter of [true, false]) {
        const tag = `jitter ${jitter ? 'on' : 'off'}, admission ${admission ? 'on' : 'off'}`;
        say(`fleet: ${cfg.fleetAgents} agents, time / ${cfg.fleetScale}, ${tag}...`);
        const out = join(OUT, `fleet-${jitter ? 'jitter' : 'nojitter'}-${admission ? 'admission' : 'open'}.json`);
        // --fleet-reuse analyses the simulations of the last run again (bench/out) instead of running them.
        const raw = args['fleet-reuse'] ? (JSON.parse(await readFile(out, 'utf8')) as FleetResult) : await runFleet({ agents: cfg.fleetAgents, scale: cfg.fleetScale, jitter, admission, out, seed: 1 }, 15 * 60_000);
        const f = analyzeFleet(raw);
        figures.push(f);
        const real = (ms: number) => `${fmt((ms * f.scale) / 60_000, 1)} min real`;
        const limit = f.outageMs + 2 * f.capMs;
        rows.push({ figure: `Fleet ${tag}: peak joins served/s after the outage (1 s buckets)`, value: `${fmt(f.peakOkRps)} /s (requests incl. 429: ${fmt(f.peakRps)} /s; echo one renewal later: ${fmt(f.echoPeakRps)} /s)`, baseline: `steady ${fmt(f.steadyOkRps, 1)} /s`, ratio: `${fmt(f.peakOkRps / f.steadyOkRps, 1)}x`, target: '<= 2x steady', result: f.peakOkRps <= 2 * f.steadyOkRps ? 'PASS' : 'FAIL' });
        rows.push({ figure: `Fleet ${tag}: p99 latency of served joins in the storm (p50)`, value: `${fmt(f.stormP99Ms)} ms (p50 ${fmt(f.stormP50Ms)} ms)`, baseline: `steady p99 ${fmt(f.steadyP99Ms)} ms`, ratio: `${fmt(f.stormP99Ms / f.steadyP99Ms, 1)}x`, target: '<= 1000 ms', result: f.stormP99Ms <= 1000 ? 'PASS' : 'FAIL' });
        rows.push({
          // Recovery counts from the restart: the renewals the outage held back are a backlog of about
          // steady x outage, which a limit of 2x steady drains in about one more outage length; the
          // target (outage + 2 caps) is that drain plus two back-off caps. From the stop it is printed too.
          figure: `Fleet ${tag}: auth listening again -> every agent valid, none retrying (from the stop: ${f.outageRecoveryMs === undefined ? 'never' : `${fmt(f.outageRecoveryMs)} ms`}; restart took ${fmt(f.authStartMs)} ms; ${f.expiredAgents} certs expired; refusals ${JSON.stringify(f.rejected)})`,
          value: f.recoveryMs === undefined ? 'never (within the run)' : `${fmt(f.recoveryMs)} ms (${real(f.recoveryMs)})`,
          baseline: `outage ${fmt(f.outageMs)} ms + 2 caps ${fmt(2 * f.capMs)} ms (${real(limit)})`,
          ratio: f.recoveryMs === undefined ? 'n/a' : `${fmt(f.recoveryMs / limit, 2)}x`,
          target: '<= outage + 2 caps, 0 expired',
          result: f.recoveryMs !== undefined && f.recoveryMs <= limit && f.expiredAgents === 0 ? 'PASS' : 'FAIL',
        });
      }
    }
    results.fleet = figures;
    const raw = JSON.parse(await readFile(join(OUT, 'fleet-jitter-admission.json'), 'utf8')) as FleetResult;
    const svg = stormPlot(figures, raw);
    const plotPath = args.plot ?? join(OUT, 'storm.svg');
    await writeFile(plotPath, svg);
    notes.push(`plot: ${plotPath}`);
    notes.push(`fleet: ${cfg.fleetAgents} simulated agents with time / ${cfg.fleetScale} put the request rate of ${fmt(cfg.fleetAgents * cfg.fleetScale)} real agents (1 h certificates) on the auth service; crypto, TLS and disk work are not compressed. Admission on: --join-rate-global 1.5x the steady rate, --join-burst 333ms (0.5x steady): at most 2x steady in any second.`);
  }
} finally {
  await auth?.stop();
  await issuer.close();
  await removeDir(dir);
}

machine.loadAverageAtStart += ` (at end: ${await loadavg()})`;
const jsonPath = args.json ?? join(OUT, 'results.json');
await writeFile(jsonPath, JSON.stringify({ ...results, rows }, null, 2));

const cols: (keyof Row)[] = ['figure', 'value', 'baseline', 'ratio', 'target', 'result'];
const lines = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`)];
process.stdout.write(`\nkube-join bench — ${machine.nproc} x ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}, load average ${machine.loadAverageAtStart}\n\n${lines.join('\n')}\n\n`);
const cold = results.coldStart as { breakdown: { step: string; ms: number }[] } | undefined;
if (cold) {
  process.stdout.write(`Cold start breakdown (fresh process, medians of ${cfg.probeRuns}; modules shared by groups count for the first):\n`);
  for (const s of cold.breakdown) process.stdout.write(`  ${fmt(s.ms).padStart(6)} ms  ${s.step}\n`);
  process.stdout.write('\n');
}
const tp = results.throughput as { costs: Cost[]; ceiling: { ops: { op: string; cpuUs: number }[] } } | undefined;
if (tp) {
  process.stdout.write('Auth CPU per join, in-process, one call at a time (the raw crypto of a join for comparison):\n');
  for (const c of tp.costs) process.stdout.write(`  ${fmt(c.cpuMs, 3).padStart(7)} ms  ${c.step}\n`);
  for (const o of tp.ceiling.ops) process.stdout.write(`  ${fmt(o.cpuUs / 1000, 3).padStart(7)} ms  raw WebCrypto: ${o.op}\n`);
  process.stdout.write('\n');
}
for (const n of notes) process.stdout.write(`${n}\n`);
process.stdout.write(`raw results: ${jsonPath}\n`);
process.exit(0);
