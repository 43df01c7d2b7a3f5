import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KubeConfigError } from './errors.ts';
import { IN_CLUSTER_DIR, isInCluster } from './in-cluster-env.ts';
import { formatHostPort } from '../common/host-port.ts';
import { readFailure } from '../common/read-file.ts';

export { IN_CLUSTER_DIR, isInCluster };

/** Where a pod finds its ServiceAccount credentials (token, CA, namespace). */

/** How to reach one Kubernetes API server and who to be there. Holds no token: `bearerToken` reads it. */
export interface KubeConnection {
  /** `https://host:port`, no trailing slash. */
  server: string;
  /** PEM CA bundle the server's certificate must chain to (absent: the system roots). */
  caPem: string | undefined;
  insecureSkipTlsVerify: boolean;
  tlsServerName: string | undefined;
  clientCertPem: string | undefined;
  clientKeyPem: string | undefined;
  /** Reads the bearer token for one request; files are re-read each time, as the kubelet rotates them. */
  bearerToken: (() => Promise<string>) | undefined;
  /** For messages: `in-cluster` or `kubeconfig <path> (context <name>)`. */
  source: string;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new KubeConfigError(readFailure(what, path, err), err);
  }
}

/** Reads a token file; the message names the file only. */
function tokenFileReader(path: string, what: string): () => Promise<string> {
  return async () => {
    const token = (await readText(path, what)).trim();
    if (token === '') throw new KubeConfigError(`${what} ${path} is empty`);
    return token;
  };
}



/**
 * The pod's own API access, as client-go's rest.InClusterConfig: `https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT`, the CA in `dir`/ca.crt, and the ServiceAccount token in `dir`/token,
 * re-read on every request.
 */
export async function loadInClusterConfig(options: { env: Record<string, string | undefined>; dir?: string }): Promise<KubeConnection> {
  const { env } = options;
  const dir = options.dir ?? IN_CLUSTER_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new KubeConfigError('not running in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set); give --kubeconfig');
  const caPem = await readText(resolve(dir, 'ca.crt'), 'in-cluster CA file');
  return {
    server: `https://${formatHostPort(host, port)}`,
    caPem,
    insecureSkipTlsVerify: false,
    tlsServerName: undefined,
    clientCertPem: undefined,
    clientKeyPem: undefined,
    bearerToken: tokenFileReader(resolve(dir, 'token'), 'in-cluster ServiceAccount token file'),
    source: 'in-cluster',
  };
}

const ClusterSchema = z.looseObject({
    server: z.string(),
    'certificate-authority': z.string().optional(),
    'certificate-authority-data': z.string().optional(),
    'insecure-skip-tls-verify': z.boolean().optional(),
    'tls-server-name': z.string().optional(),
    'proxy-url': z.string().optional(),
  });

const UserSchema = z.looseObject({
    token: z.string().optional(),
    tokenFile: z.string().optional(),
    'client-certificate': z.string().optional(),
    'client-certificate-data': z.string().optional(),
    'client-key': z.string().optional(),
    'client-key-data': z.string().optional(),
    exec: z.unknown().optional(),
    'auth-provider': z.unknown().optional(),
    username: z.string().optional(),
  });

const ContextSchema = z.looseObject({ cluster: z.string(), user: z.string().optional(), namespace: z.string().optional() });

const KubeconfigSchema = z.looseObject({
    'current-context': z.string().optional(),
    clusters: z.array(z.object({ name: z.string(), cluster: ClusterSchema })).default([]),
    users: z.array(z.object({ name: z.string(), user: UserSchema.nullable().default({}) })).nullable().default([]),
    contexts: z.array(z.object({ name: z.string(), context: ContextSchema })).default([]),
  });

/**
 * The bearer token of a user whose credentials come from an exec or auth-provider plugin. The plugin is
 * run by @kubernetes/client-node (loaded only for such a kubeconfig), which caches its token until the
 * expiry the plugin states; a plugin that yields a client certificate instead is refused.
 */
