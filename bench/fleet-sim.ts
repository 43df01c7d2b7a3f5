/**
 * Fleet simulation, one process: N agents made by the real `createAgent` (src/agent/agent.ts), each with
 * its own token file and output directory, joining a real `kube-join auth` process over real HTTPS
 * through the real join client. Time is compressed by `scale`: every duration of the real deployment
 * (certificate TTL 1 h, renewal at 0.5 ± 10 %, renew-before 10 min, retry base 1 s, cap 2 min, a 10 min
 * outage) is divided by it. Crypto, TLS and disk work are not compressed, so N simulated agents load the
 * auth service like N × scale real ones.
 *
 * The clock is injected as real time (certificates carry the auth service's wall-clock notAfter, so the
 * agents' clock must agree with it); randomness is injected per agent from a seeded PRNG (jitter on), or
 * as a constant 0.999999 with --renew-jitter 0 (jitter off: renewal exactly at the fraction, and every
 * retry delay at the top of its exponential window, i.e. plain exponential back-off).
 *
 *   node bench/fleet-sim.ts '{"agents":1000,"scale":60,"jitter":true,"out":"/tmp/fleet.json"}'
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import https from 'node:https';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createAgent, createAgentMetrics, systemClock, type Agent, type ResolvedAgentConfig } from '../src/agent/index.ts';
import { AuthUnavailableError, JoinRejectedError } from '../src/agent/errors.ts';
import { createJoinClient, type JoinClient } from '../src/agent/join-client.ts';
import { silentLogger } from '../src/common/logger.ts';
import { CLUSTER, createProvisionToken, mintFor, newIssuer, removeDir, scratchDir, startAuth, TOKEN_NAME, type AuthProcess } from './lib/env.ts';
import { cpuSeconds, rssBytes, sleep } from './lib/proc.ts';
import { percentile, seededRandom } from './lib/stats.ts';

export interface FleetParams {
  agents: number;
  /** Time compression: 60 makes a 1 h certificate live 60 s. */
  scale: number;
  jitter: boolean;
  /** Admission sized as at a fleet the auth can just serve: --join-rate-global 2x the steady rate (what the fleet target allows), 1/3 s burst. Off: limits lifted. */
  admission: boolean;
  out: string;
  seed?: number;
}

/** One request the join client made: start (ms from t0), duration, and how it ended. */
export type Outcome = 'ok' | 'rejected' | 'server_error' | 'unreachable' | 'other';
export interface JoinEvent {
  at: number;
  ms: number;
  outcome: Outcome;
  /** Problem code or error code of a failure. */
  code?: string;
}

export interface FleetResult {
  params: FleetParams;
  timeline: { ttlMs: number; renewIntervalMs: number; baseMs: number; capMs: number; outageMs: number; rampMs: number; outageStartAt: number; authStoppedAt: number; restartAt: number; listeningAt: number; endAt: number };
  events: JoinEvent[];
  /** Sampled every 100 ms: agents holding a valid certificate, and agents in a failed-retry state. */
  samples: { at: number; ready: number; retrying: number }[];
  /** First sample time after the restart with every agent ready and none retrying; undefined if never. */
  recoveredAt: number | undefined;
  /** Agents whose certificate expired at some point after their first join. */
  expiredAgents: number;
  simCpuSeconds: number;
  authCpuSeconds: number;
  eventLoopDelayP99Ms: number;
  simRssBytes: number;
}

