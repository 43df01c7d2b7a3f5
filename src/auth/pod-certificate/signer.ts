// The podCertificate signer: watches the PodCertificateRequests of one signer name and answers each with a
// certificate (condition Issued) or a refusal (Denied / Failed), and keeps the signer's ClusterTrustBundle.
import type { Logger } from '../../common/logger.ts';
import { errorLogFields } from '../../common/errors.ts';
import { KubeApiError, type KubeClient, type KubeConnection } from '../../kube/index.ts';
import { startListWatch, type ListWatchHandle } from '../../kube/list-watch.ts';
import { createTrustBundlePublisher, servedVersion } from '../../kube/cluster-trust-bundle.ts';
import { formatExpiry } from '../../protocol/admin.ts';
import { BACKDATE_MS, issueLeafForKey } from '../ca.ts';
import type { CaKeeper } from '../ca-keeper.ts';
import { recordJoin, agentKey, type RecordPolicy } from '../inventory.ts';
import type { AuthStorage } from '../storage/types.ts';
import { beginRefreshAt, decidePodCertificate, TOKEN_ANNOTATION, type PcrDecision } from './policy.ts';
import { requestKey } from './request-key.ts';
import { SignerUnavailableError } from '../errors.ts';

const GROUP = 'certificates.k8s.io';
/** The agentVersion an inventory record of a podCertificate pod carries: no agent runs there. */
export const POD_CERTIFICATE_AGENT = 'podCertificate';
const TRUST_BUNDLE_REFRESH_MS = 60_000;
const RETRY_MS = 5_000;
const MAX_RETRIES = 5;

interface PodCertificateRequest {
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string };
  spec: {
    signerName: string;
    podName: string;
    podUID: string;
    serviceAccountName: string;
    nodeName: string;
    maxExpirationSeconds?: number;
    stubPKCS10Request?: string;
    pkixPublicKey?: string;
    proofOfPossession?: string;
    unverifiedUserAnnotations?: Record<string, string>;
  };
  status?: { conditions?: { type: string; status: string }[] };
}

export interface PodCertificateSignerOptions {
  signerName: string;
  connection: KubeConnection;
  client: KubeClient;
  storage: AuthStorage;
  /** The CA material of this replica: signs with its signing CA, publishes its bundle, follows its changes (a rotation). */
  keeper: Pick<CaKeeper, 'material' | 'onChange'>;
  clusterName: string;
  certTtlMs: number;
  maxCertTtlMs: number;
  inventory: RecordPolicy;
  now: () => number;
  random: () => number;
  logger: Logger;
}

export interface PodCertificateSigner {
  /** certificates.k8s.io version the requests are read and answered in. */
  readonly version: string;
  readonly trustBundleName: string | undefined;
  close(): Promise<void>;
}

const isDecided = (pcr: PodCertificateRequest) => (pcr.status?.conditions ?? []).some((c) => ['Issued', 'Denied', 'Failed'].includes(c.type) && c.status === 'True');
/** metav1.Time: RFC 3339 to the second. */
const metaTime = (ms: number) => formatExpiry(new Date(Math.floor(ms / 1000) * 1000));

