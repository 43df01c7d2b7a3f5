import type { Logger } from '../common/logger.ts';
import { errorLogFields } from '../common/errors.ts';
import { KubeApiError, type KubeClient } from '../kube/index.ts';
import type { AuthStorage } from './storage/types.ts';
import { isRecordLive } from './inventory.ts';

/** Whether the pod an inventory record names still runs: the same name with the same UID. */
export type PodLookup = (namespace: string, name: string, uid: string) => Promise<'present' | 'gone'>;

/** A PodLookup through the Kubernetes API (GET the pod; needs `get` on pods in the agents' namespaces). */
export function apiPodLookup(kube: KubeClient): PodLookup {
  return async (namespace, name, uid) => {
    try {
      const pod = await kube.request<{ metadata: { uid: string } }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
      return pod.metadata.uid === uid ? 'present' : 'gone';
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return 'gone';
      throw err;
    }
  };
}

/**
 * Marks `podGoneAt` on the live records whose pod no longer exists (deleted, or replaced by a pod of
 * the same name with another UID), so `apps ls` stops listing an app whose pod is gone instead of
 * keeping it for the certificate's lifetime and the grace period. The record itself stays until it
 * expires, as any other. Records already superseded or marked are not looked up again. A lookup that
 * fails (a 403 without `get` on pods, an unreachable API) stops this pass and is thrown to the caller.
 */
export async function markGonePods(storage: AuthStorage, lookup: PodLookup, now: number): Promise<string[]> {
  const marked: string[] = [];
  for (const { key, record } of await storage.listAgents()) {
    if (!isRecordLive(record, now) || record.supersededBy !== undefined || record.podGoneAt !== undefined) continue;
    if (record.podName === undefined || record.podUid === undefined) continue;
    if ((await lookup(record.namespace, record.podName, record.podUid)) === 'present') continue;
    await storage.putAgent(key, { ...record, podGoneAt: new Date(now).toISOString() });
    marked.push(key);
  }
  return marked;
}

/** One pass of markGonePods for the sweep: logs what it marked, and a failure once per cause change. */
export function gonePodSweeper(storage: AuthStorage, lookup: PodLookup, logger: Logger): (now: number) => Promise<void> {
  let lastFailure: string | undefined;
  return async (now) => {
    try {
      const marked = await markGonePods(storage, lookup, now);
      if (marked.length > 0) logger.info('inventory: pods gone', { marked });
      lastFailure = undefined;
    } catch (err) {
      const fields = errorLogFields(err);
      if (fields.error !== lastFailure) {
        const hint = err instanceof KubeApiError && err.status === 403 ? { hint: "--inventory-check-pods needs get on pods (the chart's inventory.checkPods grants it)" } : {};
        logger.warn('inventory: cannot check whether pods are gone', { ...fields, ...hint });
      }
      lastFailure = fields.error;
    }
  };
}
