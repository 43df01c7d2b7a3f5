import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { parse as parseYaml } from 'yaml';
import { createTokenIssuer, type TokenIssuer, type MintOptions } from '../../src/demo/index.ts';
import { kubeJoin, kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';

const CLUSTER = 'admin-cluster';
const POD: MintOptions = { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', audience: CLUSTER };

describe('admin API, inventory and apps ls (auth process on loopback)', function () {
  this.timeout(60_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthProcess;
  let ca: string;

  const admin = (args: string[]) => kubeJoinRun([...args, '--state-dir', auth.stateDir]);
  async function joinOnce(name: string, pod: MintOptions, extra: string[]) {
    const tokenPath = join(dir, `token-${name}`);
    await issuer.writeToken(tokenPath, pod);
    return kubeJoinRun(['agent', '--once', '--auth-addr', auth.addr, '--ca-file', auth.caFile, '--cluster-name', CLUSTER, '--token-name', 'kube-token', '--token-path', tokenPath, '--out-dir', join(dir, `out-${name}`), ...extra]);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-admin-'));
    issuer = await createTokenIssuer();
    auth = await startAuthProcess(dir, { clusterName: CLUSTER });
    ca = await readFile(auth.caFile, 'utf8');
    await writeFile(join(dir, 'token.yaml'), tokenYaml({ name: 'kube-token', jwks: issuer.jwks() }));
    assert.equal((await admin(['token', 'create', '-f', join(dir, 'token.yaml')])).code, 0);
    const a = await joinOnce('a', POD, ['--app', 'grafana=http://localhost:3000', '--node-name', 'node-1', '--roles', 'app']);
    assert.equal(a.code, 0, a.stderr);
    const b = await joinOnce('b', { ...POD, podName: 'db-1' }, ['--app', 'postgres=tcp://localhost:5432']);
    assert.equal(b.code, 0, b.stderr);
  });
  after(async () => {
    await auth?.stop();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('apps ls lists the apps joined agents serve, like tsh apps ls, with each certificate\'s expiry', async () => {
    const r = await admin(['apps', 'ls']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] as string, /^Application +Description +Type +Public Address +Expires \(UTC\) +Labels$/);
    // --roles app (lower case) was granted as App, the token's spelling.
    assert.match(r.stdout, /^grafana +teleport-agent\/app-1 \(App\) +HTTP +http:\/\/localhost:3000 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +kube-join\/namespace=teleport-agent,kube-join\/node=node-1$/m);
    assert.match(r.stdout, /^postgres +teleport-agent\/db-1 \(App,Db\) +TCP +tcp:\/\/localhost:5432 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +kube-join\/namespace=teleport-agent$/m);
    const rows = JSON.parse((await admin(['apps', 'ls', '--format', 'json'])).stdout) as { name: string; notAfter: string }[];
    for (const row of rows) assert.match(r.stdout, new RegExp(`^${row.name} .* ${row.notAfter.replace(/\.\d{3}Z$/, 'Z')} `, 'm'), 'the column is the certificate\'s notAfter');
  });

  it('apps ls --format json gives the same rows as data', async () => {
    const r = await admin(['apps', 'ls', '--format', 'json']);
    const rows = JSON.parse(r.stdout) as { name: string; uri: string; hostId: string; serviceAccount: string; roles: string[] }[];
    assert.deepEqual(rows.map((x) => [x.name, x.uri, x.hostId, x.serviceAccount, x.roles.join(',')]), [
      ['grafana', 'http://localhost:3000', 'app-1', 'teleport-app-service', 'App'],
      ['postgres', 'tcp://localhost:5432', 'db-1', 'teleport-app-service', 'App,Db'],
    ]);
    assert.deepEqual(parseYaml((await admin(['apps', 'ls', '--format', 'yaml'])).stdout), rows);
    const bad = await admin(['apps', 'ls', '--format', 'xml']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'kube-join: --format must be one of text, json, yaml (got "xml") [ERR_CONFIG]\n');
  });

  it('token ls and token get take --format text, json or yaml like apps ls', async () => {
    const lsJson = await admin(['token', 'ls', '--format', 'json']);
    assert.equal(lsJson.code, 0, lsJson.stderr);
    const tokens = JSON.parse(lsJson.stdout) as { name: string; type: string; roles: string[]; allow: string[]; expired: boolean; agents: number }[];
    // agents: the two pods joined in before(), live in the inventory through this token.
    assert.deepEqual(tokens.map((t) => [t.name, t.type, t.roles, t.allow, t.expired, t.agents]), [['kube-token', 'static_jwks', ['App', 'Db'], ['teleport-agent:teleport-app-service'], false, 2]]);
    assert.deepEqual(parseYaml((await admin(['token', 'ls', '--format', 'yaml'])).stdout), tokens);
    const text = await admin(['token', 'get', 'kube-token']);
    assert.match(text.stdout, /^kind: token\nversion: v2\nmetadata:\n  name: kube-token\n/);
    assert.equal((await admin(['token', 'get', 'kube-token', '--format', 'yaml'])).stdout, text.stdout);
    const getJson = await admin(['token', 'get', 'kube-token', '--format', 'json']);
    assert.equal(getJson.code, 0, getJson.stderr);
    assert.deepEqual(JSON.parse(getJson.stdout), parseYaml(text.stdout));
    assert.equal((JSON.parse(getJson.stdout) as { spec: { kubernetes: { type: string } } }).spec.kubernetes.type, 'static_jwks');
    for (const command of [['token', 'ls'], ['token', 'get', 'kube-token']]) {
      const bad = await admin([...command, '--format', 'table']);
      assert.equal(bad.code, 2);
      assert.equal(bad.stderr, 'kube-join: --format must be one of text, json, yaml (got "table") [ERR_CONFIG]\n');
    }
  });

  it('refuses the admin API without a client certificate (401) and with an agent\'s certificate (403)', async () => {
    const none = await got(`https://${auth.addr}/v1/admin/tokens`, { https: { certificateAuthority: ca }, throwHttpErrors: false });
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['content-type'], 'application/problem+json');
    assert.equal((JSON.parse(none.body) as { code: string }).code, 'unauthorized');
    const agentCert = { key: await readFile(join(dir, 'out-a', 'tls.key'), 'utf8'), certificate: await readFile(join(dir, 'out-a', 'tls.crt'), 'utf8') };
    const asAgent = await got(`https://${auth.addr}/v1/admin/inventory`, { https: { certificateAuthority: ca, ...agentCert }, throwHttpErrors: false });
    assert.equal(asAgent.statusCode, 403);
    assert.deepEqual(JSON.parse(asAgent.body), { type: 'https://kube-join.dev/problems/forbidden', title: 'Forbidden', status: 403, detail: 'the client certificate "app-1" is not an admin identity', code: 'forbidden' });
  });

  it('works from outside the auth pod with --auth-addr and --identity', async () => {
    const r = await kubeJoinRun(['token', 'ls', '--auth-addr', auth.addr, '--identity', join(auth.stateDir, 'admin'), '--state-dir', join(dir, 'nowhere')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^kube-token +static_jwks/m);
    const fromEnv = await kubeJoinRun(['token', 'ls'], { env: { ...process.env, KUBE_JOIN_AUTH_ADDR: auth.addr, KUBE_JOIN_IDENTITY: join(auth.stateDir, 'admin'), KUBE_JOIN_STATE_DIR: join(dir, 'nowhere') } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal(fromEnv.stdout, r.stdout, 'KUBE_JOIN_AUTH_ADDR and KUBE_JOIN_IDENTITY work as the flags do');
    const nowhere = join(dir, 'nowhere');
    const missing = await kubeJoinRun(['token', 'ls', '--state-dir', nowhere]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `kube-join: auth service address file ${nowhere}/auth.addr does not exist (ENOENT): looked in the state directory ${nowhere}: no auth service runs there; outside the auth pod give --auth-addr host:port and --identity DIR (a copy of the auth's admin folder) [ERR_ADMIN_REQUEST]\n`);
    const noIdentity = await kubeJoinRun(['token', 'ls', '--auth-addr', auth.addr, '--state-dir', nowhere]);
    assert.equal(noIdentity.code, 1);
    assert.match(noIdentity.stderr, /^kube-join: admin (key|certificate|CA bundle) .*nowhere\/admin\/\S+ does not exist \(ENOENT\): looked in the state directory .*nowhere, which holds no admin identity; with --auth-addr give --identity DIR \(a copy of the auth's admin folder\) \[ERR_ADMIN_REQUEST\]\n$/);
    const badIdentity = await kubeJoinRun(['token', 'ls', '--auth-addr', auth.addr, '--identity', nowhere, '--state-dir', nowhere]);
    assert.match(badIdentity.stderr, /: --identity DIR must be a copy of the auth's admin folder \(tls\.key, tls\.crt, ca\.crt\) \[ERR_ADMIN_REQUEST\]\n$/);
  });

  it('token create takes the file as FILE or -f FILE; both, or neither, is a usage error that says so', async () => {
    const file = join(dir, 'positional.yaml');
    await writeFile(file, tokenYaml({ name: 'positional-token', jwks: issuer.jwks(), expires: '2099-01-01T00:00:00Z' }));
    const positional = await admin(['token', 'create', file]);
    assert.equal(positional.code, 0, positional.stderr);
    assert.equal(positional.stdout, 'provision token "positional-token" created; it expires at 2099-01-01T00:00:00Z');
    assert.equal(positional.stderr, '', 'no warning for a token that lives past 24 h');
    assert.equal((await admin(['token', 'create', '-f', file, '--force'])).code, 0);
    const both = await admin(['token', 'create', file, '-f', file]);
    assert.equal(both.code, 2);
    assert.equal(both.stderr, `kube-join: token create takes the token file once: give FILE or -f FILE, not both (got "${file}" and -f "${file}") [ERR_CONFIG]\n`);
    const neither = await admin(['token', 'create']);
    assert.equal(neither.code, 2);
    assert.equal(neither.stderr, 'kube-join: token create needs the token file: give FILE or -f FILE ("-" for standard input) [ERR_CONFIG]\n');
    assert.equal((await admin(['token', 'rm', 'token/positional-token'])).stdout, 'provision token "positional-token" deleted');
  });

  it('token get takes NAME or token/NAME and prints the guide\'s shape, which token create --force reads back unchanged', async () => {
    const file = join(dir, 'shape.yaml');
    await writeFile(file, tokenYaml({ name: 'shape-token', jwks: issuer.jwks(), expires: '2099-12-01T21:00:00.250+01:00', roles: ['app', 'KUBE'] }));
    assert.equal((await admin(['token', 'create', file])).code, 0);
    const printed = await admin(['token', 'get', 'token/shape-token']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^  expires: "2099-12-01T20:00:00Z"$/m);
    assert.match(printed.stdout, /^  roles:\n    - App\n    - Kube$/m, 'role names are stored in their canonical spelling');
    assert.equal((await admin(['token', 'get', 'shape-token'])).stdout, printed.stdout);
    await writeFile(file, `${printed.stdout}\n`);
    assert.equal((await admin(['token', 'create', file, '--force'])).code, 0);
    assert.equal((await admin(['token', 'get', 'shape-token'])).stdout, printed.stdout, 'what token get prints reads back unchanged');
    const other = await admin(['token', 'get', 'role/shape-token']);
    assert.equal(other.code, 2);
    assert.equal(other.stderr, 'kube-join: the token must be given as NAME or token/NAME (got "role/shape-token") [ERR_CONFIG]\n');
    assert.equal((await admin(['token', 'rm', 'shape-token'])).code, 0);
  });

  it('token create warns on stderr when the token expires within 24 h, and refuses an unknown role with the known ones', async () => {
    const file = join(dir, 'short.yaml');
    await writeFile(file, tokenYaml({ name: 'short-token', jwks: issuer.jwks() }));
    const r = await admin(['token', 'create', file]);
    assert.equal(r.code, 0, r.stderr);
    const expires = /it expires at (\S+Z)$/.exec(r.stdout)?.[1];
    assert.match(expires ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.stderr, `warning: provision token "short-token" expires in 30m (${expires}); agents that have not joined by then cannot join\n`);
    assert.equal((await admin(['token', 'rm', 'short-token'])).code, 0);
    await writeFile(file, tokenYaml({ name: 'short-token', jwks: issuer.jwks(), roles: ['App', 'Admin'] }));
    const unknown = await admin(['token', 'create', file]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'kube-join: spec.roles[1]: "Admin" is not a known role (known: App, Db, Kube, Node, WindowsDesktop, Bot, Discovery) [ERR_TOKEN_SPEC]\n');
  });

  it('token create refuses a duplicate (409) unless --force, and token rm deletes', async () => {
    await writeFile(join(dir, 'tmp.yaml'), tokenYaml({ name: 'tmp-token', jwks: issuer.jwks() }));
    assert.equal((await admin(['token', 'create', '-f', join(dir, 'tmp.yaml')])).code, 0);
    const dup = await admin(['token', 'create', '-f', join(dir, 'tmp.yaml')]);
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr, 'kube-join: provision token "tmp-token" already exists (remove it first, or pass --force) [ERR_ADMIN_REQUEST]\n');
    assert.equal((await admin(['token', 'create', '-f', join(dir, 'tmp.yaml'), '--force'])).code, 0);
    const rm1 = await admin(['token', 'rm', 'tmp-token']);
    assert.equal(rm1.stdout.trim(), 'provision token "tmp-token" deleted');
    const rm2 = await admin(['token', 'rm', 'tmp-token']);
    assert.equal(rm2.stderr, 'kube-join: provision token "tmp-token" not found [ERR_ADMIN_REQUEST]\n');
  });

  it('token create refuses malformed YAML and unknown fields before connecting', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'kind: token\nversion: v2\nmetadata: {name: x}\nspec: {roles: [App], join_method: kubernetes, kubernetes: {allow: [{service_account: "a:b"}]}, colour: blue}\n');
    const r = await admin(['token', 'create', '-f', join(dir, 'bad.yaml')]);
    assert.equal(r.stderr, 'kube-join: spec: unknown field "colour" [ERR_TOKEN_SPEC]\n');
    await writeFile(join(dir, 'broken.yaml'), 'kind: token\n  version: v2\n');
    assert.equal((await admin(['token', 'create', '-f', join(dir, 'broken.yaml')])).stderr, 'kube-join: malformed YAML at 1:7: Nested mappings are not allowed in compact mappings [ERR_TOKEN_SPEC]\n');
    await writeFile(join(dir, 'no-roles.yaml'), 'kind: token\nversion: v2\nmetadata: {name: x}\nspec: {join_method: kubernetes, kubernetes: {allow: [{service_account: "a:b"}]}}\n');
    assert.equal((await admin(['token', 'create', '-f', join(dir, 'no-roles.yaml')])).stderr, 'kube-join: spec.roles: required (a list such as [App, Db]) [ERR_TOKEN_SPEC]\n');
  });

  it('reports ready, and counts joins and agents in its metrics, served over plain HTTP on --metrics-addr only', async () => {
    assert.deepEqual(await got(`https://${auth.addr}/readyz`, { https: { certificateAuthority: ca } }).json(), { ready: true });
    const onJoinPort = await got(`https://${auth.addr}/metrics`, { https: { certificateAuthority: ca }, throwHttpErrors: false });
    assert.equal(onJoinPort.statusCode, 404);
    assert.equal((JSON.parse(onJoinPort.body) as { code: string }).code, 'not_found');
    const metrics = await got(`http://${auth.metricsAddr}/metrics`).text();
    assert.match(metrics, /^kube_join_auth_joins_total\{result="success",code=""\} 2$/m);
    assert.match(metrics, /^kube_join_auth_join_duration_seconds_count\{result="success"\} 2$/m);
  });
});

describe('auth service limits and CA key encryption', function () {
  this.timeout(60_000);
  let dir: string;
  const stops: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-limits-'));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 429 rate_limited with Retry-After past the per-source rate', async () => {
    // No spread: Retry-After is then exactly the wait for the source's next token (1 / 0.5 per second).
    const auth = await startAuthProcess(dir, { clusterName: 'limits', args: ['--join-rate-per-source', '0.5', '--retry-after-spread', '0s'] });
    stops.push(auth.stop);
    const ca = await readFile(auth.caFile, 'utf8');
    const post = () => got.post(`https://${auth.addr}/v1/join`, { body: '{}', headers: { 'content-type': 'application/json' }, throwHttpErrors: false, https: { certificateAuthority: ca } });
    assert.equal((await post()).statusCode, 400, 'the first request is admitted (and refused as malformed)');
    const limited = await post();
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.headers['retry-after'], '2');
    assert.equal((JSON.parse(limited.body) as { code: string }).code, 'rate_limited');
  });

  it('keeps the CA key encrypted at rest with --ca-key-encryption-key-file, and needs that key to start', async () => {
    await mkdir(join(dir, 'secret'));
    await writeFile(join(dir, 'secret', 'kek'), 'ab'.repeat(32));
    const first = await startAuthProcess(dir, { clusterName: 'kek', args: ['--ca-key-encryption-key-file', join(dir, 'secret', 'kek')] });
    const pin = first.caPin;
    await first.stop();
    const atRest = await readFile(join(first.stateDir, 'ca.key'), 'utf8');
    assert.match(atRest, /^eyJ/);
    assert.ok(!atRest.includes('PRIVATE KEY'));
    const without = kubeJoin(['auth', '--state-dir', first.stateDir, '--listen', '127.0.0.1:0', '--cluster-name', 'kek']);
    assert.equal(await without.exited, 1);
    assert.equal(without.stderr(), 'kube-join: the stored CA key is encrypted; give the key-encryption key (--ca-key-encryption-key-file) [ERR_CA_KEY_ENCRYPTION]\n');
    const again = await startAuthProcess(dir, { clusterName: 'kek', args: ['--ca-key-encryption-key-file', join(dir, 'secret', 'kek')] });
    stops.push(again.stop);
    assert.equal(again.caPin, pin, 'the same CA after a restart');
  });

  it('reports not ready, with the reason, while the Kubernetes API for in_cluster reviews is unreachable', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }]',
      'users: [{ name: u, user: { token: "not-a-real-token" } }]',
      'contexts: [{ name: x, context: { cluster: c, user: u } }]',
      'current-context: x',
      '',
    ].join('\n'));
    const auth = await startAuthProcess(dir, { clusterName: 'ready', args: ['--kubeconfig', kubeconfig, '--kube-timeout', '500ms'] });
    stops.push(auth.stop);
    const r = await got(`https://${auth.addr}/readyz`, { https: { certificateAuthority: await readFile(auth.caFile, 'utf8') }, throwHttpErrors: false });
    assert.equal(r.statusCode, 503);
    // The readiness probe is a TokenReview (of a dummy token), the request in_cluster joins depend on.
    assert.deepEqual(JSON.parse(r.body), { ready: false, reason: `Kubernetes API https://127.0.0.1:1 (kubeconfig ${kubeconfig} (context x)): POST /apis/authentication.k8s.io/v1/tokenreviews failed (ECONNREFUSED)` });
  });

  it('says so when the state directory cannot be created (instead of spinning in mkdir)', async () => {
    const auth = kubeJoin(['auth', '--state-dir', '/proc/kube-join-nonexistent/state', '--listen', '127.0.0.1:0']);
    assert.equal(await auth.exited, 1);
    assert.equal(auth.stderr(), 'kube-join: state directory /proc/kube-join-nonexistent/state cannot be created (ENOENT) [ERR_STORAGE]\n');
  });

  it('refuses to serve a state directory another auth process serves', async () => {
    const first = await startAuthProcess(dir, { clusterName: 'lock' });
    stops.push(first.stop);
    const second = kubeJoin(['auth', '--state-dir', first.stateDir, '--listen', '127.0.0.1:0', '--cluster-name', 'lock']);
    assert.equal(await second.exited, 1);
    assert.match(second.stderr(), /^kube-join: state directory is locked by running process \d+ \(.*auth\.lock\); only one auth process may serve a file state directory \[ERR_STATE_LOCKED\]\n$/);
  });
});