/** Starts the signer: picks v1 where served, else v1beta1; publishes the trust bundle; watches. */
export async function startPodCertificateSigner(options: PodCertificateSignerOptions): Promise<PodCertificateSigner> {
  const { client, logger, signerName } = options;
  const version = await servedVersion(client, 'podcertificaterequests', ['v1', 'v1beta1']);
  if (version === undefined) {
    throw new SignerUnavailableError(`the Kubernetes API does not serve PodCertificateRequests (certificates.k8s.io v1 from Kubernetes 1.37, or v1beta1 from 1.35 with --runtime-config=certificates.k8s.io/v1beta1=true); --pod-certificate-signer ${signerName} cannot work there`);
  }
  const collection = `/apis/${GROUP}/${version}/podcertificaterequests`;
  const inFlight = new Set<string>();
  let closed = false;
  const retryTimers = new Set<NodeJS.Timeout>();

  const publisher = await createTrustBundlePublisher(client, signerName);
  const publish = async () => {
    if (publisher === undefined) return;
    const result = await publisher.publish(options.keeper.material().bundlePem);
    if (result !== 'unchanged') logger.info('ClusterTrustBundle published', { name: publisher.name, result });
  };
  if (publisher === undefined) logger.warn('the Kubernetes API serves no ClusterTrustBundles: pods must get the CA bundle another way', { signerName });
  await publish().catch((err: unknown) => logger.warn('ClusterTrustBundle publish failed', { name: publisher?.name, ...errorLogFields(err) }));
  const bundleTimer = setInterval(() => {
    publish().catch((err: unknown) => logger.warn('ClusterTrustBundle publish failed', { name: publisher?.name, ...errorLogFields(err) }));
  }, TRUST_BUNDLE_REFRESH_MS);
  bundleTimer.unref();
  options.keeper.onChange(() => publish().catch((err: unknown) => void logger.warn('ClusterTrustBundle publish failed', { name: publisher?.name, ...errorLogFields(err) })));

  /**
   * The key fields. v1 has no pkixPublicKey/proofOfPossession: a request made in that older v1beta1 shape
   * (by a kubelet older than 1.37) shows neither field in v1, so it is read again through v1beta1.
   */
  async function keyFieldsOf(pcr: PodCertificateRequest): Promise<Pick<PodCertificateRequest['spec'], 'stubPKCS10Request' | 'pkixPublicKey' | 'proofOfPossession'>> {
    const { spec, metadata } = pcr;
    if (spec.stubPKCS10Request || spec.pkixPublicKey || version !== 'v1') return spec;
    try {
      return (await client.request<PodCertificateRequest>('GET', `/apis/${GROUP}/v1beta1/namespaces/${metadata.namespace}/podcertificaterequests/${encodeURIComponent(metadata.name)}`)).spec;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return spec;
      throw err;
    }
  }

  async function decide(pcr: PodCertificateRequest): Promise<{ decision: PcrDecision; spki?: Uint8Array }> {
    const { spec, metadata } = pcr;
    const key = await requestKey({ podUid: spec.podUID, ...(await keyFieldsOf(pcr)) });
    const tokenName = spec.unverifiedUserAnnotations?.[TOKEN_ANNOTATION]?.trim();
    const token = tokenName ? await options.storage.getToken(tokenName) : undefined;
    let pod: { uid: string; nodeName: string | undefined } | undefined;
    try {
      const found = await client.request<{ metadata: { uid: string }; spec: { nodeName?: string } }>('GET', `/api/v1/namespaces/${metadata.namespace}/pods/${encodeURIComponent(spec.podName)}`);
      pod = { uid: found.metadata.uid, nodeName: found.spec.nodeName };
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    const previous = tokenName ? await options.storage.getAgent(agentKey(metadata.namespace, spec.podName, spec.podUID)) : undefined;
    const decision = decidePodCertificate({
      pcr: {
        namespace: metadata.namespace,
        podName: spec.podName,
        podUid: spec.podUID,
        serviceAccount: spec.serviceAccountName,
        nodeName: spec.nodeName,
        maxExpirationSeconds: spec.maxExpirationSeconds ?? 86400,
        userAnnotations: spec.unverifiedUserAnnotations ?? {},
      },
      key: key.verdict,
      token,
      pod,
      refresh: previous !== undefined && previous.tokenName === tokenName,
      now: options.now(),
      certTtlMs: options.certTtlMs,
      maxCertTtlMs: options.maxCertTtlMs,
      backdateMs: BACKDATE_MS,
    });
    return 'spki' in key ? { decision, spki: key.spki } : { decision };
  }

  /** Decides and answers one request; a 409 means another replica answered first. */
  async function handle(pcr: PodCertificateRequest): Promise<void> {
    const { metadata, spec } = pcr;
    const { decision, spki } = await decide(pcr);
    const now = options.now();
    const at = metaTime(now);
    let status: Record<string, unknown>;
    let issued: { notAfter: Date; roles: string[] } | undefined;
    if (decision.outcome === 'issue') {
      const leaf = issueLeafForKey(options.keeper.material().signing, spki as Uint8Array, {
        hostId: spec.podName,
        binding: { podUid: spec.podUID, tokenName: decision.tokenName },
        namespace: metadata.namespace,
        serviceAccount: spec.serviceAccountName,
        roles: decision.roles,
        trustDomain: options.clusterName,
        ttlMs: decision.ttlMs,
        now,
      });
      const validity = { notBefore: leaf.notBefore.getTime(), notAfter: leaf.notAfter.getTime() };
      status = {
        conditions: [{ type: 'Issued', status: 'True', reason: 'Issued', message: `issued through provision token "${decision.tokenName}" with roles ${decision.roles.join(', ')}`, lastTransitionTime: at }],
        certificateChain: leaf.toString('pem') + '\n',
        notBefore: metaTime(validity.notBefore),
        beginRefreshAt: metaTime(beginRefreshAt(validity, options.random())),
        notAfter: metaTime(validity.notAfter),
      };
      issued = { notAfter: leaf.notAfter, roles: decision.roles };
    } else {
      status = { conditions: [{ type: decision.outcome, status: 'True', reason: decision.reason, message: decision.message, lastTransitionTime: at }] };
    }
    try {
      await client.request('PUT', `/apis/${GROUP}/${version}/namespaces/${metadata.namespace}/podcertificaterequests/${encodeURIComponent(metadata.name)}/status`, {
        body: { ...pcr, apiVersion: `${GROUP}/${version}`, kind: 'PodCertificateRequest', status },
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) {
        logger.debug('PodCertificateRequest answered by another replica', { namespace: metadata.namespace, name: metadata.name });
        return;
      }
      throw err;
    }
    const audit = { namespace: metadata.namespace, name: metadata.name, pod: spec.podName, serviceAccount: spec.serviceAccountName, node: spec.nodeName };
    if (decision.outcome !== 'issue') {
      logger.info('PodCertificateRequest refused', { ...audit, outcome: decision.outcome, reason: decision.reason, message: decision.message });
      return;
    }
    if (issued === undefined) return;
    const inventory = await recordJoin(options.storage, {
      hostId: spec.podName,
      namespace: metadata.namespace,
      serviceAccount: spec.serviceAccountName,
      podName: spec.podName,
      podUid: spec.podUID,
      nodeName: spec.nodeName,
      roles: issued.roles,
      apps: decision.apps,
      tokenName: decision.tokenName,
      agentVersion: POD_CERTIFICATE_AGENT,
      notAfter: issued.notAfter,
    }, options.now(), options.inventory).then((r) => (r.recorded ? 'recorded' : 'full'), (err: unknown) => `failed: ${(err as Error).message}`);
    logger.info('PodCertificateRequest issued', { ...audit, tokenName: decision.tokenName, roles: issued.roles, notAfter: issued.notAfter.toISOString(), inventory });
  }

  const consider = (pcr: PodCertificateRequest, attempt = 0): void => {
    if (closed || isDecided(pcr) || pcr.spec.signerName !== signerName || inFlight.has(pcr.metadata.uid)) return;
    inFlight.add(pcr.metadata.uid);
    handle(pcr)
      .catch((err: unknown) => {
        // A transient failure (API, storage): try again while the request is undecided, a few times.
        logger.warn('PodCertificateRequest not answered yet', { namespace: pcr.metadata.namespace, name: pcr.metadata.name, attempt, ...errorLogFields(err) });
        if (attempt + 1 >= MAX_RETRIES) return;
        const timer = setTimeout(() => {
          retryTimers.delete(timer);
          consider(pcr, attempt + 1);
        }, RETRY_MS * (attempt + 1));
        timer.unref();
        retryTimers.add(timer);
      })
      .finally(() => inFlight.delete(pcr.metadata.uid));
  };

  let watch: ListWatchHandle;
  try {
    watch = await startListWatch<PodCertificateRequest>({
      connection: options.connection,
      client,
      path: collection,
      fieldSelector: `spec.signerName=${signerName}`,
      onObject: (pcr) => consider(pcr),
      onError: (err, restarts) => logger.warn('PodCertificateRequest watch failed; restarting', { restarts, ...errorLogFields(err) }),
      restartDelayMs: (n) => Math.min(1000 * 2 ** n, 30_000),
    });
  } catch (err) {
    clearInterval(bundleTimer);
    throw err;
  }
  logger.info('podCertificate signer watching', { signerName, version, trustBundle: publisher?.name ?? 'none' });
  return {
    version,
    trustBundleName: publisher?.name,
    async close() {
      closed = true;
      clearInterval(bundleTimer);
      for (const t of retryTimers) clearTimeout(t);
      await watch.stop();
    },
  };
}
