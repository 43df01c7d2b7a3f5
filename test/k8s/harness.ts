/**
 * A real Kubernetes control plane for the k8s test tier: etcd + kube-apiserver on free loopback ports,
 * in a temp dir, with RBAC, ServiceAccount token signing (issuer = the apiserver's own https URL, so its
 * OIDC discovery endpoints are the issuer's), and anonymous access to those discovery endpoints. No
 * kubelet, scheduler or controller-manager: Pods stay Pending, which is all TokenRequest needs to bind
 * a token to one.
 *
 * Binaries come from $KUBE_JOIN_K8S_BIN (default ~/.cache/kube-join/k8s/bin, built by
 * scripts/k8s-tools). A missing binary fails the tier with a message saying how to build it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile, mkdir, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { stringify as toYaml } from 'yaml';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
  type JsonName,
} from '../../src/common/x509.ts';
import { subtle } from '../../src/common/crypto.ts';
import { privateKeyPem } from '../../src/common/pem.ts';
import { createKubeClient, loadKubeconfig, KubeApiError, type KubeClient } from '../../src/kube/index.ts';
import { K8S_BIN_DIR, k8sBinary } from '../support/k8s-bin.ts';

export { K8S_BIN_DIR, k8sBinary };

const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
const POLL_MS = 200;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams;

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface KubeCluster {
  /** `https://127.0.0.1:<port>`: the API server, and the ServiceAccount token issuer. */
  readonly server: string;
  readonly issuer: string;
  /** CA of the apiserver's serving certificate (and of client certificates). */
  readonly caFile: string;
  readonly caPem: string;
  readonly dir: string;
  /** Client as system:masters. */
  readonly admin: KubeClient;
  readonly adminKubeconfig: string;
  /** Milliseconds from spawning etcd to the apiserver's /readyz answering ok. */
  readonly startupMs: number;
  createNamespace(name: string): Promise<void>;
  createServiceAccount(namespace: string, name: string): Promise<void>;
  /** A Pod with no node: it stays Pending. */
  createPod(namespace: string, name: string, serviceAccount: string): Promise<PodRef>;
  /** Deletes a Pod and waits until the API no longer has it. */
  deletePod(namespace: string, name: string): Promise<void>;
  /** TokenRequest for a ServiceAccount: bound to `pod` when given, else unbound. */
  requestToken(namespace: string, serviceAccount: string, options: { audiences: string[]; pod?: PodRef; expirationSeconds?: number }): Promise<string>;
  createClusterRoleBinding(name: string, clusterRole: string, subjects: { kind: 'ServiceAccount' | 'Group' | 'User'; name: string; namespace?: string }[]): Promise<void>;
  /** A namespaced Role (409 AlreadyExists counts as done). */
  createRole(namespace: string, name: string, rules: PolicyRule[]): Promise<void>;
  /** Binds a Role of `namespace` to ServiceAccounts (409 AlreadyExists counts as done). */
  createRoleBinding(namespace: string, name: string, role: string, serviceAccounts: { namespace: string; name: string }[]): Promise<void>;
  /**
   * A client that authenticates with a client certificate of the cluster CA, as a kubelet does
   * (`system:node:<name>` in group `system:nodes`).
   */
  clientAs(user: string, groups: readonly string[]): Promise<KubeClient>;
  /** Writes a kubeconfig that uses `token` (e.g. a ServiceAccount's) against this cluster. */
  writeKubeconfig(path: string, token: string): Promise<void>;
  /**
   * Restarts the apiserver with a new ServiceAccount signing key; every earlier public key stays a
   * verification key (--service-account-key-file), as a cluster operator rotates. Returns the restart time in ms.
   */
  rotateSigningKey(): Promise<number>;
  stop(): Promise<void>;
}

interface Managed {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  logFile: string;
}

