import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join, posix } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { resolveAgentConfig } from '../../src/agent/config.ts';
import { AGENT_OPTIONS, PROJECTED_TOKEN_PATH } from '../../src/agent/options.ts';
import { resolveAuthConfig } from '../../src/auth/config.ts';
import { AUTH_OPTIONS } from '../../src/auth/options.ts';
import { parseProvisionToken } from '../../src/auth/tokens.ts';
import type { OptionSpec } from '../../src/config/options.ts';
import { HelmError, REPO_ROOT, findOne, lintChart, renderChart, renderNotes, seedValues, type Manifest, type Values } from '../support/helm.ts';

const AGENT = 'kube-join-agent';
const AUTH = 'kube-join-auth';
const PIN = 'sha256:8e7ad1f4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a1908f7e6d5c4b3a291';

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Parses container args the way the CLI does (commander): `--flag value`, `--flag=value`, bare booleans. */
function parseFlags(table: readonly OptionSpec[], args: readonly string[]): Record<string, unknown> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const spec of table) options[spec.flag] = spec.kind === 'bool' ? { type: 'boolean' } : { type: 'string', ...(spec.repeatable ? { multiple: true } : {}) };
  const { values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false });
  const flags: Record<string, unknown> = {};
  for (const spec of table) if (values[spec.flag] !== undefined) flags[spec.key] = values[spec.flag];
  return flags;
}

/** Every `--flag` in `args` that `table` does not know. */
function unknownFlags(table: readonly OptionSpec[], args: readonly string[]): string[] {
  const known = new Set(table.map((s) => `--${s.flag}`));
  return args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0] as string).filter((f) => !known.has(f));
}

function defaultOf(table: readonly OptionSpec[], flag: string): unknown {
  const spec = table.find((s) => s.flag === flag);
  if (!spec) throw new Error(`no option --${flag}`);
  return spec.default;
}

type Obj = Record<string, any>;

function podSpecOf(manifests: readonly Manifest[]): Obj {
  const workload = manifests.find((m) => m.kind === 'Deployment' || m.kind === 'Job');
  if (!workload) throw new Error('no Deployment or Job rendered');
  return workload.spec.template.spec as Obj;
}

function agentContainer(manifests: readonly Manifest[]): Obj {
  const containers = (podSpecOf(manifests).initContainers ?? []) as Obj[];
  const found = containers.find((c) => c.name === 'kube-join');
  if (!found) throw new Error('no kube-join init container');
  return found;
}

/** The container's args without the leading `agent` / `auth` subcommand. */
function flagsOf(container: Obj, subcommand: string): string[] {
  const args = container.args as string[];
  assert.equal(args[0], subcommand);
  return args.slice(1);
}

async function rejection(promise: Promise<unknown>): Promise<HelmError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof HelmError) return err;
    throw err;
  }
  assert.fail('helm accepted the values');
}

const schemaError = (chart: string, ...lines: string[]) => [`values don't meet the specifications of the schema(s) in the following chart(s):`, `${chart}:`, ...lines].join('\n');

function without(values: Values, path: readonly string[]): Values {
  const copy = structuredClone(values) as Obj;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Obj;
  delete node[path[path.length - 1] as string];
  return copy;
}

// ---------------------------------------------------------------------------------------------------
// kube-join-agent

