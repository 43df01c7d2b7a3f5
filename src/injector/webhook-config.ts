import type { KubeClient } from '../kube/index.ts';
import { errorLogFields } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { CaBundleSyncError } from './errors.ts';

const MWC_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

interface WebhookConfiguration {
  metadata: { resourceVersion: string };
  webhooks?: { name: string; clientConfig?: { caBundle?: string } }[];
}

/**
 * Makes every webhook of the MutatingWebhookConfiguration `name` trust `caPem`. Reads it, and when any
 * caBundle differs (a fresh start, or `helm upgrade` put the chart's empty one back), PATCHes them all
 * in one JSON patch that first tests the resourceVersion it read, so a concurrent change is never
 * overwritten blindly (the next sync reads again). Throws CaBundleSyncError naming the object.
 */
export async function syncCaBundle(client: KubeClient, name: string, caPem: string): Promise<'unchanged' | 'patched'> {
  const path = `${MWC_PATH}/${encodeURIComponent(name)}`;
  const caBundle = Buffer.from(caPem).toString('base64');
  try {
    const config = await client.request<WebhookConfiguration>('GET', path);
    const webhooks = config.webhooks ?? [];
    if (webhooks.length === 0) throw new CaBundleSyncError(`MutatingWebhookConfiguration ${name} has no webhooks`);
    if (webhooks.every((w) => w.clientConfig?.caBundle === caBundle)) return 'unchanged';
    const patch = [
      { op: 'test', path: '/metadata/resourceVersion', value: config.metadata.resourceVersion },
      ...webhooks.map((_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle })),
    ];
    await client.request('PATCH', path, { body: patch, contentType: 'application/json-patch+json' });
    return 'patched';
  } catch (err) {
    if (err instanceof CaBundleSyncError) throw err;
    throw new CaBundleSyncError(`cannot set the caBundle of MutatingWebhookConfiguration ${name}: ${(err as Error).message}`, err);
  }
}

export interface CaBundleSync {
  /** Ready once the caBundle was found or made current. */
  state(): { ready: boolean; reason?: string };
  stop(): void;
}

/**
 * Syncs now, then every `intervalMs`, for as long as the injector runs. Logs a patch, and a failure
 * once per distinct message (RBAC missing, object absent), not on every tick.
 */
export function startCaBundleSync(options: { client: KubeClient; name: string; caPem: string; intervalMs: number; logger: Logger }): CaBundleSync {
  const { client, name, caPem, intervalMs, logger } = options;
  let ready = false;
  let lastError: string | undefined = 'not synced yet';
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      const result = await syncCaBundle(client, name, caPem);
      if (result === 'patched' || !ready) logger.info('webhook caBundle in place', { mutatingWebhookConfiguration: name, patched: result === 'patched' });
      ready = true;
      lastError = undefined;
    } catch (err) {
      const fields = errorLogFields(err);
      if (fields.error !== lastError) logger.warn('webhook caBundle sync failed', { mutatingWebhookConfiguration: name, ...fields });
      lastError = fields.error;
    }
    if (!stopped) {
      timer = setTimeout(() => void tick(), intervalMs);
      timer.unref();
    }
  };
  void tick();
  return {
    state: () => (ready ? { ready } : { ready, reason: lastError ?? 'not synced yet' }),
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