/** Everything started by any harness in this process, for the 'exit' safety net. */
const live = new Set<{ pids: () => number[]; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const entry of live) {
      for (const pid of entry.pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(entry.dir, { recursive: true, force: true });
    }
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function tail(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function startProcess(name: string, bin: string, args: string[], logFile: string): Managed {
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return { name, child, exited, logFile };
}

async function stopProcess(p: Managed | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), STOP_GRACE_MS);
  await p.exited;
  clearTimeout(timer);
}

/** Polls `check` until it returns true; fails early if `proc` exits, and after `timeoutMs`. */
async function waitUntil(what: string, proc: Managed, check: () => Promise<boolean>, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${what}; last log lines:\n${tail(proc.logFile)}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000}s (${last}); last ${proc.name} log lines:\n${tail(proc.logFile)}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

interface Pki {
  caPem: string;
  /** A client certificate of this cluster's CA: CN = user, O = each group. */
  clientCert(user: string, groups: readonly string[]): Promise<{ certPem: string; keyPem: string }>;
  servingCertPem: string;
  servingKeyPem: string;
  adminCertPem: string;
  adminKeyPem: string;
}

async function makePki(): Promise<Pki> {
  const now = Date.now();
  const notBefore = new Date(now - 60_000);
  const notAfter = new Date(now + 24 * 3600_000);
  const caKeys = await subtle.generateKey(EC, true, ['sign', 'verify']);
  const ca = await X509CertificateGenerator.createSelfSigned({
    name: 'CN=kube-join test cluster CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGNING,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const leaf = async (subject: string | JsonName, usage: 'server' | 'client', sans: { type: 'ip' | 'dns'; value: string }[]) => {
    const keys = await subtle.generateKey(EC, true, ['sign', 'verify']);
    const cert: X509Certificate = await X509CertificateGenerator.create({
      subject,
      issuer: ca.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
        new ExtendedKeyUsageExtension([usage === 'server' ? ExtendedKeyUsage.serverAuth : ExtendedKeyUsage.clientAuth], false),
        ...(sans.length > 0 ? [new SubjectAlternativeNameExtension(sans, false)] : []),
        await AuthorityKeyIdentifierExtension.create(ca),
      ],
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: privateKeyPem(await subtle.exportKey('pkcs8', keys.privateKey)) };
  };
  const serving = await leaf('CN=kube-apiserver', 'server', [
    { type: 'ip', value: '127.0.0.1' },
    { type: 'dns', value: 'localhost' },
    { type: 'dns', value: 'kubernetes.default.svc' },
  ]);
  const admin = await leaf('CN=kube-join-test-admin, O=system:masters', 'client', []);
  const clientCert = (user: string, groups: readonly string[]) => leaf([{ CN: [user] }, ...groups.map((g) => ({ O: [g] }))], 'client', []);
  return { caPem: ca.toString('pem') + '\n', clientCert, servingCertPem: serving.certPem, servingKeyPem: serving.keyPem, adminCertPem: admin.certPem, adminKeyPem: admin.keyPem };
}

function newSigningKey(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

/** Starts etcd and kube-apiserver and waits until the apiserver is ready. */
export async function startKubeCluster(): Promise<KubeCluster> {
  const etcdBin = k8sBinary('etcd');
  const apiserverBin = k8sBinary('kube-apiserver');
  installExitHook();
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'kube-join-k8s-'));
  let etcd: Managed | undefined;
  let apiserver: Managed | undefined;
  const entry = { pids: () => [apiserver?.child.pid, etcd?.child.pid].filter((p): p is number => p !== undefined), dir };
  live.add(entry);
  let admin: KubeClient | undefined;

  const stopAll = async () => {
    admin?.close();
    await stopProcess(apiserver);
    await stopProcess(etcd);
    rmSync(dir, { recursive: true, force: true });
    live.delete(entry);
  };

  try {
    const [etcdPort, peerPort, securePort] = [await freePort(), await freePort(), await freePort()];
    const server = `https://127.0.0.1:${securePort}`;
    const pki = await makePki();
    const files = {
      ca: join(dir, 'ca.crt'),
      cert: join(dir, 'apiserver.crt'),
      key: join(dir, 'apiserver.key'),
      adminCert: join(dir, 'admin.crt'),
      adminKey: join(dir, 'admin.key'),
      adminKubeconfig: join(dir, 'admin.kubeconfig'),
    };
    await writeFile(files.ca, pki.caPem);
    await writeFile(files.cert, pki.servingCertPem);
    await writeFile(files.key, pki.servingKeyPem, { mode: 0o600 });
    await writeFile(files.adminCert, pki.adminCertPem);
    await writeFile(files.adminKey, pki.adminKeyPem, { mode: 0o600 });

    // ServiceAccount signing keys: the last is the signing key; all public halves verify.
    const saKeys: { privateFile: string; publicFile: string }[] = [];
    const addSigningKey = async () => {
      const k = newSigningKey();
      const n = saKeys.length;
      const privateFile = join(dir, `sa-${n}.key`);
      const publicFile = join(dir, `sa-${n}.pub`);
      await writeFile(privateFile, k.privatePem, { mode: 0o600 });
      await writeFile(publicFile, k.publicPem);
      saKeys.push({ privateFile, publicFile });
    };
    await addSigningKey();

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    await mkdir(join(dir, 'etcd'), { mode: 0o700 });
    etcd = startProcess('etcd', etcdBin, [
      '--name=test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ], join(dir, 'etcd.log'));
    const etcdProc = etcd;
    await waitUntil('etcd /health', etcdProc, async () => {
      const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    });

    const startApiserver = () =>
      startProcess('kube-apiserver', apiserverBin, [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${securePort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${files.cert}`,
        `--tls-private-key-file=${files.key}`,
        `--client-ca-file=${files.ca}`,
        '--authorization-mode=Node,RBAC',
        // NodeRestriction limits what a node may create (PodCertificateRequests only for its own pods);
        // v1beta1 of certificates.k8s.io is off by default, and the podCertificate signer is tested on both versions.
        '--enable-admission-plugins=NodeRestriction',
        '--runtime-config=certificates.k8s.io/v1beta1=true',
        '--anonymous-auth=true',
        ...saKeys.map((k) => `--service-account-key-file=${k.publicFile}`),
        `--service-account-signing-key-file=${(saKeys[saKeys.length - 1] as { privateFile: string }).privateFile}`,
        `--service-account-issuer=${server}`,
        `--api-audiences=${server}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        '--endpoint-reconciler-type=none',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        '--v=1',
      ], join(dir, 'kube-apiserver.log'));

    const waitReady = async (proc: Managed) =>
      waitUntil('kube-apiserver /readyz', proc, async () => {
        const res = await got(`${server}/readyz`, {
          https: { certificateAuthority: pki.caPem, certificate: pki.adminCertPem, key: pki.adminKeyPem },
          timeout: { request: 5000 },
          retry: { limit: 0 },
          throwHttpErrors: false,
        });
        return res.statusCode === 200;
      });

    apiserver = startApiserver();
    await waitReady(apiserver);
    const startupMs = Date.now() - started;

    await writeFile(
      files.adminKubeconfig,
      toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server, 'certificate-authority': files.ca } }],
        users: [{ name: 'admin', user: { 'client-certificate': files.adminCert, 'client-key': files.adminKey } }],
        contexts: [{ name: 'admin@test', context: { cluster: 'test', user: 'admin' } }],
        'current-context': 'admin@test',
      }),
      { mode: 0o600 },
    );
    admin = createKubeClient(await loadKubeconfig(files.adminKubeconfig), { timeoutMs: 15_000 });
    const api = admin;

    /** Creates, and treats 409 AlreadyExists as done. */
    const create = async (path: string, body: unknown) => {
      try {
        await api.request('POST', path, { body });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      }
    };
    const createClusterRoleBinding: KubeCluster['createClusterRoleBinding'] = (name, clusterRole, subjects) =>
      create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
        subjects: subjects.map((s) => (s.kind === 'ServiceAccount' ? { kind: s.kind, name: s.name, namespace: s.namespace } : { kind: s.kind, name: s.name, apiGroup: 'rbac.authorization.k8s.io' })),
      });
    /** A kubeconfig for this cluster as `user` (a kubeconfig user entry named `name`, context `<name>@test`), readable by its owner only. */
    const writeUserKubeconfig = async (path: string, name: string, user: Record<string, string>) => {
      await writeFile(
        path,
        toYaml({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': Buffer.from(pki.caPem).toString('base64') } }],
          users: [{ name, user }],
          contexts: [{ name: `${name}@test`, context: { cluster: 'test', user: name } }],
          'current-context': `${name}@test`,
        }),
        { mode: 0o600 },
      );
      await chmod(path, 0o600);
    };
    // The issuer's discovery document and JWKS, readable without credentials (as public clusters do).
    await createClusterRoleBinding('kube-join-test:oidc-discovery', 'system:service-account-issuer-discovery', [{ kind: 'Group', name: 'system:unauthenticated' }]);

    return {
      server,
      issuer: server,
      caFile: files.ca,
      caPem: pki.caPem,
      dir,
      admin: api,
      adminKubeconfig: files.adminKubeconfig,
      startupMs,
      createNamespace: (name) => create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
      createServiceAccount: (namespace, name) => create(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } }),
      async createPod(namespace, name, serviceAccount) {
        const pod = await api.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${namespace}/pods`, {
          body: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name },
            spec: { serviceAccountName: serviceAccount, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'registry.invalid/app:test' }] },
          },
        });
        return { namespace, name, uid: pod.metadata.uid };
      },
      async deletePod(namespace, name) {
        await api.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`, { body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } });
        const deadline = Date.now() + 30_000;
        for (;;) {
          try {
            await api.request('GET', `/api/v1/namespaces/${namespace}/pods/${name}`);
          } catch (err) {
            if (err instanceof KubeApiError && err.status === 404) return;
            throw err;
          }
          if (Date.now() > deadline) throw new Error(`pod ${namespace}/${name} still exists 30s after its deletion`);
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
      },
      async requestToken(namespace, serviceAccount, options) {
        const res = await api.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              audiences: options.audiences,
              expirationSeconds: options.expirationSeconds ?? 600,
              ...(options.pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: options.pod.name, uid: options.pod.uid } } : {}),
            },
          },
        });
        return res.status.token;
      },
      createClusterRoleBinding,
      createRole: (namespace, name, rules) =>
        create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules }),
      createRoleBinding: (namespace, name, role, serviceAccounts) =>
        create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
          subjects: serviceAccounts.map((sa) => ({ kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace })),
        }),
      async clientAs(user, groups) {
        const { certPem, keyPem } = await pki.clientCert(user, groups);
        const path = join(dir, `client-${user.replace(/[^a-z0-9-]/gi, '_')}.kubeconfig`);
        await writeUserKubeconfig(path, 'cert', { 'client-certificate-data': Buffer.from(certPem).toString('base64'), 'client-key-data': Buffer.from(keyPem).toString('base64') });
        return createKubeClient(await loadKubeconfig(path), { timeoutMs: 15_000 });
      },
      writeKubeconfig: (path, token) => writeUserKubeconfig(path, 'sa', { token }),
      async rotateSigningKey() {
        const t0 = Date.now();
        await stopProcess(apiserver);
        await addSigningKey();
        apiserver = startApiserver();
        await waitReady(apiserver);
        return Date.now() - t0;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

let shared: Promise<KubeCluster> | undefined;

/**
 * One cluster for every test file of this mocha run that asks for it: started on the first call,
 * stopped by a root `after` hook (registered when this module loads under mocha). Files that share it
 * keep to their own namespaces.
 */
export function sharedKubeCluster(): Promise<KubeCluster> {
  shared ??= startKubeCluster();
  return shared;
}

if (typeof after === 'function') {
  after(async function () {
    this.timeout(60_000);
    const cluster = await shared?.catch(() => undefined);
    shared = undefined;
    await cluster?.stop();
  });
}
