/**
 * Measured cuts for cold start and memory. Builds prototypes of the CLI in a scratch directory (never in
 * the repository) and measures, interleaved with `node -e 0` and the shipped dist/:
 *  - cold start of `kube-join agent --once` (wall and CPU), `--runs` times each;
 *  - RSS of an idle `kube-join agent` a few seconds after its first join;
 *  - RSS of `kube-join auth` after --auth-joins joins, with and without --max-semi-space-size.
 * Not part of `npm run bench`: it measures candidates, not the build. dist/ is now itself an esbuild
 * bundle, so the "bundle" variants re-bundle it and the snapshot is built from src/:
 *
 *   node bench/cuts.ts --esbuild node_modules/.bin/esbuild [--runs 20] [--auth-joins 3000]
 *
 * The "lite" bundles alias got, winston (and, for --once, prom-client) to the small stand-ins in
 * bench/prototypes/: they show what those dependencies cost to load, not finished replacements.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_DIST, BASELINE, measureColdStarts, type Variant } from './coldstart.ts';
import { CLUSTER, createProvisionToken, mintFor, newIssuer, removeDir, scratchDir, startAuth, TOKEN_NAME, type AuthProcess } from './lib/env.ts';
import { MAIN_JS, REPO, rssBytes, sleep, spawnLogged, waitForLog } from './lib/proc.ts';
import { fmt, median } from './lib/stats.ts';
import { prebuildBodies, runJoins } from './throughput.ts';
import { measureAgentMemory } from './memory.ts';

/**
 * Rewrites a bundle's top-level `import ... from "node:x"` statements into require() calls (the banner
 * defines require). An ESM import of a built-in builds its ESM facade, which reads every export,
 * lazy getters included: `import ... from 'node:http'` loads undici (~50 ms) for nothing.
 */
function builtinsToRequire(code: string): string {
  return code.replace(/import\s*(\*\s*as\s+[\w$]+|[\w$]+|\{[^}]*\})?\s*(?:from\s*)?"(node:[\w/]+|[a-z_]+)";/g, (whole, what: string | undefined, mod: string) => {
    if (!mod.startsWith('node:') && !['fs', 'path', 'os', 'crypto', 'http', 'https', 'net', 'tls', 'url', 'util', 'events', 'stream', 'zlib', 'buffer', 'child_process', 'module', 'http2', 'dns', 'readline', 'async_hooks', 'perf_hooks', 'process', 'string_decoder', 'assert', 'tty', 'v8', 'worker_threads', 'timers'].includes(mod)) return whole;
    if (what === undefined) return `require("${mod}");`;
    if (what.startsWith('*')) return `const ${what.replace(/^\*\s*as\s+/, '')}=require("${mod}");`;
    if (what.startsWith('{')) return `const ${what.replace(/([\w$]+)\s+as\s+([\w$]+)/g, '$1:$2')}=require("${mod}");`;
    return `const ${what}=require("${mod}");`;
  });
}