describe('chart kube-join-agent (real helm)', () => {
  let seed: Values;
  let rendered: Manifest[];

  before(async () => {
    seed = await seedValues(AGENT);
    rendered = await renderChart(AGENT, seed, { namespace: 'teleport-agent' });
  });

  it('passes helm lint --strict with the seed values', async () => {
    const report = await lintChart(AGENT, seed);
    assert.match(report, /^1 chart\(s\) linted, 0 chart\(s\) failed$/m);
  });

  it('renders a ServiceAccount and a Deployment whose pod uses it, with no automounted API token', () => {
    assert.deepEqual(rendered.map((m) => `${m.kind}/${m.metadata.name}`), ['ServiceAccount/teleport-app-service', 'Deployment/kube-join-agent']);
    const pod = podSpecOf(rendered);
    assert.equal(pod.serviceAccountName, 'teleport-app-service');
    assert.equal(pod.automountServiceAccountToken, false);
  });

  it('runs kube-join as a native sidecar: an init container with restartPolicy Always and the image entrypoint', () => {
    const pod = podSpecOf(rendered);
    assert.deepEqual(pod.initContainers.map((c: Obj) => c.name), ['kube-join']);
    const agent = agentContainer(rendered);
    assert.equal(agent.restartPolicy, 'Always');
    assert.equal(agent.image, 'kube-join:0.1.0');
    assert.equal(agent.command, undefined, 'the image ENTRYPOINT must run (args only)');
    assert.deepEqual(pod.containers.map((c: Obj) => c.name), ['grafana']);
  });

  it('gates the app on the first certificate set (startup probe /readyz), with /livez and /readyz probes on the health port', () => {
    const agent = agentContainer(rendered);
    assert.deepEqual(agent.ports, [{ name: 'health', containerPort: 8087, protocol: 'TCP' }]);
    assert.deepEqual(agent.startupProbe.httpGet, { path: '/readyz', port: 'health' });
    assert.deepEqual(agent.livenessProbe.httpGet, { path: '/livez', port: 'health' });
    assert.deepEqual(agent.readinessProbe.httpGet, { path: '/readyz', port: 'health' });
    const args = agent.args as string[];
    assert.equal(args[args.indexOf('--health-addr') + 1], '0.0.0.0:8087');
  });

  it('projects the ServiceAccount token with audience = clusterName and expirationSeconds 600 at the agent\'s default token path', () => {
    const pod = podSpecOf(rendered);
    const volume = pod.volumes.find((v: Obj) => v.name === 'kube-join-token');
    assert.deepEqual(volume.projected.sources, [{ serviceAccountToken: { audience: 'kube-join', expirationSeconds: 600, path: 'kube-join' } }]);
    const mount = agentContainer(rendered).volumeMounts.find((m: Obj) => m.name === 'kube-join-token');
    assert.deepEqual(mount, { name: 'kube-join-token', mountPath: '/var/run/secrets/tokens', readOnly: true });
    assert.equal(posix.join(mount.mountPath, volume.projected.sources[0].serviceAccountToken.path), PROJECTED_TOKEN_PATH);
    assert.ok(!agentContainer(rendered).args.includes('--token-path'), 'the agent finds the projected token by its default path');
  });

  it('follows clusterName into the token audience and the auth identity the agent requires', async () => {
    const manifests = await renderChart(AGENT, { ...seed, clusterName: 'prod.example' });
    const volume = podSpecOf(manifests).volumes.find((v: Obj) => v.name === 'kube-join-token');
    assert.equal(volume.projected.sources[0].serviceAccountToken.audience, 'prod.example');
    const config = resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(agentContainer(manifests), 'agent')), env: {} });
    assert.equal(config.clusterName, 'prod.example');
  });

  it('shares the certificates through an in-memory emptyDir at --out-dir, read-write in the agent and read-only in the app', () => {
    const pod = podSpecOf(rendered);
    const volume = pod.volumes.find((v: Obj) => v.name === 'kube-join-certs');
    assert.equal(volume.emptyDir.medium, 'Memory');
    const args = agentContainer(rendered).args as string[];
    const outDir = args[args.indexOf('--out-dir') + 1];
    assert.equal(outDir, defaultOf(AGENT_OPTIONS, 'out-dir'));
    assert.deepEqual(agentContainer(rendered).volumeMounts.find((m: Obj) => m.name === 'kube-join-certs'), { name: 'kube-join-certs', mountPath: outDir });
    assert.deepEqual(pod.containers[0].volumeMounts, [{ name: 'kube-join-certs', mountPath: outDir, readOnly: true }]);
  });

  it('runs the agent non-root (numeric uid) with a read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    assert.deepEqual(agentContainer(rendered).securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(agentContainer(rendered).volumeMounts.find((m: Obj) => m.name === 'tmp'), { name: 'tmp', mountPath: '/tmp' });
  });

  it('lets the app read the key: the pod fsGroup is the agent\'s --group', () => {
    const pod = podSpecOf(rendered);
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const args = agentContainer(rendered).args as string[];
    assert.equal(args[args.indexOf('--group') + 1], '65532');
  });

  it('passes only flags that `kube-join agent` has (AGENT_OPTIONS), for the seed and for every optional value', async () => {
    assert.deepEqual(unknownFlags(AGENT_OPTIONS, flagsOf(agentContainer(rendered), 'agent')), []);
    const everything: Values = {
      ...without(seed, ['caPin']),
      caFile: { secret: 'kube-join-ca', key: 'ca.crt' },
      group: 2000,
      renewal: { fraction: 0.6, jitter: 0.05, renewBefore: '15m' },
      ttl: '2h',
      logLevel: 'debug',
      extraArgs: ['--bundle'],
    };
    for (const values of [everything, { ...everything, kind: 'Job', mode: 'init', onceTimeout: '2m' }]) {
      assert.deepEqual(unknownFlags(AGENT_OPTIONS, flagsOf(agentContainer(await renderChart(AGENT, values)), 'agent')), []);
    }
  });

  it('renders args that resolveAgentConfig accepts, carrying the seed\'s values', () => {
    const flags = parseFlags(AGENT_OPTIONS, flagsOf(agentContainer(rendered), 'agent'));
    const config = resolveAgentConfig({ flags, env: {} }, { fileExists: (p) => p === PROJECTED_TOKEN_PATH });
    assert.deepEqual(config.authAddr, { host: 'kube-join-auth.kube-join.svc', port: 3025 });
    assert.equal(config.tokenName, 'kube-token');
    assert.equal(config.tokenPaths[0], PROJECTED_TOKEN_PATH);
    assert.deepEqual(config.trust, { kind: 'ca-pin', pins: [PIN] });
    assert.deepEqual(config.roles, ['App']);
    assert.deepEqual(config.apps, [{ name: 'grafana', uri: 'http://localhost:3000' }]);
    assert.equal(config.group, 65532);
    assert.deepEqual(config.health, { host: '0.0.0.0', port: 8087 });
    assert.equal(config.once, false);
  });

  it('turns renewal, ttl, logLevel, roles lists and caFile into the agent\'s settings', async () => {
    const values: Values = {
      ...without(seed, ['caPin']),
      caFile: { configMap: 'kube-join-ca', key: 'bundle.pem' },
      roles: ['App', 'Db'],
      renewal: { fraction: 0.6, jitter: 0, renewBefore: '15m' },
      ttl: '2h',
      logLevel: 'debug',
    };
    const manifests = await renderChart(AGENT, values);
    const config = resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(agentContainer(manifests), 'agent')), env: {} });
    assert.deepEqual(config.trust, { kind: 'ca-file', path: '/etc/kube-join/ca/bundle.pem' });
    assert.deepEqual(config.roles, ['App', 'Db']);
    assert.deepEqual(config.renewal, { fraction: 0.6, jitter: 0, renewBeforeMs: 15 * 60_000 });
    assert.equal(config.ttlMs, 2 * 3600_000);
    assert.equal(config.logLevel, 'debug');
    const pod = podSpecOf(manifests);
    assert.deepEqual(pod.volumes.find((v: Obj) => v.name === 'kube-join-ca'), { name: 'kube-join-ca', configMap: { name: 'kube-join-ca', items: [{ key: 'bundle.pem', path: 'bundle.pem' }] } });
    assert.deepEqual(agentContainer(manifests).volumeMounts.find((m: Obj) => m.name === 'kube-join-ca'), { name: 'kube-join-ca', mountPath: '/etc/kube-join/ca', readOnly: true });
  });

  it('leaves the agent\'s defaults to the agent: no renewal, ttl or log flags unless set', () => {
    const flags = flagsOf(agentContainer(rendered), 'agent').filter((a) => a.startsWith('--'));
    assert.deepEqual(flags, ['--auth-addr', '--token-name', '--cluster-name', '--ca-pin', '--out-dir', '--health-addr', '--group', '--roles', '--app']);
  });

  it('keeps its defaults in step with the programs: health port, out dir and cluster name', async () => {
    const values = parseYaml(await readFile(join(REPO_ROOT, 'chart', AGENT, 'values.yaml'), 'utf8')) as Obj;
    assert.equal(`0.0.0.0:${values.healthPort}`, defaultOf(AGENT_OPTIONS, 'health-addr'));
    assert.equal(values.outDir, defaultOf(AGENT_OPTIONS, 'out-dir'));
    assert.equal(values.clusterName, defaultOf(AUTH_OPTIONS, 'cluster-name'));
  });

  it('mode init with kind Job: a plain init container that joins once, with no probes, in a Job', async () => {
    const manifests = await renderChart(AGENT, { ...seed, mode: 'init', kind: 'Job', onceTimeout: '2m' });
    const job = findOne(manifests, 'Job');
    assert.equal(job.spec.template.spec.restartPolicy, 'Never');
    const agent = agentContainer(manifests);
    assert.equal(agent.restartPolicy, undefined);
    assert.equal(agent.startupProbe, undefined);
    assert.equal(agent.livenessProbe, undefined);
    assert.equal(agent.readinessProbe, undefined);
    const config = resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(agent, 'agent')), env: {} });
    assert.equal(config.once, true);
    assert.equal(config.onceTimeoutMs, 120_000);
  });

  it('a Job can keep the native sidecar: Kubernetes stops it when the app exits', async () => {
    const manifests = await renderChart(AGENT, { ...seed, kind: 'Job' });
    assert.equal(agentContainer(manifests).restartPolicy, 'Always');
    assert.equal(findOne(manifests, 'Job').spec.backoffLimit, 2);
  });

  it('refuses mode init in a Deployment, whose pod would outlive its certificate', async () => {
    const err = await rejection(renderChart(AGENT, { ...seed, mode: 'init' }));
    assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:8:4): mode: init joins once and never renews the certificate, so it needs kind: Job (a Deployment\'s pod would outlive its certificate); use mode: sidecar for a Deployment');
  });

  describe('values.schema.json', () => {
    const cases: [string, (seed: Values) => Values, string][] = [
      ['a join method other than kubernetes', (s) => ({ ...s, joinParams: { method: 'token', tokenName: 'kube-token' } }), schemaError(AGENT, "- at '/joinParams/method': value must be 'kubernetes'")],
      ['a missing tokenName', (s) => without(s, ['joinParams', 'tokenName']), schemaError(AGENT, "- at '/joinParams': missing property 'tokenName'")],
      ['a malformed caPin', (s) => ({ ...s, caPin: 'sha256:8E7AD1F4' }), schemaError(AGENT, "- at '/caPin': 'sha256:8E7AD1F4' does not match pattern '^sha256:[0-9a-f]{64}$'")],
      ['a missing proxyAddr', (s) => without(s, ['proxyAddr']), schemaError(AGENT, "- at '': missing property 'proxyAddr'")],
      ['a proxyAddr without a port', (s) => ({ ...s, proxyAddr: 'kube-join-auth' }), schemaError(AGENT, String.raw`- at '/proxyAddr': 'kube-join-auth' does not match pattern '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$'`)],
      ['neither caPin nor caFile', (s) => without(s, ['caPin']), schemaError(AGENT, "- at '': 'anyOf' failed", "  - at '': missing property 'caPin'", "  - at '': missing property 'caFile'")],
      ['an unknown top-level key', (s) => ({ ...s, tokenName: 'kube-token' }), schemaError(AGENT, "- at '': additional properties 'tokenName' not allowed")],
      ['an unknown nested key', (s) => ({ ...s, renewal: { fration: 0.5 } }), schemaError(AGENT, "- at '/renewal': additional properties 'fration' not allowed")],
      ['an app name that is not DNS-1123', (s) => ({ ...s, apps: [{ name: 'Grafana', uri: 'http://localhost:3000' }] }), schemaError(AGENT, "- at '/apps/0/name': 'Grafana' does not match pattern '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'")],
      ['a token lifetime below the Kubernetes minimum', (s) => ({ ...s, tokenExpirationSeconds: 300 }), schemaError(AGENT, "- at '/tokenExpirationSeconds': minimum: got 300, want 600")],
    ];
    for (const [what, values, message] of cases) {
      it(`rejects ${what}`, async () => {
        const err = await rejection(renderChart(AGENT, values(seed)));
        assert.equal(err.message, message);
      });
    }

    it('rejects both caPin and caFile', async () => {
      const err = await rejection(renderChart(AGENT, { ...seed, caFile: { configMap: 'ca', key: 'ca.crt' } }));
      assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:2:4): set only one of caPin and caFile: the agent verifies the auth service one way');
    });
  });

  it('NOTES tell how to check the join: identity.json in the sidecar and `kube-join apps ls` on the auth service', async () => {
    const notes = await renderNotes(AGENT, seed, { namespace: 'teleport-agent' });
    assert.ok(notes.includes('  kubectl -n teleport-agent exec deploy/kube-join-agent -c kube-join -- cat /var/run/kube-join/identity.json\n'), notes);
    assert.ok(notes.includes('  kubectl -n kube-join exec deploy/kube-join-auth -- kube-join apps ls\n'), notes);
    assert.ok(notes.includes('  service_account: "teleport-agent:teleport-app-service"\n'), notes);
  });
});