const params = JSON.parse(process.argv[2] ?? '{}') as FleetParams;
const HOUR = 3_600_000;
const ttlMs = Math.round(HOUR / params.scale);
const renewIntervalMs = ttlMs / 2;
const baseMs = Math.max(1, Math.round(1000 / params.scale));
const capMs = Math.round(120_000 / params.scale);
const outageMs = Math.round(600_000 / params.scale);
const rampMs = renewIntervalMs;
const outageStartAt = Math.round(1.5 * renewIntervalMs);
const endAt = outageStartAt + outageMs + renewIntervalMs + 3 * capMs + Math.round(0.3 * renewIntervalMs);
// The steady rate is one renewal per agent per renewal interval; 2x that is what the fleet target allows.
const steadyPerSecond = params.agents / (renewIntervalMs / 1000);
const authArgs = params.admission
  ? ['--join-rate-global', String(Math.round(2 * steadyPerSecond * 10) / 10), '--join-burst', '333ms', '--retry-after-spread', `${Math.max(1, Math.round(60_000 / params.scale))}ms`]
  : ['--join-rate-global', '1000000', '--join-rate-per-source', '1000000'];

// Every join opens its own TLS connection without session resumption, as separate pods would: the
// agents of this process must not share a keep-alive pool the real fleet does not have. Each agent also
// connects from its own loopback address (Linux routes all of 127/8 to lo), as each pod has its own IP,
// so the auth service's per-source rate limit sees one source per agent, as in a cluster.
const sourceAddress = new AsyncLocalStorage<string>();
class PodAgent extends https.Agent {
  override createConnection(...args: Parameters<https.Agent['createConnection']>): ReturnType<https.Agent['createConnection']> {
    const local = sourceAddress.getStore();
    if (local !== undefined && typeof args[0] === 'object' && args[0] !== null) args[0] = { ...args[0], localAddress: local };
    return super.createConnection(...args);
  }
}
https.globalAgent = new PodAgent({ keepAlive: false, maxCachedSessions: 0 });
const podIp = (i: number) => `127.10.${Math.floor(i / 250)}.${(i % 250) + 1}`;