async function pluginTokenReader(path: string, context: string, source: string): Promise<() => Promise<string>> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
    kc.setCurrentContext(context);
  } catch (err) {
    throw new KubeConfigError(`${source}: ${(err as Error).message}`, err);
  }
  return async () => {
    const opts: { headers?: Record<string, string> } = {};
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new KubeConfigError(`${source}: the credential plugin failed: ${(err as Error).message.split('\n')[0]}`, err);
    }
    const auth = opts.headers?.Authorization;
    if (auth === undefined || !auth.startsWith('Bearer ')) throw new KubeConfigError(`${source}: the credential plugin gave no bearer token (a client certificate from a plugin is not supported)`);
    return auth.slice('Bearer '.length);
  };
}

/**
 * Reads a kubeconfig file as kubectl does for the parts an auth service needs: the current (or given)
 * context, its cluster (server, CA file or data, insecure-skip-tls-verify, tls-server-name) and user
 * (token, tokenFile re-read per request, client certificate and key as files or data). Relative paths
 * are relative to the kubeconfig's directory. A user with an exec or auth-provider plugin (EKS, GKE, AKS)
 * gets its bearer token from the plugin, run by @kubernetes/client-node.
 */
export async function loadKubeconfig(path: string, options: { context?: string } = {}): Promise<KubeConnection> {
  const text = await readText(path, 'kubeconfig');
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new KubeConfigError(`kubeconfig ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, err);
  }
  const parsed = KubeconfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KubeConfigError(`kubeconfig ${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  const doc = parsed.data;
  const contextName = options.context ?? doc['current-context'];
  if (!contextName) throw new KubeConfigError(`kubeconfig ${path} has no current-context`);
  const context = doc.contexts.find((c) => c.name === contextName)?.context;
  if (!context) throw new KubeConfigError(`kubeconfig ${path} has no context "${contextName}"`);
  const cluster = doc.clusters.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster) throw new KubeConfigError(`kubeconfig ${path}: context "${contextName}" names cluster "${context.cluster}", which is not in the file`);
  const user = context.user === undefined ? {} : (doc.users ?? []).find((u) => u.name === context.user)?.user;
  if (!user) throw new KubeConfigError(`kubeconfig ${path}: context "${contextName}" names user "${context.user}", which is not in the file`);
  const source = `kubeconfig ${path} (context ${contextName})`;
  if (cluster['proxy-url'] !== undefined) throw new KubeConfigError(`${source}: proxy-url is not supported`);
  if (!cluster.server.startsWith('https://')) throw new KubeConfigError(`${source}: server ${cluster.server} must be https`);

  const base = dirname(resolve(path));
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const fromData = (data: string) => Buffer.from(data, 'base64').toString('utf8');
  const pemOf = async (data: string | undefined, file: string | undefined, what: string) =>
    data !== undefined ? fromData(data) : file !== undefined ? readText(at(file), `${source}: ${what}`) : undefined;

  const caPem = await pemOf(cluster['certificate-authority-data'], cluster['certificate-authority'], 'certificate-authority');
  const clientCertPem = await pemOf(user['client-certificate-data'], user['client-certificate'], 'client-certificate');
  const clientKeyPem = await pemOf(user['client-key-data'], user['client-key'], 'client-key');
  if ((clientCertPem === undefined) !== (clientKeyPem === undefined)) throw new KubeConfigError(`${source}: a client certificate needs both a certificate and a key`);
  let bearerToken: (() => Promise<string>) | undefined;
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    bearerToken = await pluginTokenReader(path, contextName, source);
  } else if (user.token !== undefined) {
    const token = user.token;
    bearerToken = async () => token;
  } else if (user.tokenFile !== undefined) {
    bearerToken = tokenFileReader(at(user.tokenFile), `${source}: tokenFile`);
  }
  return {
    server: cluster.server.replace(/\/+$/, ''),
    caPem,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: cluster['tls-server-name'],
    clientCertPem,
    clientKeyPem,
    bearerToken,
    source,
  };
}