// ---------------------------------------------------------------------------------------------------
// kube-join-auth

describe('chart kube-join-auth (real helm)', () => {
  let seed: Values;
  let rendered: Manifest[];

  before(async () => {
    seed = await seedValues(AUTH);
    rendered = await renderChart(AUTH, seed, { namespace: 'kube-join' });
  });

  const authContainer = (manifests: readonly Manifest[]) => findOne(manifests, 'Deployment').spec.template.spec.containers[0] as Obj;

  it('passes helm lint --strict with the seed values', async () => {
    const report = await lintChart(AUTH, seed);
    assert.match(report, /^1 chart\(s\) linted, 0 chart\(s\) failed$/m);
  });

  it('renders the ServiceAccount, the tokens ConfigMap, the state claim, the TokenReview binding, the Service and the Deployment', () => {
    assert.deepEqual(rendered.map((m) => `${m.kind}/${m.metadata.name}`), [
      'ServiceAccount/kube-join-auth',
      'ConfigMap/kube-join-auth-tokens',
      'PersistentVolumeClaim/kube-join-auth-state',
      'ClusterRoleBinding/kube-join-kube-join-auth-tokenreview',
      'Service/kube-join-auth',
      'Deployment/kube-join-auth',
    ]);
  });

  it('runs `kube-join auth --state-dir /var/lib/kube-join --cluster-name ...` with flags that AUTH_OPTIONS has and resolveAuthConfig accepts', () => {
    const args = flagsOf(authContainer(rendered), 'auth');
    assert.deepEqual(unknownFlags(AUTH_OPTIONS, args), []);
    const config = resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, args), env: {} });
    assert.equal(config.stateDir, '/var/lib/kube-join');
    assert.equal(config.clusterName, 'kube-join');
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 3025 });
    assert.deepEqual(config.metricsListen, { host: '0.0.0.0', port: 3026 });
    assert.deepEqual(config.sans, ['kube-join-auth', 'kube-join-auth.kube-join', 'kube-join-auth.kube-join.svc', 'kube-join-auth.kube-join.svc.cluster.local', 'localhost', '127.0.0.1']);
  });

  it('turns every optional value into a flag the service has: ttl caps, log level, extra names, the CA key-encryption key', async () => {
    const values: Values = { ...seed, certTtl: '30m', maxCertTtl: '12h', logLevel: 'debug', extraSans: ['auth.example.com'], caKeyEncryption: { secret: 'kube-join-kek', key: 'kek' } };
    const manifests = await renderChart(AUTH, values, { namespace: 'kube-join' });
    const args = flagsOf(authContainer(manifests), 'auth');
    assert.deepEqual(unknownFlags(AUTH_OPTIONS, args), []);
    const config = resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, args), env: {} });
    assert.equal(config.certTtlMs, 30 * 60_000);
    assert.equal(config.maxCertTtlMs, 12 * 3600_000);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.sans.at(-1), 'auth.example.com');
    assert.equal(config.caKeyEncryptionKeyFile, '/etc/kube-join/kek/kek');
    const pod = findOne(manifests, 'Deployment').spec.template.spec;
    assert.deepEqual(pod.volumes.find((v: Obj) => v.name === 'ca-key-encryption'), { name: 'ca-key-encryption', secret: { secretName: 'kube-join-kek', defaultMode: 0o440, items: [{ key: 'kek', path: 'kek' }] } });
    assert.deepEqual(authContainer(manifests).volumeMounts.find((m: Obj) => m.name === 'ca-key-encryption'), { name: 'ca-key-encryption', mountPath: '/etc/kube-join/kek', readOnly: true });
  });

  it('serves the address the agent chart\'s seed dials, with that name in its certificate', async () => {
    const agentSeed = await seedValues(AGENT);
    const [host, port] = String(agentSeed.proxyAddr).split(':');
    const service = findOne(rendered, 'Service');
    assert.equal(`${service.metadata.name}.${service.metadata.namespace}.svc`, host);
    assert.deepEqual(service.spec.ports, [{ name: 'https', port: Number(port), targetPort: 'https', protocol: 'TCP' }]);
    const args = authContainer(rendered).args as string[];
    assert.ok(args[args.indexOf('--san') + 1]?.split(',').includes(host as string));
    assert.equal(agentSeed.clusterName, seed.clusterName);
  });

  it('binds its ServiceAccount to system:auth-delegator for TokenReview', () => {
    const binding = findOne(rendered, 'ClusterRoleBinding');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kube-join-auth', namespace: 'kube-join' }]);
    const pod = findOne(rendered, 'Deployment').spec.template.spec;
    assert.equal(pod.serviceAccountName, 'kube-join-auth');
    assert.equal(pod.automountServiceAccountToken, true);
  });

  it('keeps the file state on a claim that outlives the release, with one replica replaced by Recreate', () => {
    const claim = findOne(rendered, 'PersistentVolumeClaim');
    assert.equal(claim.metadata.annotations['helm.sh/resource-policy'], 'keep');
    const deployment = findOne(rendered, 'Deployment');
    assert.equal(deployment.spec.replicas, 1);
    assert.deepEqual(deployment.spec.strategy, { type: 'Recreate' });
    assert.deepEqual(deployment.spec.template.spec.volumes.find((v: Obj) => v.name === 'state'), { name: 'state', persistentVolumeClaim: { claimName: 'kube-join-auth-state' } });
    assert.deepEqual(authContainer(rendered).volumeMounts.find((m: Obj) => m.name === 'state'), { name: 'state', mountPath: '/var/lib/kube-join' });
  });

  it('uses an emptyDir without persistence', async () => {
    const manifests = await renderChart(AUTH, { ...seed, storage: { type: 'file', file: { persistence: false } } });
    assert.equal(manifests.filter((m) => m.kind === 'PersistentVolumeClaim').length, 0);
    assert.deepEqual(findOne(manifests, 'Deployment').spec.template.spec.volumes.find((v: Obj) => v.name === 'state'), { name: 'state', emptyDir: {} });
  });

  it('refuses several replicas on file storage', async () => {
    const err = await rejection(renderChart(AUTH, { ...seed, replicaCount: 2 }));
    assert.equal(err.message, 'execution error at (kube-join-auth/templates/deployment.yaml:2:4): storage.type: file serves one replica (one process owns the state directory); use storage.type: kubernetes for more');
  });

  it('storage.type kubernetes: several replicas, and a Role on Secrets and Leases in its namespace bound to its ServiceAccount', async () => {
    const manifests = await renderChart(AUTH, { ...seed, replicaCount: 2, storage: { type: 'kubernetes' } }, { namespace: 'kube-join' });
    const role = findOne(manifests, 'Role');
    assert.equal(role.metadata.namespace, 'kube-join');
    // The verbs the kubernetes storage backend uses (and names in its error when one is missing).
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
    ]);
    const binding = findOne(manifests, 'RoleBinding');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kube-join-auth', namespace: 'kube-join' }]);
    const deployment = findOne(manifests, 'Deployment');
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(deployment.spec.strategy, undefined);
    assert.deepEqual(deployment.spec.template.spec.volumes.find((v: Obj) => v.name === 'state'), { name: 'state', emptyDir: {} });
    assert.equal(manifests.filter((m) => m.kind === 'PersistentVolumeClaim').length, 0);
    const args = flagsOf(authContainer(manifests), 'auth');
    assert.deepEqual(unknownFlags(AUTH_OPTIONS, args), []);
    const config = resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, args), env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } });
    assert.deepEqual(config.storage, { type: 'kubernetes', namespace: 'kube-join' });
  });

  it('renders each provision token as a file that `kube-join token create -f` accepts', () => {
    const configMap = findOne(rendered, 'ConfigMap', 'kube-join-auth-tokens');
    assert.deepEqual(Object.keys(configMap.data), ['kube-token.yaml']);
    const token = parseProvisionToken(configMap.data['kube-token.yaml'], Date.parse('2026-01-01T00:00:00Z'));
    assert.equal(token.metadata.name, 'kube-token');
    assert.deepEqual(token.spec.roles, ['App', 'Db']);
    assert.deepEqual(token.spec.kubernetes, { type: 'in_cluster', allow: [{ service_account: 'teleport-agent:teleport-app-service' }] });
    assert.deepEqual(authContainer(rendered).volumeMounts.find((m: Obj) => m.name === 'tokens'), { name: 'tokens', mountPath: '/etc/kube-join/tokens', readOnly: true });
  });

  it('rejects a token the auth service would reject: wrong join_method, static_jwks without keys, a duplicate name', async () => {
    const token = (seed.tokens as Obj[])[0] as Obj;
    let err = await rejection(renderChart(AUTH, { ...seed, tokens: [{ ...token, spec: { ...token.spec, join_method: 'token' } }] }));
    assert.equal(err.message, schemaError(AUTH, "- at '/tokens/0/spec/join_method': value must be 'kubernetes'"));
    err = await rejection(renderChart(AUTH, { ...seed, tokens: [{ ...token, spec: { ...token.spec, kubernetes: { type: 'static_jwks', allow: token.spec.kubernetes.allow } } }] }));
    assert.equal(err.message, schemaError(AUTH, "- at '/tokens/0/spec/kubernetes': 'allOf' failed", "  - at '/tokens/0/spec/kubernetes': missing property 'static_jwks'"));
    err = await rejection(renderChart(AUTH, { ...seed, tokens: [token, token] }));
    assert.equal(err.message, 'execution error at (kube-join-auth/templates/deployment.yaml:7:4): tokens: "kube-token" is listed twice');
  });

  it('serves /metrics on a container port of its own named metrics, in step with --metrics-addr; metrics.enabled false turns it off', async () => {
    const values = parseYaml(await readFile(join(REPO_ROOT, 'chart', AUTH, 'values.yaml'), 'utf8')) as Obj;
    assert.equal(`0.0.0.0:${values.metrics.port}`, defaultOf(AUTH_OPTIONS, 'metrics-addr'));
    assert.deepEqual(authContainer(rendered).ports, [
      { name: 'https', containerPort: 3025, protocol: 'TCP' },
      { name: 'metrics', containerPort: 3026, protocol: 'TCP' },
    ]);
    const manifests = await renderChart(AUTH, { ...seed, metrics: { enabled: false } }, { namespace: 'kube-join' });
    const args = flagsOf(authContainer(manifests), 'auth');
    assert.equal(args[args.indexOf('--metrics-addr') + 1], 'off');
    assert.equal(resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, args), env: {} }).metricsListen, undefined);
    assert.deepEqual(authContainer(manifests).ports, [{ name: 'https', containerPort: 3025, protocol: 'TCP' }]);
  });

  it('runs non-root with a read-only root filesystem, probes over HTTPS on the join port', () => {
    const container = authContainer(rendered);
    assert.deepEqual(container.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'https', scheme: 'HTTPS' });
    assert.equal(findOne(rendered, 'Deployment').spec.template.spec.securityContext.fsGroup, 65532);
  });

  it('NOTES print the CA pin command and one `kube-join token create` per token', async () => {
    const notes = await renderNotes(AUTH, seed, { namespace: 'kube-join' });
    assert.ok(notes.includes(`  kubectl -n kube-join logs deploy/kube-join-auth | grep -o '"caPin":"[^"]*"'\n`), notes);
    assert.ok(notes.includes('  kubectl -n kube-join exec deploy/kube-join-auth -- kube-join token create -f /etc/kube-join/tokens/kube-token.yaml\n'), notes);
  });
});

