// Publishes a signer's trust anchors as a ClusterTrustBundle, so that pods project them with a
// clusterTrustBundle volume source (signerName + labelSelector) next to their podCertificate.
import type { KubeClient } from './client.ts';
import { KubeApiError } from './errors.ts';

const GROUP = 'certificates.k8s.io';

/**
 * The bundle's name: kube-apiserver requires the signer name as its prefix, with `/` written `:`
 * (`kube-join.io/workload` → `kube-join.io:workload:ca`).
 */
export function clusterTrustBundleName(signerName: string): string {
  return `${signerName.replaceAll('/', ':')}:ca`;
}

/** The newest served version of `resource` in certificates.k8s.io among `preferred`, or undefined. */
export async function servedVersion(client: KubeClient, resource: string, preferred: readonly string[]): Promise<string | undefined> {
  for (const version of preferred) {
    try {
      const list = await client.request<{ resources?: { name: string }[] }>('GET', `/apis/${GROUP}/${version}`);
      if (list?.resources?.some((r) => r.name === resource)) return version;
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }
  return undefined;
}

export interface TrustBundlePublisher {
  readonly name: string;
  readonly version: string;
  /** Creates the bundle, or updates it when its PEM differs; a no-op when it is current. */
  publish(pem: string): Promise<'created' | 'updated' | 'unchanged'>;
}

interface Bundle {
  metadata: { name: string; resourceVersion?: string };
  spec: { signerName?: string; trustBundle: string };
}

/**
 * A publisher for `signerName`'s bundle on the served version (v1, else v1beta1); undefined when the
 * cluster serves no ClusterTrustBundles. Writing it takes `attest` on the signer besides create/update.
 */
export async function createTrustBundlePublisher(client: KubeClient, signerName: string): Promise<TrustBundlePublisher | undefined> {
  const version = await servedVersion(client, 'clustertrustbundles', ['v1', 'v1beta1']);
  if (version === undefined) return undefined;
  const name = clusterTrustBundleName(signerName);
  const path = `/apis/${GROUP}/${version}/clustertrustbundles`;
  return {
    name,
    version,
    async publish(pem) {
      let current: Bundle | undefined;
      try {
        current = await client.request<Bundle>('GET', `${path}/${encodeURIComponent(name)}`);
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
      const body = { apiVersion: `${GROUP}/${version}`, kind: 'ClusterTrustBundle', metadata: { name }, spec: { signerName, trustBundle: pem } };
      if (current === undefined) {
        await client.request('POST', path, { body });
        return 'created';
      }
      if (current.spec.trustBundle === pem) return 'unchanged';
      // The resourceVersion makes a concurrent writer (another replica) lose with 409 instead of overwriting.
      await client.request('PUT', `${path}/${encodeURIComponent(name)}`, { body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata.resourceVersion } } });
      return 'updated';
    },
  };
}