const dir = await scratchDir('fleet');
const issuer = await newIssuer();
const stateDir = join(dir, 'state');
const logFile = join(dir, 'auth.log');
let auth: AuthProcess | undefined;
const controller = new AbortController();
try {
  await createProvisionToken(stateDir, issuer);
  auth = await startAuth({ stateDir, logFile, certTtl: `${Math.round(ttlMs / 1000)}s`, maxCertTtl: '1h', extraArgs: authArgs });
  const port = auth.port;
  await mkdir(join(dir, 'tokens'), { recursive: true });
  for (let i = 0; i < params.agents; i++) await writeFile(join(dir, 'tokens', String(i)), await mintFor(issuer, i), { mode: 0o600 });

  const t0 = Date.now();
  const rel = () => Date.now() - t0;
  const events: JoinEvent[] = [];
  const classify = (err: unknown): Outcome => {
    if (err instanceof JoinRejectedError) return err.status >= 500 ? 'server_error' : 'rejected';
    if (err instanceof AuthUnavailableError) return err.status === undefined ? 'unreachable' : 'server_error';
    return 'other';
  };
  const metrics = createAgentMetrics({ processMetrics: false });
  const logger = silentLogger();
  const schedule = seededRandom((params.seed ?? 1) * 7919);
  const agents: Agent[] = [];
  const everJoined: boolean[] = [];
  const expired = new Set<number>();
  const runs: Promise<void>[] = [];
  for (let i = 0; i < params.agents; i++) {
    const config: ResolvedAgentConfig = {
      authAddr: { host: '127.0.0.1', port },
      tokenName: TOKEN_NAME,
      tokenPaths: [join(dir, 'tokens', String(i))],
      trust: { kind: 'ca-file', path: auth.caFile },
      outDir: join(dir, 'agents', String(i)),
      clusterName: CLUSTER,
      roles: undefined,
      nodeName: undefined,
      apps: [],
      keyAlgorithm: 'ecdsa-p256',
      ttlMs,
      renewal: { fraction: 0.5, jitter: params.jitter ? 0.1 : 0, renewBeforeMs: Math.round(600_000 / params.scale) },
      backoff: { baseMs, capMs },
      requestTimeoutMs: 15_000,
      once: false,
      onceTimeoutMs: 300_000,
      exitOnExpiry: false,
      writeBundle: false,
      group: undefined,
      notify: { signal: undefined, pidFile: undefined, process: undefined, exec: undefined, execTimeoutMs: 30_000 },
      health: undefined,
      logLevel: 'error',
      logFormat: 'json',
    };
    const real = createJoinClient({ addr: config.authAddr, trust: config.trust, clusterName: config.clusterName, timeoutMs: config.requestTimeoutMs });
    const joinClient: JoinClient = {
      async join(request, signal) {
        const at = rel();
        try {
          const response = await sourceAddress.run(podIp(i), () => real.join(request, signal));
          events.push({ at, ms: rel() - at, outcome: 'ok' });
          return response;
        } catch (err) {
          if (!signal?.aborted) events.push({ at, ms: rel() - at, outcome: classify(err), code: err instanceof JoinRejectedError ? err.reason : (err as { code?: string }).code });
          throw err;
        }
      },
    };
    const random = params.jitter ? seededRandom((params.seed ?? 1) * 1_000_003 + i) : () => 0.999999;
    agents.push(createAgent(config, { clock: systemClock, random, logger, metrics, joinClient }));
    everJoined.push(false);
    const startAt = Math.floor(schedule() * rampMs);
    runs.push(
      sleep(startAt).then(() =>
        (agents[i] as Agent).run(controller.signal).catch((err: Error) => {
          process.stderr.write(`agent ${i} stopped: ${err.message}\n`);
        }),
      ),
    );
  }

  const samples: FleetResult['samples'] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const sampler = setInterval(() => {
    let ready = 0;
    let retrying = 0;
    for (const [i, a] of agents.entries()) {
      const s = a.status();
      if (s.ready) {
        ready++;
        everJoined[i] = true;
      } else if (everJoined[i]) expired.add(i);
      if (s.consecutiveFailures > 0) retrying++;
    }
    samples.push({ at: rel(), ready, retrying });
  }, 100);

  const simCpu0 = process.cpuUsage();
  let authCpu = 0;
  await sleep(outageStartAt - rel());
  const authStoppedAt = rel();
  authCpu += cpuSeconds(auth.pid);
  await auth.stop();
  await sleep(outageStartAt + outageMs - rel());
  const restartAt = rel();
  auth = await startAuth({ stateDir, logFile, port, certTtl: `${Math.round(ttlMs / 1000)}s`, maxCertTtl: '1h', extraArgs: authArgs });
  const listeningAt = auth.listeningAt - t0;
  await sleep(endAt - rel());
  clearInterval(sampler);
  loop.disable();
  authCpu += cpuSeconds(auth.pid);
  const cpu = process.cpuUsage(simCpu0);
  const simRss = rssBytes(process.pid);
  controller.abort();
  await Promise.race([Promise.all(runs), sleep(20_000)]);

  const recovered = samples.find((s) => s.at >= listeningAt && s.retrying === 0 && s.ready === params.agents);
  const result: FleetResult = {
    params,
    timeline: { ttlMs, renewIntervalMs, baseMs, capMs, outageMs, rampMs, outageStartAt, authStoppedAt, restartAt, listeningAt, endAt },
    events,
    samples,
    recoveredAt: recovered?.at,
    expiredAgents: expired.size,
    simCpuSeconds: (cpu.user + cpu.system) / 1e6,
    authCpuSeconds: authCpu,
    eventLoopDelayP99Ms: loop.percentile(99) / 1e6,
    simRssBytes: simRss,
  };
  await writeFile(params.out, JSON.stringify(result));
  const ok = events.filter((e) => e.outcome === 'ok');
  process.stdout.write(`fleet done: ${events.length} join requests, ${ok.length} ok, p99 ${percentile(ok.map((e) => e.ms), 99).toFixed(0)} ms, recovered ${recovered ? recovered.at - listeningAt : 'never'} ms after listening\n`);
} finally {
  controller.abort();
  await auth?.stop();
  await issuer.close();
  await removeDir(dir);
}
process.exit(0);
