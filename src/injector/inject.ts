import { constants as osConstants } from 'node:os';
import { posix } from 'node:path';
import {
  CA_BUNDLE_DIR,
  CA_BUNDLE_KEY,
  CA_BUNDLE_PATH,
  PROJECTED_TOKEN_DIR,
  PROJECTED_TOKEN_EXPIRATION_SECONDS,
  PROJECTED_TOKEN_FILE,
  parseAppSpec,
  type AppSpec,
} from '../protocol/index.ts';
import { ANNOTATIONS, STATUS_INJECTED } from '../protocol/annotations.ts';
import { InjectionDeniedError } from './errors.ts';
import { pointerToken, type Container, type JsonPatchOp, type Pod, type SecurityContext, type Volume, type VolumeMount } from './pod.ts';

/** What the injector's flags decide for every pod; annotations override some of it per pod. */
export interface InjectionDefaults {
  /** The agent's --auth-addr. */
  authAddr: string;
  /** The agent's --cluster-name and the projected token's audience. */
  clusterName: string;
  image: string;
  imagePullPolicy: string;
  /** Provision token name when the pod names none; undefined: the pod must. */
  tokenName: string | undefined;
  outDir: string;
  /** ConfigMap holding the auth's CA bundle (key ca.crt) in the pod's namespace. */
  caBundleConfigMap: string;
  healthPort: number;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}

/** Names the injector gives what it adds; prefixed so they do not clash with the app's own. */
export const AGENT_CONTAINER = 'kube-join';
export const VOLUMES = {
  token: 'kube-join-token',
  certs: 'kube-join-certs',
  tmp: 'kube-join-tmp',
  ca: 'kube-join-ca',
} as const;

