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
import { grantRoles, isServiceAccountAllowed } from '../../src/auth/allow.ts';
import { resolveInjectorConfig } from '../../src/injector/config.ts';
import { buildInjection } from '../../src/injector/inject.ts';
import { INJECTOR_OPTIONS } from '../../src/injector/options.ts';
import { parseProvisionToken } from '../../src/auth/tokens.ts';
import type { OptionSpec } from '../../src/config/options.ts';
import { testCa } from '../support/pki.ts';
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
      ...seed,
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
    // The seed mounts the bundle the auth chart publishes: no pin to copy.
    assert.deepEqual(config.trust, { kind: 'ca-file', path: '/var/run/kube-join/ca/ca.crt' });
    assert.deepEqual(config.roles, ['App']);
    assert.deepEqual(config.apps, [{ name: 'grafana', uri: 'http://localhost:3000' }]);
    assert.equal(config.group, 65532);
    assert.deepEqual(config.health, { host: '0.0.0.0', port: 8087 });
    assert.equal(config.once, false);
  });

  it('turns renewal, ttl, logLevel, roles lists and caFile into the agent\'s settings', async () => {
    const values: Values = {
      ...seed,
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
    assert.deepEqual(flags, ['--auth-addr', '--token-name', '--cluster-name', '--ca-file', '--out-dir', '--health-addr', '--group', '--roles', '--app']);
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

  it('mode podCertificate: no agent container; the kubelet projects tls.key, tls.crt (podCertificate) and ca.crt (ClusterTrustBundle) where the agent writes them', async () => {
    const manifests = await renderChart(AGENT, { ...seed, mode: 'podCertificate', roles: ['App'], podCertificate: { signerName: 'kube-join.io/workload', keyType: 'ECDSAP384' } });
    const pod = findOne(manifests, 'Deployment').spec.template.spec;
    assert.equal(pod.initContainers, undefined);
    assert.deepEqual(pod.volumes, [{
      name: 'kube-join-certs',
      projected: {
        sources: [
          { podCertificate: { signerName: 'kube-join.io/workload', keyType: 'ECDSAP384', keyPath: 'tls.key', certificateChainPath: 'tls.crt', userAnnotations: { 'kube-join.io/token-name': seed.joinParams && (seed.joinParams as Obj).tokenName, 'kube-join.io/roles': 'App', 'kube-join.io/apps': (seed.apps as Obj[]).map((a) => `${a.name}=${a.uri}`).join(',') } } },
          { clusterTrustBundle: { signerName: 'kube-join.io/workload', labelSelector: {}, path: 'ca.crt' } },
        ],
      },
    }]);
    assert.deepEqual(pod.containers[0].volumeMounts, [{ name: 'kube-join-certs', mountPath: '/var/run/kube-join', readOnly: true }]);
  });

  it('mode podCertificate needs no proxyAddr nor CA pin, and refuses a key type kube-join does not issue to', async () => {
    const { proxyAddr: _p, caPin: _c, ...rest } = seed;
    await renderChart(AGENT, { ...rest, mode: 'podCertificate' });
    const err = await rejection(renderChart(AGENT, { ...rest, mode: 'podCertificate', podCertificate: { signerName: 'kube-join.io/workload', keyType: 'ED25519' } }));
    assert.match(err.message, /podCertificate\/keyType/);
  });

  it('refuses mode init in a Deployment, whose pod would outlive its certificate', async () => {
    const err = await rejection(renderChart(AGENT, { ...seed, mode: 'init' }));
    assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:23:4): mode: init joins once and never renews the certificate, so it needs kind: Job (a Deployment\'s pod would outlive its certificate); use mode: sidecar for a Deployment');
  });

  describe('values.schema.json', () => {
    const cases: [string, (seed: Values) => Values, string][] = [
      ['a join method other than kubernetes', (s) => ({ ...s, joinParams: { method: 'token', tokenName: 'kube-token' } }), schemaError(AGENT, "- at '/joinParams/method': value must be 'kubernetes'")],
      ['a missing tokenName', (s) => without(s, ['joinParams', 'tokenName']), schemaError(AGENT, "- at '/joinParams': missing property 'tokenName'")],
      ['a malformed caPin', (s) => ({ ...s, caPin: 'sha256:8E7AD1F4' }), schemaError(AGENT, "- at '/caPin': 'sha256:8E7AD1F4' does not match pattern '^sha256:[0-9a-f]{64}$'")],
      ['a missing proxyAddr', (s) => without(s, ['proxyAddr']), schemaError(AGENT, "- at '': missing property 'proxyAddr'")],
      ['a proxyAddr without a port', (s) => ({ ...s, proxyAddr: 'kube-join-auth' }), schemaError(AGENT, String.raw`- at '/proxyAddr': 'kube-join-auth' does not match pattern '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$'`)],
      ['a notify signal that is not a signal name', (s) => ({ ...s, notify: { signal: 'HUP', process: 'grafana' } }), schemaError(AGENT, "- at '/notify/signal': 'HUP' does not match pattern '^$|^SIG[A-Z0-9]+$'")],
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

    it('rejects no way at all to verify the auth service', async () => {
      const err = await rejection(renderChart(AGENT, { ...seed, caBundle: { configMap: '' } }));
      assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:8:4): the agent needs a way to verify the auth service: caBundle.configMap (the bundle the auth service publishes), caFile or caPin');
    });

    it('rejects both caPin and caFile', async () => {
      const err = await rejection(renderChart(AGENT, { ...seed, caPin: PIN, caFile: { configMap: 'ca', key: 'ca.crt' } }));
      assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:2:4): set only one of caPin and caFile: the agent verifies the auth service one way');
    });
  });

  it('without caPin or caFile, mounts the CA bundle ConfigMap the auth service publishes and passes it as --ca-file', async () => {
    const manifests = rendered;
    const config = resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(agentContainer(manifests), 'agent')), env: {} });
    assert.deepEqual(config.trust, { kind: 'ca-file', path: '/var/run/kube-join/ca/ca.crt' });
    assert.deepEqual(podSpecOf(manifests).volumes.find((v: Obj) => v.name === 'kube-join-ca-bundle'), { name: 'kube-join-ca-bundle', configMap: { name: 'kube-join-ca-bundle', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    assert.deepEqual(agentContainer(manifests).volumeMounts.find((m: Obj) => m.name === 'kube-join-ca-bundle'), { name: 'kube-join-ca-bundle', mountPath: '/var/run/kube-join/ca', readOnly: true });
    const other = await renderChart(AGENT, { ...seed, caBundle: { configMap: 'my-ca' } });
    assert.equal(podSpecOf(other).volumes.find((v: Obj) => v.name === 'kube-join-ca-bundle').configMap.name, 'my-ca');
    const pinned = await renderChart(AGENT, { ...seed, caPin: PIN });
    assert.equal(podSpecOf(pinned).volumes.find((v: Obj) => v.name === 'kube-join-ca-bundle'), undefined, 'caPin replaces the bundle');
    assert.deepEqual(resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(agentContainer(pinned), 'agent')), env: {} }).trust, { kind: 'ca-pin', pins: [PIN] });
  });

  it('names the ServiceAccount after the release, as teleport-kube-agent does; serviceAccount.name overrides it', async () => {
    const manifests = await renderChart(AGENT, without(seed, ['serviceAccount']), { release: 'teleport-app-service', namespace: 'teleport-agent' });
    assert.equal(findOne(manifests, 'ServiceAccount').metadata.name, 'teleport-app-service');
    assert.equal(podSpecOf(manifests).serviceAccountName, 'teleport-app-service');
    const named = await renderChart(AGENT, { ...seed, serviceAccount: { name: 'grafana-agent' } }, { release: 'teleport-app-service' });
    assert.equal(podSpecOf(named).serviceAccountName, 'grafana-agent');
  });

  describe('the Teleport guide\'s values.yaml, as written (examples/guide/values.yaml): standalone', () => {
    let guide: Values;
    let manifests: Manifest[];
    before(async () => {
      guide = parseYaml(await readFile(join(REPO_ROOT, 'examples', 'guide', 'values.yaml'), 'utf8')) as Values;
      manifests = await renderChart(AGENT, guide, { release: 'teleport-app-service', namespace: 'teleport-agent' });
    });

    it('holds the guide\'s values and nothing else', () => {
      assert.deepEqual(guide, {
        proxyAddr: 'teleport.example.com:443',
        roles: 'app',
        joinParams: { method: 'kubernetes', tokenName: 'kubernetes-token' },
        apps: [{ name: 'demo-app', uri: 'http://demo-app.demo-app.svc.cluster.local:80' }],
      });
    });

    it('passes helm lint --strict', async () => {
      assert.match(await lintChart(AGENT, guide), /^1 chart\(s\) linted, 0 chart\(s\) failed$/m);
    });

    it('deploys the agent alone: one container, no init containers, no app, the apps registered by URI', () => {
      assert.deepEqual(manifests.map((m) => `${m.kind}/${m.metadata.name}`), ['ServiceAccount/teleport-app-service', 'Deployment/teleport-app-service-kube-join-agent']);
      const pod = podSpecOf(manifests);
      assert.equal(pod.initContainers, undefined);
      assert.deepEqual(pod.containers.map((c: Obj) => c.name), ['kube-join']);
      assert.equal(pod.containers[0].restartPolicy, undefined);
      assert.deepEqual(pod.containers[0].readinessProbe.httpGet, { path: '/readyz', port: 'health' });
      assert.equal(pod.shareProcessNamespace, undefined);
      const config = resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(pod.containers[0], 'agent')), env: {} });
      assert.deepEqual(config.authAddr, { host: 'teleport.example.com', port: 443 });
      assert.equal(config.tokenName, 'kubernetes-token');
      assert.deepEqual(config.roles, ['app']);
      assert.deepEqual(config.apps, [{ name: 'demo-app', uri: 'http://demo-app.demo-app.svc.cluster.local:80' }]);
      assert.deepEqual(config.trust, { kind: 'ca-file', path: '/var/run/kube-join/ca/ca.crt' });
      assert.equal(findOne(manifests, 'Deployment').metadata.annotations['kube-join.io/mode'], 'standalone');
    });

    it('matches the guide\'s token.yaml: its allow rule names this ServiceAccount, and `roles: app` is granted App', async () => {
      const token = parseProvisionToken(await readFile(join(REPO_ROOT, 'examples', 'guide', 'token.yaml'), 'utf8'), Date.parse('2026-01-01T00:00:00Z'));
      assert.equal(token.metadata.name, 'kubernetes-token');
      const pod = podSpecOf(manifests);
      assert.equal(isServiceAccountAllowed(token, 'teleport-agent', pod.serviceAccountName), true);
      const config = resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(pod.containers[0], 'agent')), env: {} });
      assert.deepEqual(grantRoles(token, config.roles), { granted: ['App'] });
      assert.equal(pod.volumes.find((v: Obj) => v.name === 'kube-join-token').projected.sources[0].serviceAccountToken.audience, 'kube-join');
    });

    it('refuses mode init without an app', async () => {
      const err = await rejection(renderChart(AGENT, { ...guide, mode: 'init', kind: 'Job' }));
      assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:11:4): mode: init joins once before an app starts, so it needs app.image; without one the chart deploys the agent alone (standalone), which keeps renewing');
    });

    it('refuses a Job without an app, which would never complete', async () => {
      const err = await rejection(renderChart(AGENT, { ...guide, kind: 'Job' }));
      assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:14:4): kind: Job needs app.image: the agent alone keeps renewing and never completes; use kind: Deployment without an app');
    });
  });

  describe('notify: the app by process name', () => {
    it('passes --notify-signal and --notify-process and shares the pod\'s PID namespace; no capability is added', async () => {
      const manifests = await renderChart(AGENT, { ...seed, notify: { signal: 'SIGHUP', process: 'grafana' } });
      assert.equal(podSpecOf(manifests).shareProcessNamespace, true);
      const config = resolveAgentConfig({ flags: parseFlags(AGENT_OPTIONS, flagsOf(agentContainer(manifests), 'agent')), env: {} });
      assert.deepEqual([config.notify.signal, config.notify.process, config.notify.pidFile], ['SIGHUP', 'grafana', undefined]);
      assert.deepEqual(agentContainer(manifests).securityContext.capabilities, { drop: ['ALL'] });
      assert.equal(podSpecOf(rendered).shareProcessNamespace, undefined, 'not without notify');
    });

    it('adds CAP_KILL only when notify.addCapKill asks', async () => {
      const manifests = await renderChart(AGENT, { ...seed, notify: { signal: 'SIGHUP', process: 'grafana', addCapKill: true } });
      assert.deepEqual(agentContainer(manifests).securityContext.capabilities, { drop: ['ALL'], add: ['KILL'] });
    });

    it('refuses a signal without a process, and notify in standalone mode', async () => {
      let err = await rejection(renderChart(AGENT, { ...seed, notify: { signal: 'SIGHUP' } }));
      assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:17:4): notify.signal and notify.process go together: the agent sends notify.signal to the app\'s process named notify.process');
      err = await rejection(renderChart(AGENT, { ...seed, app: { name: 'app', image: { repository: '' } }, notify: { signal: 'SIGHUP', process: 'grafana' } }));
      assert.equal(err.message, 'execution error at (kube-join-agent/templates/workload.yaml:20:4): notify.process signals the app beside the agent, but without app.image the agent runs alone (standalone)');
    });
  });

  it('follows the chart conventions: name overrides, extraEnv, extraVolumes and mounts, priorityClassName, topologySpreadConstraints, a PodMonitor', async () => {
    const spread = [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'kube-join-agent' } } }];
    const values: Values = {
      ...seed,
      fullnameOverride: 'grafana',
      extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy:3128' }],
      extraVolumes: [{ name: 'extra-ca', configMap: { name: 'corp-ca' } }],
      extraVolumeMounts: [{ name: 'extra-ca', mountPath: '/etc/corp-ca', readOnly: true }],
      priorityClassName: 'system-cluster-critical',
      topologySpreadConstraints: spread,
      podMonitor: { enabled: true, interval: '15s' },
    };
    const manifests = await renderChart(AGENT, values, { namespace: 'teleport-agent' });
    assert.deepEqual(manifests.map((m) => `${m.kind}/${m.metadata.name}`), ['ServiceAccount/teleport-app-service', 'Deployment/grafana', 'PodMonitor/grafana']);
    const pod = podSpecOf(manifests);
    assert.deepEqual(agentContainer(manifests).env.map((e: Obj) => e.name), ['NODE_NAME', 'HTTPS_PROXY']);
    assert.deepEqual(pod.volumes.at(-1), { name: 'extra-ca', configMap: { name: 'corp-ca' } });
    assert.deepEqual(agentContainer(manifests).volumeMounts.at(-1), { name: 'extra-ca', mountPath: '/etc/corp-ca', readOnly: true });
    assert.equal(pod.priorityClassName, 'system-cluster-critical');
    assert.deepEqual(pod.topologySpreadConstraints, spread);
    const monitor = findOne(manifests, 'PodMonitor');
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.deepEqual(monitor.spec.podMetricsEndpoints, [{ port: 'health', path: '/metrics', interval: '15s' }]);
    assert.deepEqual(monitor.spec.selector.matchLabels, findOne(manifests, 'Deployment').spec.selector.matchLabels);
    const renamed = await renderChart(AGENT, { ...seed, nameOverride: 'agent' }, { release: 'web' });
    assert.equal(findOne(renamed, 'Deployment').metadata.name, 'web-agent');
    assert.equal(findOne(renamed, 'Deployment').spec.selector.matchLabels['app.kubernetes.io/name'], 'agent');
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
      'ClusterRole/kube-join-kube-join-auth-ca-bundle',
      'ClusterRoleBinding/kube-join-kube-join-auth-tokenreview',
      'ClusterRoleBinding/kube-join-kube-join-auth-ca-bundle',
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
    assert.deepEqual(service.spec.ports, [
      { name: 'https', port: Number(port), targetPort: 'https', protocol: 'TCP' },
      { name: 'proxy', port: 443, targetPort: 'https', protocol: 'TCP' },
      { name: 'metrics', port: 3026, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    const args = authContainer(rendered).args as string[];
    assert.ok(args[args.indexOf('--san') + 1]?.split(',').includes(host as string));
    assert.equal(agentSeed.clusterName, seed.clusterName);
  });

  it('binds its ServiceAccount to system:auth-delegator for TokenReview', () => {
    const binding = findOne(rendered, 'ClusterRoleBinding', 'kube-join-kube-join-auth-tokenreview');
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
    const pdb = findOne(manifests, 'PodDisruptionBudget');
    assert.deepEqual(pdb.spec, { maxUnavailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } });
    assert.deepEqual(deployment.spec.template.spec.volumes.find((v: Obj) => v.name === 'state'), { name: 'state', emptyDir: {} });
    assert.equal(manifests.filter((m) => m.kind === 'PersistentVolumeClaim').length, 0);
    const args = flagsOf(authContainer(manifests), 'auth');
    assert.deepEqual(unknownFlags(AUTH_OPTIONS, args), []);
    const config = resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, args), env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } });
    assert.deepEqual(config.storage, { type: 'kubernetes', namespace: 'kube-join' });
  });

  it('podCertificateSigner.signerName: the --pod-certificate-signer flag and a ClusterRole with exactly the signer\'s rights, bound to its ServiceAccount', async () => {
    const signerRole = 'kube-join-kube-join-auth-pod-certificate-signer';
    assert.equal(rendered.filter((m) => m.kind === 'ClusterRole' && m.metadata.name === signerRole).length, 0, 'off by default');
    const manifests = await renderChart(AUTH, { ...seed, podCertificateSigner: { signerName: 'kube-join.io/workload' } }, { namespace: 'kube-join' });
    const args = flagsOf(authContainer(manifests), 'auth');
    assert.deepEqual(unknownFlags(AUTH_OPTIONS, args), []);
    const config = resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, args), env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } });
    assert.equal(config.podCertificateSigner, 'kube-join.io/workload');
    const role = findOne(manifests, 'ClusterRole', signerRole);
    assert.deepEqual(role.rules, [
      { apiGroups: ['certificates.k8s.io'], resources: ['signers'], resourceNames: ['kube-join.io/workload'], verbs: ['sign', 'attest'] },
      { apiGroups: ['certificates.k8s.io'], resources: ['podcertificaterequests'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['certificates.k8s.io'], resources: ['podcertificaterequests/status'], verbs: ['update'] },
      { apiGroups: ['certificates.k8s.io'], resources: ['clustertrustbundles'], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ]);
    const binding = manifests.find((m) => m.kind === 'ClusterRoleBinding' && m.roleRef.name === role.metadata.name) as Obj;
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kube-join-auth', namespace: 'kube-join' }]);
    const err = await rejection(renderChart(AUTH, { ...seed, podCertificateSigner: { signerName: 'workload' } }));
    assert.match(err.message, /podCertificateSigner\/signerName/);
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

  it('answers on 443 too, where the Teleport guide\'s proxyAddr points; service.proxyPort 0 leaves only the join port', async () => {
    const guide = parseYaml(await readFile(join(REPO_ROOT, 'examples', 'guide', 'values.yaml'), 'utf8')) as Obj;
    const port = Number(String(guide.proxyAddr).split(':')[1]);
    const proxy = findOne(rendered, 'Service').spec.ports.find((p: Obj) => p.port === port);
    assert.deepEqual(proxy, { name: 'proxy', port: 443, targetPort: 'https', protocol: 'TCP' });
    const manifests = await renderChart(AUTH, { ...seed, service: { proxyPort: 0 }, metrics: { enabled: false } });
    assert.deepEqual(findOne(manifests, 'Service').spec.ports, [{ name: 'https', port: 3025, targetPort: 'https', protocol: 'TCP' }]);
  });

  it('no PodDisruptionBudget for one replica', () => {
    assert.equal(rendered.filter((m) => m.kind === 'PodDisruptionBudget').length, 0);
  });

  it('rbac.tokenReviewRole minimal: its own ClusterRole with only create on tokenreviews, instead of system:auth-delegator', async () => {
    const manifests = await renderChart(AUTH, { ...seed, rbac: { tokenReviewRole: 'minimal' } }, { namespace: 'kube-join' });
    const role = findOne(manifests, 'ClusterRole', 'kube-join-kube-join-auth-tokenreview');
    assert.deepEqual(role.rules, [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]);
    assert.deepEqual(findOne(manifests, 'ClusterRoleBinding', 'kube-join-kube-join-auth-tokenreview').roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    assert.equal(rendered.filter((m) => m.kind === 'ClusterRole' && m.metadata.name.endsWith('-tokenreview')).length, 0, 'the default binds system:auth-delegator and creates no TokenReview ClusterRole');
  });

  it('inventory.checkPods: --inventory-check-pods, and a ClusterRole with only get on pods bound to its ServiceAccount', async () => {
    const manifests = await renderChart(AUTH, { ...seed, inventory: { checkPods: true } }, { namespace: 'kube-join' });
    const inPod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const config = resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, flagsOf(authContainer(manifests), 'auth')), env: inPod });
    assert.equal(config.inventoryCheckPods, true);
    const role = findOne(manifests, 'ClusterRole', 'kube-join-kube-join-auth-pods');
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
    const binding = findOne(manifests, 'ClusterRoleBinding', 'kube-join-kube-join-auth-pods');
    assert.deepEqual([binding.roleRef.name, binding.subjects], [role.metadata.name, [{ kind: 'ServiceAccount', name: 'kube-join-auth', namespace: 'kube-join' }]]);
    assert.equal(resolveAuthConfig({ flags: parseFlags(AUTH_OPTIONS, flagsOf(authContainer(rendered), 'auth')), env: {} }).inventoryCheckPods, false);
  });

  it('a ServiceMonitor on the Service port named metrics, only when asked, and only with metrics on', async () => {
    const manifests = await renderChart(AUTH, { ...seed, serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prom' } } }, { namespace: 'kube-join' });
    const monitor = findOne(manifests, 'ServiceMonitor');
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(monitor.metadata.labels.release, 'prom');
    assert.deepEqual(monitor.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    assert.deepEqual(monitor.spec.selector.matchLabels, findOne(manifests, 'Service').spec.selector);
    assert.equal(rendered.filter((m) => m.kind === 'ServiceMonitor').length, 0);
    const err = await rejection(renderChart(AUTH, { ...seed, serviceMonitor: { enabled: true }, metrics: { enabled: false } }));
    assert.equal(err.message, 'execution error at (kube-join-auth/templates/servicemonitor.yaml:3:4): serviceMonitor.enabled needs metrics.enabled: the ServiceMonitor scrapes the Service port named metrics');
  });

  it('follows the chart conventions: name overrides, extraEnv, extraVolumes and mounts, priorityClassName, topologySpreadConstraints', async () => {
    const spread = [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'kube-join-auth' } } }];
    const manifests = await renderChart(AUTH, {
      ...seed,
      fullnameOverride: 'auth',
      extraEnv: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/corp-ca/ca.crt' }],
      extraVolumes: [{ name: 'corp-ca', configMap: { name: 'corp-ca' } }],
      extraVolumeMounts: [{ name: 'corp-ca', mountPath: '/etc/corp-ca', readOnly: true }],
      priorityClassName: 'system-cluster-critical',
      topologySpreadConstraints: spread,
    }, { namespace: 'kube-join' });
    assert.equal(findOne(manifests, 'Deployment').metadata.name, 'auth');
    assert.equal(findOne(manifests, 'Service').metadata.name, 'auth');
    const pod = findOne(manifests, 'Deployment').spec.template.spec;
    assert.deepEqual(authContainer(manifests).env, [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/corp-ca/ca.crt' }]);
    assert.deepEqual(pod.volumes.at(-1), { name: 'corp-ca', configMap: { name: 'corp-ca' } });
    assert.deepEqual(authContainer(manifests).volumeMounts.at(-1), { name: 'corp-ca', mountPath: '/etc/corp-ca', readOnly: true });
    assert.equal(pod.priorityClassName, 'system-cluster-critical');
    assert.deepEqual(pod.topologySpreadConstraints, spread);
    const args = authContainer(manifests).args as string[];
    assert.ok(args[args.indexOf('--san') + 1]?.split(',').includes('auth.kube-join.svc'), 'the certificate follows the new name');
    const renamed = await renderChart(AUTH, { ...seed, nameOverride: 'join' }, { release: 'corp' });
    assert.equal(findOne(renamed, 'Deployment').metadata.name, 'corp-join');
  });

  it('publishes the CA bundle ConfigMap where caBundle says, with RBAC narrowed to its name', async () => {
    const args = findOne(rendered, 'Deployment').spec.template.spec.containers[0].args as string[];
    const flags = parseFlags(AUTH_OPTIONS, args.slice(1));
    assert.deepEqual([flags.caBundleConfigmap, flags.caBundleNamespaces, flags.caBundleNamespaceSelector], ['kube-join-ca-bundle', ['teleport-agent'], undefined]);
    const role = findOne(rendered, 'ClusterRole', 'kube-join-kube-join-auth-ca-bundle');
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['kube-join-ca-bundle'], verbs: ['get', 'update'] },
    ]);
    const binding = findOne(rendered, 'ClusterRoleBinding', 'kube-join-kube-join-auth-ca-bundle');
    assert.deepEqual([binding.roleRef.name, binding.subjects], ['kube-join-kube-join-auth-ca-bundle', [{ kind: 'ServiceAccount', name: 'kube-join-auth', namespace: 'kube-join' }]]);
    // A selector adds list on namespaces; no caBundle namespaces at all: no flag and no ClusterRole.
    const selected = await renderChart(AUTH, { ...seed, caBundle: { configMap: 'trust', namespaceSelector: 'kube-join.io/ca-bundle=true' } });
    const selectedArgs = findOne(selected, 'Deployment').spec.template.spec.containers[0].args as string[];
    assert.equal(selectedArgs[selectedArgs.indexOf('--ca-bundle-namespace-selector') + 1], 'kube-join.io/ca-bundle=true');
    assert.deepEqual(findOne(selected, 'ClusterRole').rules.at(-1), { apiGroups: [''], resources: ['namespaces'], verbs: ['list'] });
    assert.deepEqual(findOne(selected, 'ClusterRole').rules[1].resourceNames, ['trust']);
    const none = await renderChart(AUTH, { ...seed, caBundle: { namespaces: [] } });
    assert.equal(none.filter((m) => m.kind === 'ClusterRole').length, 0);
    assert.ok(!(findOne(none, 'Deployment').spec.template.spec.containers[0].args as string[]).includes('--ca-bundle-configmap'));
  });

  it('NOTES print the kube-join ca command, where the bundle is published, and one `kube-join token create` per token', async () => {
    const notes = await renderNotes(AUTH, seed, { namespace: 'kube-join' });
    assert.ok(notes.includes('  kubectl -n kube-join exec deploy/kube-join-auth -- kube-join ca\n'), notes);
    assert.ok(notes.includes('   The CA bundle is published into ConfigMap kube-join-ca-bundle (key ca.crt) in\n   teleport-agent: agents there mount it, no pin needed.\n'), notes);
    assert.ok(notes.includes('  kubectl -n kube-join exec deploy/kube-join-auth -- kube-join token create -f /etc/kube-join/tokens/kube-token.yaml\n'), notes);
  });
});

