import { join } from 'node:path';
import type { TokenIssuer } from '../src/demo/index.ts';
import { createProvisionToken, startAuth, type AuthProcess } from './lib/env.ts';
import { runLoad, type LoadResult } from './throughput.ts';

export interface ReplicaScaling {
  /** One auth process, `concurrency` keep-alive clients; one result per repetition. */
  one: LoadResult[];
  /** Two auth processes (separate state, as replicas on kubernetes storage), `concurrency` clients each, at the same time. */
  two: [LoadResult, LoadResult][];
}

/**
 * Several cores by replicas: the same load on one auth process, then on two at once. Joins are
 * independent and each process serves them on one thread, so two processes should serve about twice
 * the joins at the same CPU per join, with no shared state but storage.
 */
export async function measureReplicaScaling(ctx: { issuer: TokenIssuer; dir: string; bodies: readonly Buffer[]; concurrency: number; seconds: number; reps: number }): Promise<ReplicaScaling> {
  const auths: AuthProcess[] = [];
  try {
    for (const name of ['replica-a', 'replica-b']) {
      const stateDir = join(ctx.dir, name);
      await createProvisionToken(stateDir, ctx.issuer);
      auths.push(await startAuth({ stateDir, logFile: join(ctx.dir, `${name}.log`), extraArgs: ['--join-rate-per-source', '1000000', '--join-rate-global', '1000000'] }));
    }
    const [a, b] = auths as [AuthProcess, AuthProcess];
    const load = { concurrency: ctx.concurrency, seconds: ctx.seconds, warmupSeconds: 1, keepAlive: true };
    const result: ReplicaScaling = { one: [], two: [] };
    await runLoad(b, ctx.bodies, load); // warm-up of the second process (JIT), as the first had its own
    // Interleaved: the machine's load drifts, and one against two is a ratio of the same minutes.
    for (let i = 0; i < ctx.reps; i++) {
      result.one.push(await runLoad(a, ctx.bodies, load));
      result.two.push((await Promise.all([runLoad(a, ctx.bodies, load), runLoad(b, ctx.bodies, load)])) as [LoadResult, LoadResult]);
    }
    return result;
  } finally {
    await Promise.all(auths.map((a) => a.stop()));
  }
}