/** The agent's container security context, as the agent chart's default. */
const AGENT_UID = 65532;
const AGENT_SECURITY_CONTEXT: SecurityContext = {
  runAsNonRoot: true,
  runAsUser: AGENT_UID,
  runAsGroup: AGENT_UID,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export type InjectionResult =
  | { kind: 'skip'; reason: 'not requested' | 'already injected' }
  /** `warnings` go back to the client (kubectl prints them), as admission warnings. */
  | { kind: 'patch'; patch: JsonPatchOp[]; warnings: string[] };

/** What one pod's annotations ask for, checked. */
interface InjectionRequest {
  tokenName: string;
  roles: string[];
  apps: AppSpec[];
  outDir: string;
  notify: { signal: string; process: string } | undefined;
}

const ROLE = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
const PROCESS_NAME = /^[^\s/]{1,255}$/;
const TOKEN_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function annotationsOf(pod: Pod): Record<string, string> {
  return pod.metadata?.annotations ?? {};
}

/** Whether the pod asks for injection: `kube-join.io/inject` is `true` (any case), `false` or absent. */
function requested(annotations: Record<string, string>): boolean {
  const value = annotations[ANNOTATIONS.inject];
  if (value === undefined) return false;
  const lower = value.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw new InjectionDeniedError(ANNOTATIONS.inject, `must be "true" or "false" (got ${JSON.stringify(value)})`);
}

function nonEmpty(annotations: Record<string, string>, name: string): string | undefined {
  const value = annotations[name]?.trim();
  if (value === '') throw new InjectionDeniedError(name, 'is empty; remove it for the default');
  return value;
}

function parseRequest(annotations: Record<string, string>, defaults: InjectionDefaults): InjectionRequest {
  const tokenName = nonEmpty(annotations, ANNOTATIONS.tokenName) ?? defaults.tokenName;
  if (tokenName === undefined) throw new InjectionDeniedError(ANNOTATIONS.tokenName, 'is required: the injector has no default provision token (--token-name)');
  if (!TOKEN_NAME.test(tokenName)) throw new InjectionDeniedError(ANNOTATIONS.tokenName, `must be a provision token name (lower-case letters, digits, "-" and "."; got ${JSON.stringify(tokenName)})`);

  const rolesText = nonEmpty(annotations, ANNOTATIONS.roles);
  const roles = rolesText === undefined ? [] : rolesText.split(',').map((r) => r.trim());
  const badRole = roles.find((r) => !ROLE.test(r));
  if (badRole !== undefined) throw new InjectionDeniedError(ANNOTATIONS.roles, `must be role names separated by commas, e.g. "App" or "App,Db" (got ${JSON.stringify(rolesText)})`);

  const appsText = nonEmpty(annotations, ANNOTATIONS.apps);
  const apps = (appsText === undefined ? [] : appsText.split(',')).map((entry) => {
    const app = parseAppSpec(entry.trim());
    if (app === undefined) throw new InjectionDeniedError(ANNOTATIONS.apps, `entries must be name=uri with a DNS-1123 name, separated by commas (got ${JSON.stringify(entry.trim())})`);
    return app;
  });

  const outDir = nonEmpty(annotations, ANNOTATIONS.outputPath) ?? defaults.outDir;
  if (!posix.isAbsolute(outDir) || posix.normalize(outDir) !== outDir || outDir === '/' || outDir.endsWith('/')) {
    throw new InjectionDeniedError(ANNOTATIONS.outputPath, `must be an absolute, normalised directory path other than / (got ${JSON.stringify(outDir)})`);
  }
  if ([PROJECTED_TOKEN_DIR, CA_BUNDLE_DIR, '/tmp'].some((taken) => outDir === taken || outDir.startsWith(`${taken}/`))) {
    throw new InjectionDeniedError(ANNOTATIONS.outputPath, `must not be ${PROJECTED_TOKEN_DIR}, ${CA_BUNDLE_DIR} or /tmp, which the agent mounts for itself (got ${JSON.stringify(outDir)})`);
  }

  const signalText = nonEmpty(annotations, ANNOTATIONS.notifySignal);
  const processName = nonEmpty(annotations, ANNOTATIONS.notifyProcess);
  let notify: InjectionRequest['notify'];
  if (signalText !== undefined || processName !== undefined) {
    if (signalText === undefined) throw new InjectionDeniedError(ANNOTATIONS.notifySignal, `is required with ${ANNOTATIONS.notifyProcess} (e.g. "SIGHUP")`);
    if (processName === undefined) throw new InjectionDeniedError(ANNOTATIONS.notifyProcess, `is required with ${ANNOTATIONS.notifySignal}: the name of the app's process to signal (e.g. "nginx")`);
    const signal = signalText.toUpperCase().startsWith('SIG') ? signalText.toUpperCase() : `SIG${signalText.toUpperCase()}`;
    if (!(signal in osConstants.signals)) throw new InjectionDeniedError(ANNOTATIONS.notifySignal, `must be a signal name such as SIGHUP (got ${JSON.stringify(signalText)})`);
    if (!PROCESS_NAME.test(processName)) throw new InjectionDeniedError(ANNOTATIONS.notifyProcess, `must be a process name without spaces or "/" (got ${JSON.stringify(processName)})`);
    notify = { signal, process: processName };
  }
  return { tokenName, roles, apps, outDir, notify };
}

/** Names and the port the injector adds that the pod must not use already. */
function checkNoClash(pod: Pod, outDir: string, healthPort: number): void {
  const spec = pod.spec ?? {};
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  if (containers.some((c) => c.name === AGENT_CONTAINER)) throw new InjectionDeniedError('spec.containers', `a container named "${AGENT_CONTAINER}" already exists; the injector adds its own`);
  // The containers share one network namespace: the agent's health server and the app cannot both bind it.
  const taken = containers.find((c) => (c.ports ?? []).some((p) => p.containerPort === healthPort));
  if (taken !== undefined) throw new InjectionDeniedError('spec.containers', `container "${taken.name}" uses port ${healthPort}, which the agent's health server listens on (the injector's --agent-health-port)`);
  const ours = new Set<string>(Object.values(VOLUMES));
  const volume = (spec.volumes ?? []).find((v) => ours.has(v.name));
  if (volume !== undefined) throw new InjectionDeniedError('spec.volumes', `a volume named "${volume.name}" already exists; the injector adds its own`);
  for (const c of spec.containers ?? []) {
    if ((c.volumeMounts ?? []).some((m) => m.mountPath === outDir)) throw new InjectionDeniedError(ANNOTATIONS.outputPath, `container "${c.name}" already mounts something at ${outDir}; choose another path`);
  }
}

/**
 * The uid the agent runs as. Without notify, the chart's 65532. With notify, the app's uid when every
 * app container's is known and not root: a process may signal another uid's only with CAP_KILL, which a
 * non-root container process does not get from `capabilities.add` (no ambient capabilities).
 */
function agentUid(pod: Pod, notify: InjectionRequest['notify'], warnings: string[]): number {
  if (notify === undefined) return AGENT_UID;
  const uids = new Set((pod.spec?.containers ?? []).map((c) => c.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser));
  const [uid] = uids;
  if (uids.size === 1 && uid !== undefined && uid !== 0) return uid;
  warnings.push(`${ANNOTATIONS.notifySignal}: the app containers' uid is ${uids.size > 1 ? 'not the same in all of them' : uid === 0 ? 'root' : 'not set (runAsUser)'}, so the agent runs as ${AGENT_UID} and can signal "${notify.process}" only if it runs as ${AGENT_UID} too; set runAsUser on the pod or the app containers`);
  return AGENT_UID;
}

function agentArgs(req: InjectionRequest, defaults: InjectionDefaults, fsGroup: number | undefined): string[] {
  const args = ['agent', '--auth-addr', defaults.authAddr, '--token-name', req.tokenName, '--cluster-name', defaults.clusterName, '--ca-file', CA_BUNDLE_PATH, '--out-dir', req.outDir, '--health-addr', `0.0.0.0:${defaults.healthPort}`];
  if (fsGroup !== undefined) args.push('--group', String(fsGroup));
  if (req.roles.length > 0) args.push('--roles', req.roles.join(','));
  for (const app of req.apps) args.push('--app', `${app.name}=${app.uri}`);
  if (req.notify !== undefined) args.push('--notify-signal', req.notify.signal, '--notify-process', req.notify.process);
  return args;
}

/** The agent as a native sidecar: the agent chart's sidecar container, with the CA bundle mounted. */
function agentContainer(req: InjectionRequest, defaults: InjectionDefaults, pod: Pod, uid: number): Container {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({ httpGet: { path, port: 'health' }, periodSeconds, failureThreshold });
  const mounts: VolumeMount[] = [
    { name: VOLUMES.token, mountPath: PROJECTED_TOKEN_DIR, readOnly: true },
    { name: VOLUMES.certs, mountPath: req.outDir },
    { name: VOLUMES.tmp, mountPath: '/tmp' },
    { name: VOLUMES.ca, mountPath: CA_BUNDLE_DIR, readOnly: true },
  ];
  return {
    name: AGENT_CONTAINER,
    image: defaults.image,
    imagePullPolicy: defaults.imagePullPolicy,
    // A native sidecar: started before the app, kept running beside it, stopped after it.
    restartPolicy: 'Always',
    args: agentArgs(req, defaults, pod.spec?.securityContext?.fsGroup),
    env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
    ports: [{ name: 'health', containerPort: defaults.healthPort, protocol: 'TCP' }],
    // The app starts only once this passes: /readyz answers 200 when a valid set is on disk.
    startupProbe: probe('/readyz', 1, 300),
    livenessProbe: probe('/livez', 10, 3),
    readinessProbe: probe('/readyz', 10, 3),
    volumeMounts: mounts,
    resources: { requests: { ...defaults.resources.requests }, limits: { ...defaults.resources.limits } },
    securityContext: { ...structuredClone(AGENT_SECURITY_CONTEXT), runAsUser: uid },
  };
}

function podVolumes(defaults: InjectionDefaults): Volume[] {
  return [
    { name: VOLUMES.token, projected: { sources: [{ serviceAccountToken: { audience: defaults.clusterName, expirationSeconds: PROJECTED_TOKEN_EXPIRATION_SECONDS, path: PROJECTED_TOKEN_FILE } }] } },
    { name: VOLUMES.certs, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name: VOLUMES.tmp, emptyDir: { sizeLimit: '16Mi' } },
    { name: VOLUMES.ca, configMap: { name: defaults.caBundleConfigMap, items: [{ key: CA_BUNDLE_KEY, path: CA_BUNDLE_KEY }] } },
  ];
}

/** Ops that append `items` to the array at `path`, creating it when the pod has none. */
function append(path: string, existing: readonly unknown[] | undefined, items: readonly unknown[]): JsonPatchOp[] {
  if (existing === undefined) return [{ op: 'add', path, value: [...items] }];
  return items.map((value) => ({ op: 'add', path: `${path}/-`, value }));
}

/**
 * The JSONPatch that injects the agent into `pod`, or why nothing is done. A pure function of the pod
 * and the defaults: the webhook's whole decision. Idempotent: a pod with the status annotation or an
 * agent container already is skipped, so a reinvoked webhook never injects twice. Throws
 * InjectionDeniedError (`ERR_INJECTION_DENIED`) naming the annotation or field at fault.
 */
export function buildInjection(pod: Pod, defaults: InjectionDefaults): InjectionResult {
  const annotations = annotationsOf(pod);
  if (!requested(annotations)) return { kind: 'skip', reason: 'not requested' };
  const spec = pod.spec ?? {};
  if (annotations[ANNOTATIONS.status] === STATUS_INJECTED || (spec.initContainers ?? []).some((c) => c.name === AGENT_CONTAINER)) {
    return { kind: 'skip', reason: 'already injected' };
  }
  const req = parseRequest(annotations, defaults);
  checkNoClash(pod, req.outDir, defaults.healthPort);
  const warnings: string[] = [];
  const uid = agentUid(pod, req.notify, warnings);

  const patch: JsonPatchOp[] = [];
  // First of the init containers: later ones may already need the credentials.
  patch.push(spec.initContainers === undefined
    ? { op: 'add', path: '/spec/initContainers', value: [agentContainer(req, defaults, pod, uid)] }
    : { op: 'add', path: '/spec/initContainers/0', value: agentContainer(req, defaults, pod, uid) });
  patch.push(...append('/spec/volumes', spec.volumes, podVolumes(defaults)));
  (spec.containers ?? []).forEach((c, i) => {
    patch.push(...append(`/spec/containers/${i}/volumeMounts`, c.volumeMounts, [{ name: VOLUMES.certs, mountPath: req.outDir, readOnly: true }]));
  });
  if (req.notify !== undefined && spec.shareProcessNamespace !== true) patch.push({ op: 'add', path: '/spec/shareProcessNamespace', value: true });
  patch.push({ op: 'add', path: `/metadata/annotations/${pointerToken(ANNOTATIONS.status)}`, value: STATUS_INJECTED });
  return { kind: 'patch', patch, warnings };
}