// ---------------------------------------------------------------------------------------------------
// kube-join-auth: the injector (injector.enabled)

describe('chart kube-join-auth: the injector (real helm)', () => {
  let seed: Values;
  let rendered: Manifest[];
  const INJECTOR = 'kube-join-auth-injector';
  const MWC = 'kube-join-kube-join-auth-injector';

  before(async () => {
    seed = await seedValues(AUTH);
    rendered = await renderChart(AUTH, { ...seed, injector: { enabled: true } }, { namespace: 'kube-join' });
  });

  const injectorContainer = (manifests: readonly Manifest[]) => findOne(manifests, 'Deployment', INJECTOR).spec.template.spec.containers[0] as Obj;
  const webhookOf = (manifests: readonly Manifest[]) => findOne(manifests, 'MutatingWebhookConfiguration').webhooks[0] as Obj;

  it('is off by default: nothing of it is rendered', async () => {
    const manifests = await renderChart(AUTH, seed, { namespace: 'kube-join' });
    assert.deepEqual(manifests.filter((m) => m.metadata.name.includes('injector')).map((m) => m.kind), []);
  });

  it('passes helm lint --strict when enabled', async () => {
    assert.match(await lintChart(AUTH, { ...seed, injector: { enabled: true } }), /^1 chart\(s\) linted, 0 chart\(s\) failed$/m);
  });

  it('renders its ServiceAccount, ClusterRole and Role with their bindings, Service, Deployment and MutatingWebhookConfiguration', () => {
    assert.deepEqual(rendered.filter((m) => m.metadata.name.includes('injector')).map((m) => `${m.kind}/${m.metadata.name}`), [
      `ServiceAccount/${INJECTOR}`,
      `ClusterRole/${MWC}`,
      `ClusterRoleBinding/${MWC}`,
      `Role/${INJECTOR}`,
      `RoleBinding/${INJECTOR}`,
      `Service/${INJECTOR}`,
      `Deployment/${INJECTOR}`,
      `MutatingWebhookConfiguration/${MWC}`,
    ]);
  });

  it('runs `kube-join injector` with flags INJECTOR_OPTIONS has and resolveInjectorConfig accepts, dialling this release\'s auth service', () => {
    const args = flagsOf(injectorContainer(rendered), 'injector');
    assert.deepEqual(unknownFlags(INJECTOR_OPTIONS, args), []);
    const config = resolveInjectorConfig({ flags: parseFlags(INJECTOR_OPTIONS, args), env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } });
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8443 });
    assert.equal(config.defaults.authAddr, 'kube-join-auth.kube-join.svc:3025');
    assert.equal(config.defaults.clusterName, seed.clusterName);
    assert.equal(config.defaults.image, 'kube-join:0.1.0');
    assert.equal(config.defaults.caBundleConfigMap, 'kube-join-ca-bundle');
    assert.equal(config.defaults.tokenName, undefined);
    assert.equal(config.webhook?.configName, MWC);
    assert.deepEqual(config.tlsSecret, { namespace: 'kube-join', name: `${INJECTOR}-ca` });
  });

  it('runs two replicas by default, sharing the CA Secret; injector.replicaCount sets them', async () => {
    assert.equal(findOne(rendered, 'Deployment', INJECTOR).spec.replicas, 2);
    const manifests = await renderChart(AUTH, { ...seed, injector: { enabled: true, replicaCount: 3 } }, { namespace: 'kube-join' });
    assert.equal(findOne(manifests, 'Deployment', INJECTOR).spec.replicas, 3);
  });

  it('the webhook calls its Service on /mutate, by a name its certificate carries; the caBundle is left to the injector', () => {
    const webhook = webhookOf(rendered);
    const service = findOne(rendered, 'Service', INJECTOR);
    assert.deepEqual(webhook.clientConfig, { service: { name: INJECTOR, namespace: 'kube-join', path: '/mutate', port: 443 } });
    assert.deepEqual(service.spec.ports, [{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
    const args = injectorContainer(rendered).args as string[];
    assert.ok(args[args.indexOf('--san') + 1]?.split(',').includes(`${INJECTOR}.kube-join.svc`));
    assert.deepEqual(injectorContainer(rendered).readinessProbe.httpGet, { path: '/readyz', port: 'webhook', scheme: 'HTTPS' });
  });

  it('may get and patch its own MutatingWebhookConfiguration, get its CA Secret and create Secrets in its namespace, and nothing else', () => {
    assert.deepEqual(findOne(rendered, 'ClusterRole', MWC).rules, [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [MWC], verbs: ['get', 'patch'] }]);
    const binding = findOne(rendered, 'ClusterRoleBinding', MWC);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: INJECTOR, namespace: 'kube-join' }]);
    const role = findOne(rendered, 'Role', INJECTOR);
    assert.equal(role.metadata.namespace, 'kube-join');
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['secrets'], resourceNames: [`${INJECTOR}-ca`], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    assert.deepEqual(findOne(rendered, 'RoleBinding', INJECTOR).subjects, [{ kind: 'ServiceAccount', name: INJECTOR, namespace: 'kube-join' }]);
    assert.equal(findOne(rendered, 'Deployment', INJECTOR).spec.template.spec.serviceAccountName, INJECTOR);
  });

  it('defaults: Fail, IfNeeded, no side effects, pods on CREATE, never its own namespace nor kube-system', () => {
    const webhook = webhookOf(rendered);
    assert.equal(webhook.failurePolicy, 'Fail');
    assert.equal(webhook.reinvocationPolicy, 'IfNeeded');
    assert.equal(webhook.sideEffects, 'None');
    assert.equal(webhook.timeoutSeconds, 10);
    assert.deepEqual(webhook.admissionReviewVersions, ['v1']);
    assert.deepEqual(webhook.rules, [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }]);
    assert.deepEqual(webhook.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-join'] }] });
    assert.equal(webhook.objectSelector, undefined);
  });

  it('takes failurePolicy, selectors, timeout, token name, agent image and log level from values', async () => {
    const manifests = await renderChart(AUTH, {
      ...seed,
      injector: {
        enabled: true,
        tokenName: 'kube-token',
        agentImage: 'registry.example/kube-join:1.2.3',
        logLevel: 'debug',
        webhook: {
          failurePolicy: 'Ignore',
          timeoutSeconds: 5,
          reinvocationPolicy: 'Never',
          namespaceSelector: { matchLabels: { 'kube-join.io/injection': 'enabled' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] },
          objectSelector: { matchLabels: { 'kube-join.io/inject': 'true' } },
        },
      },
    }, { namespace: 'kube-join' });
    const webhook = webhookOf(manifests);
    assert.equal(webhook.failurePolicy, 'Ignore');
    assert.equal(webhook.timeoutSeconds, 5);
    assert.equal(webhook.reinvocationPolicy, 'Never');
    assert.deepEqual(webhook.namespaceSelector, {
      matchLabels: { 'kube-join.io/injection': 'enabled' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }, { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-join'] }],
    });
    assert.deepEqual(webhook.objectSelector, { matchLabels: { 'kube-join.io/inject': 'true' } });
    const args = flagsOf(injectorContainer(manifests), 'injector');
    const config = resolveInjectorConfig({ flags: parseFlags(INJECTOR_OPTIONS, args), env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } });
    assert.equal(config.defaults.tokenName, 'kube-token');
    assert.equal(config.defaults.image, 'registry.example/kube-join:1.2.3');
    assert.equal(config.logLevel, 'debug');
  });

  it('injects the very sidecar the agent chart renders: same args, env, ports, probes, resources, security context, token and volume', async () => {
    const agentSeed = without(await seedValues(AGENT), ['caPin']);
    const chartPod = podSpecOf(await renderChart(AGENT, { ...agentSeed, caFile: { configMap: 'kube-join-ca-bundle', key: 'ca.crt' } }, { namespace: 'teleport-agent' }));
    const fromChart = chartPod.initContainers.find((c: Obj) => c.name === 'kube-join') as Obj;
    const config = resolveInjectorConfig({ flags: parseFlags(INJECTOR_OPTIONS, flagsOf(injectorContainer(rendered), 'injector')), env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } });
    const result = buildInjection({
      metadata: { annotations: { 'kube-join.io/inject': 'true', 'kube-join.io/token-name': 'kube-token', 'kube-join.io/roles': 'App', 'kube-join.io/apps': 'grafana=http://localhost:3000' } },
      spec: { securityContext: { fsGroup: 65532 }, containers: [{ name: 'grafana' }] },
    }, config.defaults);
    assert.equal(result.kind, 'patch');
    const patch = result.kind === 'patch' ? result.patch : [];
    const injected = (patch[0]?.value as Obj[])[0] as Obj;
    for (const field of ['image', 'imagePullPolicy', 'restartPolicy', 'env', 'ports', 'startupProbe', 'livenessProbe', 'readinessProbe', 'resources', 'securityContext']) {
      assert.deepEqual(injected[field], fromChart[field], field);
    }
    // Only where the CA bundle is mounted differs (the chart's caFile directory; the injector's, per the CA bundle contract).
    const caOf = (args: string[]) => args[args.indexOf('--ca-file') + 1];
    const withoutCa = (args: string[]) => args.map((a, i) => (args[i - 1] === '--ca-file' ? '<ca>' : a));
    assert.deepEqual(withoutCa(injected.args), withoutCa(fromChart.args));
    assert.equal(caOf(injected.args), '/var/run/kube-join/ca/ca.crt');
    const mounts = (c: Obj, caFile: string) => (c.volumeMounts as Obj[]).filter((m) => m.mountPath !== posix.dirname(caFile)).map((m) => [m.mountPath, m.readOnly === true]);
    assert.deepEqual(mounts(injected, caOf(injected.args) as string), mounts(fromChart, caOf(fromChart.args) as string));
    const volumes = patch[1]?.value as Obj[];
    const volumeOf = (list: Obj[], mountPath: string, container: Obj) => {
      const name = (container.volumeMounts as Obj[]).find((m) => m.mountPath === mountPath)?.name;
      const { name: _name, ...source } = list.find((v) => v.name === name) as Obj;
      return source;
    };
    for (const mountPath of ['/var/run/secrets/tokens', '/var/run/kube-join', '/tmp']) {
      assert.deepEqual(volumeOf(volumes, mountPath, injected), volumeOf(chartPod.volumes, mountPath, fromChart), mountPath);
    }
  });

  it('values.schema.json refuses a failurePolicy Kubernetes does not have, and unknown keys', async () => {
    let err = await rejection(renderChart(AUTH, { ...seed, injector: { enabled: true, webhook: { failurePolicy: 'Retry' } } }));
    assert.equal(err.message, schemaError(AUTH, "- at '/injector/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'"));
    err = await rejection(renderChart(AUTH, { ...seed, injector: { enabled: true, replicas: 2 } }));
    assert.equal(err.message, schemaError(AUTH, "- at '/injector': additional properties 'replicas' not allowed"));
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
        // The CA bundle ConfigMap, as the kubelet would mount it.
        await writeFile(join(pod, 'ca.crt'), (await testCa('kube-join')).certPem, { mode: 0o644 });
        const overrides = ['--auth-addr', `127.0.0.1:${port}`, '--token-path', join(pod, 'token'), '--ca-file', join(pod, 'ca.crt'), '--out-dir', join(pod, 'out'), '--once', '--once-timeout', '1s'];
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
