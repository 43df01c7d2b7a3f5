import { KubeApiError, KubeUnreachableError, type KubeClient } from '../kube/index.ts';
import type { AuthStorage } from './storage/types.ts';
import { AUTH_DELEGATOR_ROLE } from './validators/in-cluster.ts';

/**
 * How long one /readyz answer is reused, in milliseconds: however often probes come, the service
 * spends at most one storage write probe and one TokenReview per period.
 */
export const READINESS_CACHE_MS = 10_000;

/** One check: resolves when ready, throws an Error whose message says what is wrong. */
export type ReadinessCheck = () => Promise<void>;

export type ReadinessResult = { ready: true } | { ready: false; reason: string };

export interface Readiness {
  /** The last answer while it is younger than the cache period, else a fresh one that concurrent callers share. */
  check(): Promise<ReadinessResult>;
}

/** Runs every check (all of them, so the reason names each problem, in the order given) and caches the answer. */
export function createReadiness(checks: readonly ReadinessCheck[], now: () => number, cacheMs = READINESS_CACHE_MS): Readiness {
  let cached: { at: number; result: ReadinessResult } | undefined;
  let running: Promise<ReadinessResult> | undefined;

  async function run(): Promise<ReadinessResult> {
    const at = now();
    const outcomes = await Promise.allSettled(checks.map(async (check) => check()));
    const reasons = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason instanceof Error ? o.reason.message : String(o.reason)] : []));
    const result: ReadinessResult = reasons.length === 0 ? { ready: true } : { ready: false, reason: reasons.join('; ') };
    cached = { at, result };
    return result;
  }

  return {
    check() {
      if (cached !== undefined && now() - cached.at < cacheMs) return Promise.resolve(cached.result);
      running ??= run().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

/** Storage answers reads and takes writes (a write probe that leaves nothing behind). */
export function storageReadiness(storage: AuthStorage): ReadinessCheck {
  return async () => {
    try {
      await storage.ping();
      await storage.probeWrite();
    } catch (err) {
      throw new Error(`storage: ${(err as Error).message}`, { cause: err });
    }
  };
}

/** Not a JWT, so no apiserver authenticates it: the review costs no signature check and proves nothing. */
const PROBE_TOKEN = 'kube-join-readiness-probe';

/**
 * in_cluster joins can be decided: a TokenReview of a dummy token goes through. 403 means the
 * auth service's ServiceAccount lacks the ClusterRole system:auth-delegator, which the reason names;
 * an unreachable API or any other refusal is not ready either.
 */
export function tokenReviewReadiness(kube: KubeClient, audience: string): ReadinessCheck {
  return async () => {
    try {
      await kube.tokenReview(PROBE_TOKEN, [audience]);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 403) {
        throw new Error(`the auth service may not create TokenReviews on ${kube.server}: bind the ClusterRole ${AUTH_DELEGATOR_ROLE} to the auth service's ServiceAccount (apiserver: ${err.apiMessage ?? 'Forbidden'})`, { cause: err });
      }
      if (err instanceof KubeApiError) {
        throw new Error(`the Kubernetes API ${kube.server} answered ${err.status}${err.reason ? ` ${err.reason}` : ''} to a TokenReview${err.apiMessage ? `: ${err.apiMessage}` : ''}`, { cause: err });
      }
      if (err instanceof KubeUnreachableError) throw new Error(err.message, { cause: err });
      throw new Error(`TokenReview on ${kube.server} failed: ${(err as Error).message}`, { cause: err });
    }
  };
}
