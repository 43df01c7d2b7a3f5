import { Agent, request } from 'node:https';
import { readFile } from 'node:fs/promises';
import { createCsrPem, generateKey } from '../src/agent/keys.ts';
import { AGENT_VERSION, JOIN_PATH } from '../src/protocol/index.ts';
import type { TokenIssuer } from '../src/demo/index.ts';
import { mintFor, TOKEN_NAME, type AuthProcess } from './lib/env.ts';
import { cpuSeconds, sleep } from './lib/proc.ts';
import { percentile } from './lib/stats.ts';

/** Pre-built join request bodies (token + fresh CSR each): nothing of the client's work is timed. */
export async function prebuildBodies(issuer: TokenIssuer, count: number): Promise<Buffer[]> {
  const bodies: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const material = await generateKey('ecdsa-p256');
    bodies.push(Buffer.from(JSON.stringify({
      tokenName: TOKEN_NAME,
      joinMethod: 'kubernetes',
      kubernetesToken: await mintFor(issuer, 100_000 + i),
      csr: await createCsrPem(material, `tp-${i}`),
      agentVersion: AGENT_VERSION,
    })));
  }
  return bodies;
}

function postJoin(agent: Agent, port: number, body: Buffer, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: JOIN_PATH, method: 'POST', agent, ca, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('join request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoadResult {
  concurrency: number;
  keepAlive: boolean;
  seconds: number;
  joins: number;
  errors: number;
  joinsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU the auth process used over the window, in cores (CPU-seconds per second). */
  authCores: number;
}

/**
 * `concurrency` clients, each posting joins back to back for `seconds` (after a short warm-up that is
 * not counted). keepAlive: each client keeps its TLS connection; otherwise every join opens a new one
 * (no session resumption), as separate pods do.
 */
export async function runLoad(auth: AuthProcess, bodies: readonly Buffer[], options: { concurrency: number; seconds: number; warmupSeconds: number; keepAlive: boolean }): Promise<LoadResult> {
  const ca = await readFile(auth.caFile, 'utf8');
  const agent = new Agent({ keepAlive: options.keepAlive, maxSockets: options.concurrency, maxCachedSessions: 0 });
  let next = 0;
  let phase: 'warmup' | 'timed' | 'done' = 'warmup';
  const latencies: number[] = [];
  let joins = 0;
  let errors = 0;
  let firstError: string | undefined;
  const client = async () => {
    while (phase !== 'done') {
      const body = bodies[next++ % bodies.length] as Buffer;
      const counted = phase === 'timed';
      const t0 = process.hrtime.bigint();
      try {
        const status = await postJoin(agent, auth.port, body, ca);
        if (status !== 200) throw new Error(`HTTP ${status}`);
        if (counted && phase === 'timed') {
          joins++;
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      } catch (err) {
        if (counted) errors++;
        firstError ??= (err as Error).message;
        await sleep(10);
      }
    }
  };
  const clients = Array.from({ length: options.concurrency }, client);
  await sleep(options.warmupSeconds * 1000);
  const cpu0 = cpuSeconds(auth.pid);
  const t0 = process.hrtime.bigint();
  phase = 'timed';
  await sleep(options.seconds * 1000);
  phase = 'done';
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(auth.pid) - cpu0;
  await Promise.all(clients);
  agent.destroy();
  if (joins === 0) throw new Error(`no join succeeded at concurrency ${options.concurrency}: ${firstError}`);
  return {
    concurrency: options.concurrency,
    keepAlive: options.keepAlive,
    seconds,
    joins,
    errors,
    joinsPerSecond: joins / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    authCores: cpu / seconds,
  };
}

/** Joins without measuring (to bring the auth service's total to a count, e.g. 10,000 for its RSS). */
export async function runJoins(auth: AuthProcess, bodies: readonly Buffer[], total: number, concurrency: number): Promise<void> {
  const ca = await readFile(auth.caFile, 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let left = total;
  const client = async () => {
    while (left-- > 0) {
      const status = await postJoin(agent, auth.port, bodies[left % bodies.length] as Buffer, ca);
      if (status !== 200) throw new Error(`join answered HTTP ${status}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    agent.destroy();
  }
}