// ---------------------------------------------------------------------------------------------------
// Container image: lint with BuildKit's checks, then run the image's own command outside Docker.

interface DockerCommand {
  name: string;
  line: number;
  code: string;
  args?: string[];
  execForm?: boolean;
  from?: string;
  sources?: string[];
  dest?: string;
  env?: Record<string, string>;
  value?: string;
}
interface DockerStage {
  name?: string;
  base: string;
  commands: DockerCommand[];
}
interface DockerLint {
  warnings: { rule: string; line: number; detail: string }[];
  error?: string;
  stages: DockerStage[];
}

function run(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd ?? REPO_ROOT, maxBuffer: 16 * 1024 * 1024, timeout: options.timeoutMs ?? 0 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

const IMAGE_UID = 65532;
const asRoot = process.getuid?.() === 0;

/** Recursively makes `dir` read-only for everyone (what a read-only root filesystem means to the process). */
async function makeReadOnly(path: string): Promise<void> {
  const s = await stat(path);
  if (s.isDirectory()) {
    for (const entry of await readdir(path)) await makeReadOnly(join(path, entry));
    await chmod(path, 0o555);
  } else await chmod(path, s.mode & 0o111 ? 0o555 : 0o444);
}

async function makeWritable(path: string): Promise<void> {
  const s = await stat(path).catch(() => undefined);
  if (!s?.isDirectory()) return;
  await chmod(path, 0o755);
  for (const entry of await readdir(path)) await makeWritable(join(path, entry));
}

describe('container image (Dockerfile)', function () {
  let lint: DockerLint;
  let runtime: DockerStage;
  let root: string;
  let workdir: string;
  let stageDir: string;
  let entrypoint: string[];
  let imageEnv: Record<string, string>;

  const stageCommands = (stage: DockerStage, name: string) => stage.commands.filter((c) => c.name === name);
  const lastValue = (stage: DockerStage, name: string) => stageCommands(stage, name).at(-1)?.value;

  before(async function () {
    // The first run builds BuildKit's linter from the Go module proxy (cached afterwards).
    this.timeout(20 * 60_000);
    const { code, stdout, stderr } = await run(join(REPO_ROOT, 'scripts', 'lint-dockerfile'), ['--json']);
    if (code !== 0 && code !== 1) throw new Error(`scripts/lint-dockerfile failed (${code}): ${stderr}`);
    lint = JSON.parse(stdout) as DockerLint;
    runtime = lint.stages.at(-1) as DockerStage;
    workdir = lastValue(runtime, 'WORKDIR') ?? '/';
    entrypoint = stageCommands(runtime, 'ENTRYPOINT').at(-1)?.args ?? [];
    imageEnv = Object.assign({}, ...stageCommands(runtime, 'ENV').map((c) => c.env)) as Record<string, string>;
  });

  after(async () => {
    if (root) {
      await makeWritable(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  it('passes BuildKit\'s Dockerfile checks (`docker build --check` rules) with no warning', async () => {
    assert.equal(lint.error, undefined);
    assert.deepEqual(lint.warnings, []);
    const { code, stdout } = await run(join(REPO_ROOT, 'scripts', 'lint-dockerfile'), []);
    assert.equal(code, 0);
    assert.equal(stdout, `${join(REPO_ROOT, 'Dockerfile')}: no warnings (BuildKit checks)\n`);
  });

  it('builds on the official Node image pinned to the Node of package-lock.json (the one the tests run on)', async () => {
    const lock = JSON.parse(await readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    const nodeVersion = lock.packages['node_modules/node']?.version;
    assert.equal(lint.stages[0]?.base, `node:${nodeVersion}-bookworm-slim`);
    assert.equal(process.versions.node, nodeVersion);
    assert.deepEqual(lint.stages.map((s) => `${s.name} FROM ${s.base}`), [`node FROM node:${nodeVersion}-bookworm-slim`, 'build FROM node', 'runtime FROM node']);
  });

  it('builds with dev dependencies and runs the bundle alone (no node_modules), as a numeric non-root user', () => {
    const build = lint.stages.find((s) => s.name === 'build') as DockerStage;
    const buildRuns = stageCommands(build, 'RUN').map((c) => c.args?.join(' ') ?? '');
    assert.ok(buildRuns.some((r) => /^npm ci(?! .*--omit)/.test(r)), buildRuns.join('\n'));
    assert.ok(buildRuns.some((r) => r.startsWith('npm run build')), buildRuns.join('\n'));
    const runtimeRuns = stageCommands(runtime, 'RUN').map((c) => c.args?.join(' ') ?? '');
    assert.ok(!runtimeRuns.some((r) => /\bnpm (ci|install|run)\b/.test(r)), runtimeRuns.join('\n'));
    assert.ok(!stageCommands(runtime, 'COPY').some((c) => c.sources?.some((src) => src.includes('node_modules') || src.startsWith('package'))), 'the runtime stage copies no dependencies');
    assert.deepEqual(stageCommands(runtime, 'COPY').filter((c) => c.from).map((c) => `${c.from}:${c.sources?.join(' ')}`), ['build:/src/dist']);
    assert.equal(lastValue(runtime, 'USER'), `${IMAGE_UID}:${IMAGE_UID}`);
    assert.equal(imageEnv.HOME, '/tmp', 'HOME must be on the /tmp volume: the root filesystem is read-only');
  });

  it('puts `kube-join` on PATH as the entrypoint\'s script, for `kubectl exec ... -- kube-join ...`', async () => {
    const link = stageCommands(runtime, 'RUN').map((c) => /\bln -s (\S+) \/usr\/local\/bin\/kube-join\b/.exec(c.args?.join(' ') ?? '')?.[1]).find(Boolean);
    assert.equal(link, entrypoint[1]);
    const build = lint.stages.find((s) => s.name === 'build') as DockerStage;
    assert.ok(stageCommands(build, 'RUN').some((c) => c.args?.join(' ').includes('chmod 0755 dist/cli/main.js')), 'the script must be executable');
    assert.equal((await readFile(join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'utf8')).split('\n')[0], '#!/usr/bin/env node');
  });

  it('runs the same user the charts run as', async () => {
    for (const chart of [AGENT, AUTH]) {
      const manifests = await renderChart(chart, await seedValues(chart));
      const spec = findOne(manifests, 'Deployment').spec.template.spec as Obj;
      const container = chart === AGENT ? agentContainer(manifests) : spec.containers[0];
      assert.equal(`${container.securityContext.runAsUser}:${container.securityContext.runAsGroup}`, lastValue(runtime, 'USER'));
    }
  });

  describe('its command, run outside Docker from a read-only /app as the image user', () => {
    /** The image's ENTRYPOINT with `node` → this Node (same version, checked above) and WORKDIR → the staged copy. */
    const imageCommand = (args: readonly string[]) => {
      const [exe, ...rest] = entrypoint;
      assert.equal(exe, 'node');
      return [process.execPath, ...rest.map((a) => (a === workdir || a.startsWith(`${workdir}/`) ? stageDir + a.slice(workdir.length) : a)), ...args];
    };
    const spawnImage = (args: readonly string[], timeoutMs = 20_000) => {
      const [file, ...argv] = imageCommand(args) as [string, ...string[]];
      return spawn(file, argv, {
        cwd: stageDir,
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...imageEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: timeoutMs,
        ...(asRoot ? { uid: IMAGE_UID, gid: IMAGE_UID } : {}),
      });
    };
    const runImage = (args: readonly string[], timeoutMs = 20_000) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawnImage(args, timeoutMs);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });
    /** A writable directory for the image user, like a volume mounted into the pod. */
    const volume = async (prefix: string) => {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      await chmod(dir, 0o755);
      if (asRoot) await chown(dir, IMAGE_UID, IMAGE_UID);
      return dir;
    };

    before(async function () {
      this.timeout(60_000);
      if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/cli/main.js is missing: run "npm run build" (npm test does) before the integration tests');
      root = await mkdtemp(join(tmpdir(), 'kube-join-image-'));
      await chmod(root, 0o755);
      stageDir = join(root, 'app');
      await mkdir(stageDir);
      // Follow the runtime stage: its COPYs (from the build context, or from the build stage whose
      // WORKDIR is the repository here). No node_modules: the bundle must run alone.
      const buildStage = lint.stages.find((s) => s.name === 'build') as DockerStage;
      const buildWorkdir = lastValue(buildStage, 'WORKDIR') as string;
      const dest = (d: string) => join(stageDir, posix.relative(workdir, posix.resolve(workdir, d)));
      for (const c of runtime.commands) {
        if (c.name === 'COPY') {
          for (const src of c.sources ?? []) {
            const from = c.from === 'build' ? join(REPO_ROOT, posix.relative(buildWorkdir, src)) : join(REPO_ROOT, src);
            const target = c.dest?.endsWith('/') ? join(dest(c.dest), posix.basename(src)) : dest(c.dest as string);
            await cp(from, target, { recursive: true });
          }
        }
      }
      await makeReadOnly(stageDir);
    });

    it('with no arguments runs CMD: the top-level help', async () => {
      const cmd = stageCommands(runtime, 'CMD').at(-1)?.args ?? [];
      const { code, stdout, stderr } = await runImage(cmd);
      assert.equal(stderr, '');
      assert.equal(code, 0);
      assert.equal(stdout.split('\n')[0], 'Usage: kube-join [options] [command]');
      for (const command of ['agent', 'auth', 'token']) assert.match(stdout, new RegExp(`^  ${command} `, 'm'));
    });

    it('`agent --help` lists every agent flag', async () => {
      const { code, stdout, stderr } = await runImage(['agent', '--help']);
      assert.equal(stderr, '');
      assert.equal(code, 0);
      for (const spec of AGENT_OPTIONS) assert.match(stdout, new RegExp(`--${spec.flag}\\b`), `--${spec.flag} missing from agent --help`);
    });

    it('runs the chart\'s rendered agent args and fails for the network, not for a flag', async function () {
      this.timeout(30_000);
      const seed = await seedValues(AGENT);
      const args = agentContainer(await renderChart(AGENT, seed)).args as string[];
      // A port nothing listens on; a token file and an out dir as the pod has them.
      const port = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number };
          server.close(() => resolve(port));
        });
      });
      const pod = await volume('kube-join-pod-');
      try {
        const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        const jwt = `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ aud: ['kube-join'], sub: 'system:serviceaccount:teleport-agent:teleport-app-service', iat: now, exp: now + 600 })}.c2ln`;
        await writeFile(join(pod, 'token'), jwt, { mode: 0o644 });
        const overrides = ['--auth-addr', `127.0.0.1:${port}`, '--token-path', join(pod, 'token'), '--out-dir', join(pod, 'out'), '--once', '--once-timeout', '1s'];
        const { code, stderr } = await runImage([...args, ...overrides]);
        assert.equal(code, 1, stderr);
        assert.equal(stderr.trimEnd().split('\n').at(-1), `kube-join: join did not succeed within 1s: auth service https://127.0.0.1:${port} unreachable: ECONNREFUSED [ERR_ONCE_FAILED]`);
      } finally {
        await rm(pod, { recursive: true, force: true });
      }
    });

    it('runs the chart\'s rendered auth args: the service starts, listens and stops on SIGTERM', async function () {
      this.timeout(30_000);
      const args = findOne(await renderChart(AUTH, await seedValues(AUTH)), 'Deployment').spec.template.spec.containers[0].args as string[];
      const state = await volume('kube-join-state-');
      try {
        // The state volume and loopback ports instead of the pod's /var/lib/kube-join, 0.0.0.0:3025 and 0.0.0.0:3026.
        const child = spawnImage([...args, '--state-dir', state, '--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0']);
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
        const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
          createInterface({ input: child.stdout }).on('line', (text) => {
            const line = JSON.parse(text) as Record<string, unknown>;
            if (line.msg === 'auth service listening') resolve(line);
          });
          void exited.then((code) => reject(new Error(`kube-join auth exited (${code}) before listening: ${stderr}`)));
        });
        assert.equal(listening.clusterName, 'kube-join');
        assert.match(String(listening.caPin), /^sha256:[0-9a-f]{64}$/);
        // What the liveness probe asks (the kubelet does not verify the certificate either). Its
        // answer also means start-up has finished, SIGTERM handler included.
        const health = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
          httpsGet({ host: '127.0.0.1', port: Number(listening.port), path: '/healthz', rejectUnauthorized: false }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode, body }));
          }).once('error', reject);
        });
        assert.deepEqual(health, { status: 200, body: '{"status":"ok"}' });
        child.kill('SIGTERM');
        assert.equal(await exited, 0, stderr);
      } finally {
        await rm(state, { recursive: true, force: true });
      }
    });
  });
});