const { values } = parseArgs({ options: { esbuild: { type: 'string' }, runs: { type: 'string', default: '20' }, 'auth-joins': { type: 'string', default: '3000' }, 'rss-runs': { type: 'string', default: '3' }, 'agent-renewals': { type: 'string', default: '1000' }, only: { type: 'string', default: 'cold,rss,renewals,auth' } } });
const only = new Set(values.only.split(','));
const runs = Number(values.runs);
const MB = 1024 * 1024;
const dir = await scratchDir('cuts');
const issuer = await newIssuer();
let auth: AuthProcess | undefined;
const say = (t: string) => process.stderr.write(`${t}\n`);
try {
  const stateDir = join(dir, 'state');
  await createProvisionToken(stateDir, issuer);
  auth = await startAuth({ stateDir, logFile: join(dir, 'auth.log'), extraArgs: ['--join-rate-per-source', '1000000', '--join-rate-global', '1000000'] });

  const cache = (name: string) => ({ ...process.env, NODE_COMPILE_CACHE: join(dir, `compile-cache-${name}`) });
  const variants: Variant[] = [BASELINE, AGENT_DIST, { name: 'dist/ + compile cache (NODE_COMPILE_CACHE, warm)', args: [MAIN_JS], agent: true, env: cache('dist'), warm: true }];
  const daemons: { name: string; args: string[]; env?: NodeJS.ProcessEnv }[] = [
    { name: 'dist/ (as shipped)', args: [MAIN_JS] },
    { name: 'dist/ with --max-semi-space-size=1', args: ['--max-semi-space-size=1', MAIN_JS] },
  ];
  if (values.esbuild) {
    const esbuild = values.esbuild;
    const bundle = async (name: string, aliases: Record<string, string>, requireBuiltins = false) => {
      const root = join(dir, name);
      await mkdir(join(root, 'dist', 'cli'), { recursive: true });
      await cp(join(REPO, 'package.json'), join(root, 'package.json')); // protocol/version reads ../../package.json
      const out = join(root, 'dist', 'cli', 'main.mjs');
      const banner = "import { createRequire as __kjRequire } from 'node:module'; const require = __kjRequire(import.meta.url);";
      execFileSync(esbuild, [MAIN_JS, '--bundle', '--minify', '--platform=node', '--format=esm', '--target=node22', `--outfile=${out}`, `--banner:js=${banner}`, '--log-level=error', ...Object.entries(aliases).map(([k, v]) => `--alias:${k}=${v}`)]);
      if (requireBuiltins) await writeFile(out, builtinsToRequire(await readFile(out, 'utf8')));
      return out;
    };
    const proto = (f: string) => join(REPO, 'bench', 'prototypes', f);
    const plain = await bundle('bundle', {});
    const lite = await bundle('bundle-lite', { got: proto('got-lite.js'), winston: proto('winston-lite.js') });
    const liteOnce = await bundle('bundle-lite-once', { got: proto('got-lite.js'), winston: proto('winston-lite.js'), 'prom-client': proto('prom-client-noop.js') });
    const liteOnceReq = await bundle('bundle-lite-once-req', { got: proto('got-lite.js'), winston: proto('winston-lite.js'), 'prom-client': proto('prom-client-noop.js') }, true);
    const plainReq = await bundle('bundle-req', {}, true);
    variants.push(
      { name: 'esbuild single-file bundle (minified)', args: [plain], agent: true },
      { name: 'esbuild bundle + compile cache (warm)', args: [plain], agent: true, env: cache('bundle'), warm: true },
      { name: 'bundle, got -> node:https, winston -> JSON lines', args: [lite], agent: true },
      { name: 'bundle, got -> node:https, winston -> JSON lines, no prom-client under --once', args: [liteOnce], agent: true },
      { name: '... the same + compile cache (warm)', args: [liteOnce], agent: true, env: cache('lite-once'), warm: true },
      { name: 'bundle (deps as shipped), node: built-ins by require()', args: [plainReq], agent: true },
      { name: 'lite bundle, no prom-client under --once, built-ins by require(), compile cache', args: [liteOnceReq], agent: true, env: cache('lite-once-req'), warm: true },
    );
    // V8 startup snapshot of the agent path (node --build-snapshot needs one CommonJS script; node:http(s)
    // cannot be in a snapshot in Node 24, so the health server and the HTTPS client load at run time).
    const snapRoot = join(dir, 'snapshot');
    await mkdir(join(snapRoot, 'dist', 'cli'), { recursive: true });
    await cp(join(REPO, 'package.json'), join(snapRoot, 'package.json'));
    // kube-join's own modules from src/ (esbuild strips the types), as dist/ holds the bundle only.
    const d = (rel: string) => JSON.stringify(join(REPO, 'src', rel.replace(/\.js$/, '.ts')));
    const entry = join(snapRoot, 'entry.mjs');
    await writeFile(entry, [
      "import v8 from 'node:v8';",
      `import { Command, CommanderError } from ${JSON.stringify(join(REPO, 'node_modules', 'commander', 'esm.mjs'))};`,
      `import { AGENT_VERSION } from ${d('protocol/version.js')};`,
      `import { KubeJoinError } from ${d('common/errors.js')};`,
      `import { agentCommand } from ${d('cli/agent.js')};`,
      ...['agent/agent.js', 'agent/config.js', 'agent/metrics.js', 'agent/clock.js', 'common/logger.js', 'agent/join-client.js'].map((m, i) => `import * as m${i} from ${d(m)};`),
      'globalThis.__kjKeep = [m0, m1, m2, m3, m4, m5];',
      'function main() {',
      "  const program = new Command('kube-join').version(AGENT_VERSION).exitOverride();",
      '  agentCommand(program);',
      "  program.parseAsync(process.argv.slice(1), { from: 'user' }).then(() => process.exit(0), (err) => {",
      '    if (err instanceof CommanderError) process.exit(err.exitCode);',
      '    process.stderr.write(`kube-join: ${err instanceof KubeJoinError ? err.message : err?.stack}\n`);',
      '    process.exit(1);',
      '  });',
      '}',
      'if (v8.startupSnapshot?.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(main);',
      'else main();',
    ].join('\n'));
    const snapJs = join(snapRoot, 'dist', 'cli', 'snap.cjs');
    execFileSync(esbuild, [entry, '--bundle', '--platform=node', '--format=cjs', '--target=node22', `--outfile=${snapJs}`, `--define:import.meta.url=${JSON.stringify(`file://${join(snapRoot, 'dist', 'protocol', 'version.js')}`)}`, '--log-level=error',
      `--alias:got=${proto('got-lite.js')}`, `--alias:winston=${proto('winston-lite.js')}`, `--alias:prom-client=${proto('prom-client-noop.js')}`]);
    const blob = join(snapRoot, 'snap.blob');
    execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', snapJs], { cwd: snapRoot, stdio: 'ignore' });
    variants.push({ name: 'V8 startup snapshot of the lite agent path (node --snapshot-blob)', args: ['--snapshot-blob', blob], agent: true });
    daemons.push({ name: 'esbuild bundle', args: [plain] }, { name: 'bundle, got -> node:https, winston -> JSON lines', args: [lite] }, { name: 'same + --max-semi-space-size=1', args: ['--max-semi-space-size=1', lite] });
  }

  if (only.has('cold')) {
    say(`cold start: ${variants.length} variants x ${runs} runs, interleaved...`);
    const results = await measureColdStarts(variants, { auth, issuer, dir, runs });
    const [base, agent] = results as [(typeof results)[0], (typeof results)[0]];
    console.log(`\nCold start, ${runs} runs each, interleaved; load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
    console.log(`| variant | wall median ms (p10..p90) | x node -e 0 | wall saved vs dist/ | CPU median ms (p10..p90) | CPU saved vs dist/ |\n|---|---|---|---|---|---|`);
    for (const r of results) {
      const isBase = r === base;
      console.log(`| ${r.name} | ${fmt(r.ms.median)} (${fmt(r.ms.p10)}..${fmt(r.ms.p90)}) | ${fmt(r.ms.median / base.ms.median, 1)} | ${isBase ? '' : fmt(agent.ms.median - r.ms.median)} | ${fmt(r.cpuMs.median)} (${fmt(r.cpuMs.p10)}..${fmt(r.cpuMs.p90)}) | ${isBase ? '' : fmt(agent.cpuMs.median - r.cpuMs.median)} |`);
    }
  }

  if (only.has('rss')) {
    say('idle agent RSS per variant...');
    const tokenPath = join(dir, 'sa-token-rss');
    await writeFile(tokenPath, await mintFor(issuer, 5), { mode: 0o600 });
    const rss = daemons.map(() => [] as number[]);
    for (let k = 0; k < Number(values['rss-runs']); k++) {
      for (const [j, d] of daemons.entries()) {
        const log = join(dir, `daemon-${j}-${k}.log`);
        const child = spawnLogged([...d.args, 'agent', '--auth-addr', auth.addr, '--token-name', TOKEN_NAME, '--token-path', tokenPath, '--ca-file', auth.caFile, '--out-dir', join(dir, `daemon-${j}-${k}`), '--cluster-name', CLUSTER, '--health-addr', '127.0.0.1:0'], log, d.env ?? process.env);
        try {
          await waitForLog(log, 'credential set written', child, 60_000);
          await sleep(3000);
          (rss[j] as number[]).push(rssBytes(child.pid));
        } finally {
          await child.stop();
        }
      }
    }
    console.log(`\nIdle agent RSS 3 s after the first join, median of ${values['rss-runs']}\n| variant | RSS MB |\n|---|---|`);
    for (const [j, d] of daemons.entries()) console.log(`| ${d.name} | ${fmt(median(rss[j] as number[]) / MB)} |`);
  }

  const renewals = Number(values['agent-renewals']);
  if (only.has('renewals') && renewals > 0) {
    say(`agent RSS over ${renewals} fast renewals, default and with V8 heap limits...`);
    console.log(`\nAgent (dist/) RSS over ${renewals} fast renewals (--ttl 1s --renew-fraction 0.02); heap from its /metrics\n| agent node flags | idle after 1st join MB | RSS at ${renewals / 2} MB | RSS at ${renewals} MB | V8 heap used at ${renewals} MB | V8 heap committed at ${renewals} MB |\n|---|---|---|---|---|---|`);
    for (const flags of [[], ['--max-semi-space-size=1', '--max-old-space-size=48']]) {
      const m = await measureAgentMemory({ auth, issuer, dir, renewals, idleSeconds: 3, timeoutSeconds: 900, nodeArgs: flags });
      const mid = m.series.find((x) => x.renewals >= renewals / 2);
      const last = m.series[m.series.length - 1];
      console.log(`| ${flags.join(' ') || '(none)'} | ${fmt(m.idleAfterFirstJoin / MB)} | ${fmt((mid?.rss ?? NaN) / MB)} | ${fmt((last?.rss ?? NaN) / MB)} | ${fmt((last?.heapUsed ?? NaN) / MB)} | ${fmt((last?.heapTotal ?? NaN) / MB)} |`);
    }
  }

  await auth.stop();
  auth = undefined;
  const joins = Number(values['auth-joins']);
  if (only.has('auth')) {
    say(`auth RSS after ${joins} joins, default and with --max-semi-space-size...`);
    const bodies = await prebuildBodies(issuer, 128);
    console.log(`\nAuth RSS after ${fmt(joins)} joins (16 keep-alive clients)\n| auth node flags | RSS MB | joins/s |\n|---|---|---|`);
    for (const flags of [[], ['--max-semi-space-size=4'], ['--max-semi-space-size=1']]) {
      const a = await startAuth({ stateDir: join(dir, `state-${flags.length ? flags[0] : 'default'}`), logFile: join(dir, 'auth-rss.log'), nodeArgs: flags, extraArgs: ['--join-rate-per-source', '1000000', '--join-rate-global', '1000000'] });
      try {
        await createProvisionToken(a.stateDir, issuer);
        const t0 = Date.now();
        await runJoins(a, bodies, joins, 16);
        const rate = joins / ((Date.now() - t0) / 1000);
        await sleep(2000);
        console.log(`| ${flags.join(' ') || '(none)'} | ${fmt(rssBytes(a.pid) / MB)} | ${fmt(rate)} |`);
      } finally {
        await a.stop();
      }
    }
  }
} finally {
  await auth?.stop();
  await issuer.close();
  await removeDir(dir);
}
process.exit(0);
