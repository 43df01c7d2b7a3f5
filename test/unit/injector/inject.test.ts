import assert from 'node:assert/strict';
import { buildInjection, InjectionDeniedError, type JsonPatchOp, type Pod } from '../../../src/injector/index.ts';
import { DEFAULTS as defaults } from './defaults.ts';


function pod(annotations: Record<string, string> | undefined, spec: Pod['spec'] = { containers: [{ name: 'app', image: 'nginx' }] }): Pod {
  return { metadata: { generateName: 'web-', ...(annotations ? { annotations } : {}) }, spec };
}

function patchOf(p: Pod): JsonPatchOp[] {
  const result = buildInjection(p, defaults);
  assert.equal(result.kind, 'patch', `expected a patch, got ${JSON.stringify(result)}`);
  return result.kind === 'patch' ? result.patch : [];
}

function denial(p: Pod): InjectionDeniedError {
  try {
    buildInjection(p, defaults);
  } catch (err) {
    assert.ok(err instanceof InjectionDeniedError, `expected InjectionDeniedError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_INJECTION_DENIED');
    return err;
  }
  assert.fail('expected a denial');
}

const agentContainer = (args: string[], uid = 65532) => ({
  name: 'kube-join',
  image: 'registry.example/kube-join:1.2.3',
  imagePullPolicy: 'IfNotPresent',
  restartPolicy: 'Always',
  args,
  env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
  ports: [{ name: 'health', containerPort: 8087, protocol: 'TCP' }],
  startupProbe: { httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 1, failureThreshold: 300 },
  livenessProbe: { httpGet: { path: '/livez', port: 'health' }, periodSeconds: 10, failureThreshold: 3 },
  readinessProbe: { httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 10, failureThreshold: 3 },
  volumeMounts: [
    { name: 'kube-join-token', mountPath: '/var/run/secrets/tokens', readOnly: true },
    { name: 'kube-join-certs', mountPath: '/var/run/kube-join' },
    { name: 'kube-join-tmp', mountPath: '/tmp' },
    { name: 'kube-join-ca', mountPath: '/var/run/kube-join/ca', readOnly: true },
  ],
  resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } },
  securityContext: {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  },
});

const baseArgs = ['agent', '--auth-addr', 'kube-join-auth.kube-join.svc:3025', '--token-name', 'kube-token', '--cluster-name', 'prod', '--ca-file', '/var/run/kube-join/ca/ca.crt', '--out-dir', '/var/run/kube-join', '--health-addr', '0.0.0.0:8087'];

const volumes = [
  { name: 'kube-join-token', projected: { sources: [{ serviceAccountToken: { audience: 'prod', expirationSeconds: 600, path: 'kube-join' } }] } },
  { name: 'kube-join-certs', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
  { name: 'kube-join-tmp', emptyDir: { sizeLimit: '16Mi' } },
  { name: 'kube-join-ca', configMap: { name: 'kube-join-ca-bundle', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
];

describe('buildInjection', () => {
  it('injects a bare pod: sidecar, volumes, read-only mount, status annotation, exactly', () => {
    assert.deepEqual(patchOf(pod({ 'kube-join.io/inject': 'true' })), [
      { op: 'add', path: '/spec/initContainers', value: [agentContainer(baseArgs)] },
      { op: 'add', path: '/spec/volumes', value: volumes },
      { op: 'add', path: '/spec/containers/0/volumeMounts', value: [{ name: 'kube-join-certs', mountPath: '/var/run/kube-join', readOnly: true }] },
      { op: 'add', path: '/metadata/annotations/kube-join.io~1status', value: 'injected' },
    ]);
  });

  it('appends to what the pod already has, and puts the agent first among the init containers', () => {
    const p = pod({ 'kube-join.io/inject': 'True' }, {
      initContainers: [{ name: 'migrate' }],
      containers: [{ name: 'app', volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { name: 'proxy' }],
      volumes: [{ name: 'data', emptyDir: {} }],
    });
    assert.deepEqual(patchOf(p), [
      { op: 'add', path: '/spec/initContainers/0', value: agentContainer(baseArgs) },
      ...volumes.map((value) => ({ op: 'add', path: '/spec/volumes/-', value })),
      { op: 'add', path: '/spec/containers/0/volumeMounts/-', value: { name: 'kube-join-certs', mountPath: '/var/run/kube-join', readOnly: true } },
      { op: 'add', path: '/spec/containers/1/volumeMounts', value: [{ name: 'kube-join-certs', mountPath: '/var/run/kube-join', readOnly: true }] },
      { op: 'add', path: '/metadata/annotations/kube-join.io~1status', value: 'injected' },
    ]);
  });

  it('annotations set the token name, roles, apps, output path; fsGroup becomes --group', () => {
    const p = pod({
      'kube-join.io/inject': 'true',
      'kube-join.io/token-name': 'web-token',
      'kube-join.io/roles': 'App, Db',
      'kube-join.io/apps': 'grafana=http://localhost:3000,api=https://localhost:8443',
      'kube-join.io/output-path': '/etc/certs',
    }, { securityContext: { fsGroup: 2000 }, containers: [{ name: 'app' }] });
    const [sidecar] = patchOf(p);
    const container = (sidecar?.value as Record<string, unknown>[])[0] as { args: string[]; volumeMounts: { mountPath: string }[] };
    assert.deepEqual(container.args, ['agent', '--auth-addr', 'kube-join-auth.kube-join.svc:3025', '--token-name', 'web-token', '--cluster-name', 'prod', '--ca-file', '/var/run/kube-join/ca/ca.crt', '--out-dir', '/etc/certs', '--health-addr', '0.0.0.0:8087', '--group', '2000', '--roles', 'App,Db', '--app', 'grafana=http://localhost:3000', '--app', 'api=https://localhost:8443']);
    assert.equal(container.volumeMounts[1]?.mountPath, '/etc/certs');
    assert.deepEqual(patchOf(p)[2], { op: 'add', path: '/spec/containers/0/volumeMounts', value: [{ name: 'kube-join-certs', mountPath: '/etc/certs', readOnly: true }] });
  });

  it('notify: the agent gets the flags and the app\'s uid, and the pod shares its process namespace', () => {
    const p = pod({ 'kube-join.io/inject': 'true', 'kube-join.io/notify-signal': 'hup', 'kube-join.io/notify-process': 'nginx' }, { securityContext: { runAsUser: 101 }, containers: [{ name: 'app' }] });
    const result = buildInjection(p, defaults);
    assert.equal(result.kind, 'patch');
    if (result.kind !== 'patch') return;
    assert.deepEqual(result.patch[0]?.value, [agentContainer([...baseArgs, '--notify-signal', 'SIGHUP', '--notify-process', 'nginx'], 101)]);
    assert.deepEqual(result.patch.at(-2), { op: 'add', path: '/spec/shareProcessNamespace', value: true });
    assert.deepEqual(result.warnings, []);
  });

  it('notify with no known app uid keeps 65532 and warns why the signal may fail', () => {
    const result = buildInjection(pod({ 'kube-join.io/inject': 'true', 'kube-join.io/notify-signal': 'SIGHUP', 'kube-join.io/notify-process': 'nginx' }), defaults);
    assert.equal(result.kind, 'patch');
    if (result.kind !== 'patch') return;
    assert.deepEqual(result.warnings, ['kube-join.io/notify-signal: the app containers\' uid is not set (runAsUser), so the agent runs as 65532 and can signal "nginx" only if it runs as 65532 too; set runAsUser on the pod or the app containers']);
  });

  it('leaves a pod without the annotation, or with "false", untouched', () => {
    assert.deepEqual(buildInjection(pod(undefined), defaults), { kind: 'skip', reason: 'not requested' });
    assert.deepEqual(buildInjection(pod({ 'kube-join.io/inject': 'false', 'kube-join.io/roles': ',,' }), defaults), { kind: 'skip', reason: 'not requested' });
  });

  it('is idempotent: an injected pod (status annotation, or the agent container) gets nothing more', () => {
    const injected = pod({ 'kube-join.io/inject': 'true', 'kube-join.io/status': 'injected' });
    assert.deepEqual(buildInjection(injected, defaults), { kind: 'skip', reason: 'already injected' });
    const withContainer = pod({ 'kube-join.io/inject': 'true' }, { initContainers: [{ name: 'kube-join' }], containers: [{ name: 'app' }] });
    assert.deepEqual(buildInjection(withContainer, defaults), { kind: 'skip', reason: 'already injected' });
  });

  describe('denies bad annotations, naming the annotation', () => {
    const cases: [string, Record<string, string>, string][] = [
      ['an inject value that is not a boolean', { 'kube-join.io/inject': 'yes' }, 'kube-join.io/inject: must be "true" or "false" (got "yes")'],
      ['an empty role in the list', { 'kube-join.io/roles': 'App,,Db' }, 'kube-join.io/roles: must be role names separated by commas, e.g. "App" or "App,Db" (got "App,,Db")'],
      ['an app without a uri', { 'kube-join.io/apps': 'grafana' }, 'kube-join.io/apps: entries must be name=uri with a DNS-1123 name, separated by commas (got "grafana")'],
      ['a relative output path', { 'kube-join.io/output-path': 'certs' }, 'kube-join.io/output-path: must be an absolute, normalised directory path other than / (got "certs")'],
      ['an output path over the token mount', { 'kube-join.io/output-path': '/var/run/secrets/tokens' }, 'kube-join.io/output-path: must not be /var/run/secrets/tokens, /var/run/kube-join/ca or /tmp, which the agent mounts for itself (got "/var/run/secrets/tokens")'],
      ['an unknown signal', { 'kube-join.io/notify-signal': 'SIGNOPE', 'kube-join.io/notify-process': 'nginx' }, 'kube-join.io/notify-signal: must be a signal name such as SIGHUP (got "SIGNOPE")'],
      ['a signal without a process', { 'kube-join.io/notify-signal': 'SIGHUP' }, 'kube-join.io/notify-process: is required with kube-join.io/notify-signal: the name of the app\'s process to signal (e.g. "nginx")'],
      ['an empty token name', { 'kube-join.io/token-name': ' ' }, 'kube-join.io/token-name: is empty; remove it for the default'],
      ['a token name that cannot be one', { 'kube-join.io/token-name': 'Kube Token' }, 'kube-join.io/token-name: must be a provision token name (lower-case letters, digits, "-" and "."; got "Kube Token")'],
    ];
    for (const [what, extra, message] of cases) {
      it(what, () => {
        const err = denial(pod({ 'kube-join.io/inject': 'true', ...extra }));
        assert.equal(err.message, message);
        assert.equal(err.field, message.split(':')[0]);
      });
    }

    it('no token name from the annotation nor the injector', () => {
      assert.throws(() => buildInjection(pod({ 'kube-join.io/inject': 'true' }), { ...defaults, tokenName: undefined }), {
        code: 'ERR_INJECTION_DENIED',
        message: 'kube-join.io/token-name: is required: the injector has no default provision token (--token-name)',
      });
    });

    it('a pod that already uses a name or the port the injector adds', () => {
      const err = denial(pod({ 'kube-join.io/inject': 'true' }, { containers: [{ name: 'app' }], volumes: [{ name: 'kube-join-certs', emptyDir: {} }] }));
      assert.equal(err.message, 'spec.volumes: a volume named "kube-join-certs" already exists; the injector adds its own');
      const mounted = denial(pod({ 'kube-join.io/inject': 'true' }, { containers: [{ name: 'app', volumeMounts: [{ name: 'x', mountPath: '/var/run/kube-join' }] }] }));
      assert.equal(mounted.message, 'kube-join.io/output-path: container "app" already mounts something at /var/run/kube-join; choose another path');
      const port = denial(pod({ 'kube-join.io/inject': 'true' }, { containers: [{ name: 'app', ports: [{ containerPort: 8087 }] }] }));
      assert.equal(port.message, 'spec.containers: container "app" uses port 8087, which the agent\'s health server listens on (the injector\'s --agent-health-port)');
    });
  });
});
