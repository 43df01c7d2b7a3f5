// List, then watch, a collection through @kubernetes/client-node's ListWatch: it relists after a watch
// expires (410 Gone) and reconnects a quiet watch. This module adds what it leaves to its caller: a restart
// with back-off after any other failure, and the same credentials as the rest of kube-join's API calls.
import type { KubeConnection } from './config.ts';
import type { KubeClient } from './client.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface ListWatchOptions<T extends KubeObject> {
  connection: KubeConnection;
  /** Lists with the same credentials and timeout as every other request. */
  client: KubeClient;
  /** Collection path, e.g. `/apis/certificates.k8s.io/v1/podcertificaterequests`. */
  path: string;
  fieldSelector?: string;
  /** Every object listed, added or modified (a relist repeats the ones still there). */
  onObject(object: T): void;
  /** A list or watch failed (not a 410, which relists by itself); the watch restarts after `restartDelayMs(n)`. */
  onError(err: unknown, restarts: number): void;
  restartDelayMs(restarts: number): number;
}

export interface ListWatchHandle {
  stop(): Promise<void>;
}

type KubeConfigType = import('@kubernetes/client-node').KubeConfig;

/** A client-node KubeConfig with the connection's server, TLS and credentials (the bearer token read per request). */
async function kubeConfigFor(connection: KubeConnection): Promise<KubeConfigType> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const b64 = (pem: string | undefined) => (pem === undefined ? undefined : Buffer.from(pem).toString('base64'));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'kube', server: connection.server, caData: b64(connection.caPem), skipTLSVerify: connection.insecureSkipTlsVerify, tlsServerName: connection.tlsServerName }],
    users: [{ name: 'kube-join', certData: b64(connection.clientCertPem), keyData: b64(connection.clientKeyPem) }],
    contexts: [{ name: 'kube-join', cluster: 'kube', user: 'kube-join' }],
    currentContext: 'kube-join',
  });
  const bearerToken = connection.bearerToken;
  if (bearerToken !== undefined) {
    kc.addAuthenticator({
      isAuthProvider: () => true,
      async applyAuthentication(_user, opts) {
        opts.headers = { ...opts.headers, Authorization: `Bearer ${await bearerToken()}` };
      },
    });
  }
  return kc;
}

/** Starts listing and watching; resolves once the first list is under way. */
export async function startListWatch<T extends KubeObject>(options: ListWatchOptions<T>): Promise<ListWatchHandle> {
  const { ListWatch, Watch } = await import('@kubernetes/client-node');
  const kc = await kubeConfigFor(options.connection);
  const query = options.fieldSelector !== undefined ? { fieldSelector: options.fieldSelector } : undefined;
  const list = async () => options.client.request<{ items: T[]; metadata: { resourceVersion?: string } }>('GET', options.path, query ? { query } : {});
  const informer = new ListWatch<T & { metadata: object }>(options.path, new Watch(kc), list as never, false, undefined, options.fieldSelector);
  let stopped = false;
  let restarts = 0;
  let timer: NodeJS.Timeout | undefined;
  const onObject = (obj: T) => {
    restarts = 0;
    options.onObject(obj);
  };
  informer.on('add', onObject);
  informer.on('update', onObject);
  // client-node reports a failed list or watch on 'error'; a failure before the watch request is sent
  // (reading the token, a credential plugin) rejects start() instead. Either way: restart later.
  const failed = (err: unknown) => {
    if (stopped) return;
    options.onError(err, restarts);
    timer = setTimeout(() => {
      timer = undefined;
      begin();
    }, options.restartDelayMs(restarts++));
    timer.unref();
  };
  const begin = () => {
    if (!stopped) informer.start().catch(failed);
  };
  informer.on('error', failed);
  begin();
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await informer.stop();
    },
  };
}
