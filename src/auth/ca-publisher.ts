import { errorLogFields } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { KubeApiError, type KubeClient } from '../kube/index.ts';
import { KIND_LABEL, MANAGED_BY, MANAGED_BY_LABEL } from './storage/kubernetes.ts';

/** The key of the ConfigMap that holds the bundle, as pods mount it (`/var/run/kube-join/ca/ca.crt`). */
export const CA_BUNDLE_KEY = 'ca.crt';

export interface ConfigMapPublisherOptions {
  client: KubeClient;
  /** ConfigMap name (--ca-bundle-configmap). */
  name: string;
  /** Namespaces named one by one (--ca-bundle-namespaces). */
  namespaces: readonly string[];
  /** Label selector of further namespaces (--ca-bundle-namespace-selector); listed on each publish. */
  namespaceSelector: string | undefined;
  logger: Logger;
}

export interface PublishOutcome {
  /** Namespaces whose ConfigMap was created or updated. */
  written: string[];
  /** Namespaces whose ConfigMap already held the bundle. */
  unchanged: string[];
  /** Namespaces where writing failed, with why. */
  failed: { namespace: string; error: string }[];
}

export interface BundlePublisher {
  /**
   * Publishes `bundlePem`, after any run in progress; a run always writes the latest bundle given, so a
   * later call's bundle is never overwritten by an earlier one's.
   */
  publish(bundlePem: string): Promise<PublishOutcome>;
}

interface ConfigMap {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

const isStatus = (err: unknown, status: number) => err instanceof KubeApiError && err.status === status;

/**
 * Writes the CA bundle into a ConfigMap (`ca.crt`) in every selected namespace, so that pods mount it
 * and pass it as the agent's --ca-file: nobody copies a pin. A write happens only when the content
 * differs, with the resourceVersion read, so several replicas publishing the same bundle agree (a 409
 * is read again, and is done when the other replica already wrote the same). A namespace that fails
 * does not stop the others; the outcome says which failed and why.
 */
export function createConfigMapPublisher(options: ConfigMapPublisherOptions): BundlePublisher {
  const { client, name, logger } = options;
  const body = (namespace: string, bundlePem: string, resourceVersion?: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [KIND_LABEL]: 'ca-bundle' }, ...(resourceVersion ? { resourceVersion } : {}) },
    data: { [CA_BUNDLE_KEY]: bundlePem },
  });

  async function targets(): Promise<string[]> {
    const selected = new Set(options.namespaces);
    if (options.namespaceSelector !== undefined) {
      const list = await client.request<{ items?: { metadata: { name: string } }[] }>('GET', '/api/v1/namespaces', { query: { labelSelector: options.namespaceSelector } });
      for (const ns of list.items ?? []) selected.add(ns.metadata.name);
    }
    return [...selected].sort();
  }

  /** Makes the ConfigMap in `namespace` hold `bundlePem`; true when it wrote. */
  async function publishTo(namespace: string, bundlePem: string): Promise<boolean> {
    const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    for (let attempt = 1; ; attempt++) {
      let current: ConfigMap | undefined;
      try {
        current = await client.request<ConfigMap>('GET', `${base}/${name}`);
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
      if (current?.data?.[CA_BUNDLE_KEY] === bundlePem) return false;
      try {
        if (current === undefined) await client.request('POST', base, { body: body(namespace, bundlePem) });
        else await client.request('PUT', `${base}/${name}`, { body: body(namespace, bundlePem, current.metadata.resourceVersion) });
        return true;
      } catch (err) {
        // Another replica wrote in between: read again (it has most likely written this very bundle).
        if (!isStatus(err, 409) || attempt >= 3) throw err;
      }
    }
  }

  async function run(bundlePem: string): Promise<PublishOutcome> {
    const outcome: PublishOutcome = { written: [], unchanged: [], failed: [] };
    let namespaces: string[];
    try {
      namespaces = await targets();
    } catch (err) {
      logger.warn('CA bundle: listing the namespaces to publish into failed', { selector: options.namespaceSelector, ...errorLogFields(err) });
      namespaces = [...options.namespaces];
    }
    for (const namespace of namespaces) {
      try {
        (await publishTo(namespace, bundlePem) ? outcome.written : outcome.unchanged).push(namespace);
      } catch (err) {
        outcome.failed.push({ namespace, error: errorLogFields(err).error });
      }
    }
    if (outcome.written.length > 0) logger.info('CA bundle published', { configMap: name, namespaces: outcome.written });
    for (const f of outcome.failed) logger.warn('CA bundle: publishing failed', { configMap: name, namespace: f.namespace, error: f.error });
    return outcome;
  }

  // One run at a time, each with the latest bundle: a run behind another one that already wrote it
  // only reads (the content is equal), so bursts of changes cost little.
  let latest = '';
  let queue: Promise<unknown> = Promise.resolve();
  return {
    publish(bundlePem) {
      latest = bundlePem;
      const next = queue.then(() => run(latest));
      queue = next.catch(() => undefined);
      return next;
    },
  };
}
