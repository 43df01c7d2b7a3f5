import assert from 'node:assert/strict';
import { createHash, X509Certificate as NodeX509, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, readlink, stat, mkdir } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { createTokenIssuer, type TokenIssuer, type MintOptions } from '../../src/demo/index.ts';
import { X509Certificate, SubjectAlternativeNameExtension } from '../../src/common/x509.ts';
import { decodeRoles, issueServingCert } from '../../src/auth/ca.ts';
import { testCa } from '../support/pki.ts';
import { kubeJoin, kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';

const CLUSTER = 'it-cluster';
const POD: MintOptions = { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', audience: CLUSTER };

describe('join end to end (auth and agent processes on loopback)', function () {
  this.timeout(60_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthProcess;
  const minted: string[] = [];
  const agentOutputs: string[] = [];

  async function writeToken(name: string, options: MintOptions = POD, by: TokenIssuer = issuer): Promise<string> {
    const path = join(dir, 'tokens', name);
    const token = await by.writeToken(path, options);
    minted.push(token);
    return path;
  }

  /** `kube-join agent --once` with the defaults of this suite plus `args`. */
  async function joinOnce(outDir: string, tokenPath: string, args: string[] = []) {
    // --ca-pin is repeatable: a test that names its own trust replaces the suite's pin.
    const trust = args.includes('--ca-pin') || args.includes('--ca-file') ? [] : ['--ca-pin', auth.caPin];
    const result = await kubeJoinRun(['agent', '--once', '--auth-addr', auth.addr, ...trust, '--token-name', 'kube-token', '--token-path', tokenPath, '--out-dir', outDir, '--cluster-name', CLUSTER, '--retry-base', '50ms', '--once-timeout', '3s', ...args]);
    agentOutputs.push(result.stdout, result.stderr);
    return result;
  }

  async function snapshot(outDir: string): Promise<string> {
    const target = await readlink(join(outDir, '..data'));
    const hash = createHash('sha256');
    for (const name of ['tls.key', 'tls.crt', 'ca.crt', 'identity.json']) hash.update(await readFile(join(outDir, name)));
    return `${target}:${hash.digest('hex')}`;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-it-'));
    await mkdir(join(dir, 'tokens'));
    issuer = await createTokenIssuer();
    auth = await startAuthProcess(dir, { clusterName: CLUSTER });
    await writeFile(join(dir, 'kube-token.yaml'), tokenYaml({ name: 'kube-token', jwks: issuer.jwks() }));
    await writeFile(join(dir, 'old-token.yaml'), tokenYaml({ name: 'old-token', jwks: issuer.jwks(), expires: '2020-01-01T00:00:00Z' }));
    for (const f of ['kube-token.yaml', 'old-token.yaml']) {
      const r = await kubeJoinRun(['token', 'create', '-f', join(dir, f), '--state-dir', auth.stateDir]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await auth?.stop();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('token get prints the token back as YAML, and token ls marks the expired one', async () => {
    const got1 = await kubeJoinRun(['token', 'get', 'kube-token', '--state-dir', auth.stateDir]);
    assert.equal(got1.code, 0);
    assert.match(got1.stdout, /^kind: token\nversion: v2\nmetadata:\n  name: kube-token\n  expires: /);
    const ls = await kubeJoinRun(['token', 'ls', '--state-dir', auth.stateDir]);
    assert.match(ls.stdout, /^Token +Type +Roles +Allow +Agents +Expiry Time \(UTC\)$/m);
    assert.match(ls.stdout, /^kube-token +static_jwks +App,Db +teleport-agent:teleport-app-service +\d+ +\S+$/m);
    assert.match(ls.stdout, /^old-token .* \(expired\)$/m);
    const missing = await kubeJoinRun(['token', 'get', 'nope', '--state-dir', auth.stateDir]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'kube-join: provision token "nope" not found [ERR_ADMIN_REQUEST]\n');
  });

  it('token create names the bad field of a malformed token and stores nothing', async () => {
    await writeFile(join(dir, 'bad.yaml'), tokenYaml({ name: 'bad', jwks: issuer.jwks() }).replace('join_method: kubernetes', 'join_method: token'));
    const r = await kubeJoinRun(['token', 'create', '-f', join(dir, 'bad.yaml'), '--state-dir', auth.stateDir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'kube-join: spec.join_method: "token" is not supported: kube-join joins with "kubernetes" only [ERR_TOKEN_SPEC]\n');
    assert.equal((await kubeJoinRun(['token', 'get', 'bad', '--state-dir', auth.stateDir])).code, 1);
  });

  it('--once writes a set that verifies against the CA and carries the SPIFFE SAN and roles', async () => {
    const out = join(dir, 'out-once');
    const r = await joinOnce(out, await writeToken('once'), ['--roles', 'App', '--bundle']);
    assert.equal(r.code, 0, r.stderr);
    const leafPem = await readFile(join(out, 'tls.crt'), 'utf8');
    const caPem = await readFile(join(out, 'ca.crt'), 'utf8');
    assert.equal(caPem, await readFile(auth.caFile, 'utf8'));
    const leaf = new NodeX509(leafPem);
    assert.equal(leaf.verify(new NodeX509(caPem).publicKey), true);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://it-cluster/ns/teleport-agent/sa/teleport-app-service');
    const x = new X509Certificate(leafPem);
    assert.deepEqual(decodeRoles(x), ['App']);
    assert.equal(x.subject, 'CN=app-1, O=it-cluster, OU=App');
    assert.deepEqual(x.getExtension(SubjectAlternativeNameExtension)?.names.toJSON(), [{ type: 'url', value: 'spiffe://it-cluster/ns/teleport-agent/sa/teleport-app-service' }]);
    const keyPem = await readFile(join(out, 'tls.key'));
    assert.equal(createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }).toString('hex'), leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'));
    assert.equal((await stat(join(out, 'tls.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(out, 'bundle.pem'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(out, 'tls.crt'))).mode & 0o777, 0o644);
    const identity = JSON.parse(await readFile(join(out, 'identity.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(identity.spiffeId, 'spiffe://it-cluster/ns/teleport-agent/sa/teleport-app-service');
    assert.deepEqual(identity.roles, ['App']);
    assert.equal(identity.podName, 'app-1');
    assert.equal(identity.notAfter, leaf.validToDate.toISOString());
    assert.equal(await readFile(join(out, 'bundle.pem'), 'utf8'), keyPem.toString() + leafPem);
  });

  it('issues certificates two workloads can use for mutual TLS', async () => {
    const a = join(dir, 'out-a');
    const b = join(dir, 'out-b');
    assert.equal((await joinOnce(a, await writeToken('a'))).code, 0);
    assert.equal((await joinOnce(b, await writeToken('b', { ...POD, podName: 'app-2' }))).code, 0);
    const files = async (d: string) => ({ key: await readFile(join(d, 'tls.key')), cert: await readFile(join(d, 'tls.crt')), ca: await readFile(join(d, 'ca.crt')) });
    const [fa, fb] = [await files(a), await files(b)];
    const server = createTlsServer({ ...fa, requestCert: true, rejectUnauthorized: true }, (socket) => socket.end(String((socket.getPeerCertificate() as { subjectaltname?: string }).subjectaltname)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const answer = await new Promise<string>((resolve, reject) => {
        const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ...fb, checkServerIdentity: () => undefined }, () => undefined);
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.equal(answer, 'URI:spiffe://it-cluster/ns/teleport-agent/sa/teleport-app-service');
    } finally {
      server.close();
    }
  });

  describe('refuses bad joins with their stable code and leaves the previous set intact', () => {
    const out = () => join(dir, 'out-kept');
    let kept: string;

    before(async () => {
      assert.equal((await joinOnce(out(), await writeToken('good'))).code, 0);
      kept = await snapshot(out());
    });
    afterEach(async () => {
      assert.equal(await snapshot(out()), kept, 'the set on disk must not change');
    });

    const cases: { title: string; code: string; args?: (t: string) => string[]; token?: () => Promise<string> }[] = [
      { title: 'an unknown provision token', code: 'token_not_found', args: () => ['--token-name', 'nope'] },
      { title: 'an expired provision token', code: 'token_expired', args: () => ['--token-name', 'old-token'] },
      { title: 'a ServiceAccount token for another audience', code: 'audience_mismatch', token: () => writeToken('aud', { ...POD, audience: 'https://kubernetes.default.svc' }) },
      { title: 'a ServiceAccount token with a forged signature', code: 'kube_token_invalid', token: async () => {
        const forger = await createTokenIssuer();
        try {
          return await writeToken('forged', POD, forger);
        } finally {
          await forger.close();
        }
      } },
      { title: 'a ServiceAccount that is not in the allow list', code: 'service_account_not_allowed', token: () => writeToken('other-sa', { ...POD, namespace: 'default', serviceAccount: 'default' }) },
      { title: 'a request for roles the token does not grant (escalation)', code: 'roles_not_allowed', args: () => ['--roles', 'App,Admin'] },
      { title: 'a token that is not bound to a pod', code: 'legacy_token_rejected', token: () => writeToken('unbound', { ...POD, unbound: true }) },
    ];
    for (const c of cases) {
      it(`${c.title}: ${c.code}`, async () => {
        const tokenPath = c.token ? await c.token() : await writeToken(`for-${c.code}`);
        const joinsBefore = auth.proc.lines.filter((l) => l.msg === 'join').length;
        const r = await joinOnce(out(), tokenPath, c.args?.(tokenPath) ?? []);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^kube-join: join failed: join rejected \\(40[13] ${c.code}\\): .+ \\[ERR_ONCE_FAILED\\]\\n$`));
        // The same error as a log line: the agent's code and the auth's problem code, each in its own field.
        const fatal = r.lines.filter((l) => l.msg === 'exiting on a fatal error').map(({ time: _time, ...l }) => l);
        assert.deepEqual(fatal, [{ level: 'error', msg: 'exiting on a fatal error', component: 'agent', code: 'ERR_ONCE_FAILED', reason: c.code, error: r.stderr.slice('kube-join: '.length, -' [ERR_ONCE_FAILED]\n'.length) }]);
        const decision = await auth.proc.waitFor('join', (l) => l.reason === c.code && auth.proc.lines.filter((x) => x.msg === 'join').indexOf(l) >= joinsBefore);
        assert.equal(decision.result, 'rejected');
      });
    }

    it('a wrong CA pin: ERR_CA_PIN_MISMATCH, and the token is never sent', async () => {
      const joinsBefore = auth.proc.lines.filter((l) => l.msg === 'join').length;
      const r = await joinOnce(out(), await writeToken('pin'), ['--ca-pin', `sha256:${'0'.repeat(64)}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^kube-join: join failed: no CA certificate served by https:\/\/127\.0\.0\.1:\d+ matches --ca-pin sha256:0{64} \(served: sha256:[0-9a-f]{64}\); the token was not sent \[ERR_ONCE_FAILED\]\n$/);
      const health = await got(`https://${auth.addr}/healthz`, { https: { certificateAuthority: await readFile(auth.caFile, 'utf8') } }).json();
      assert.deepEqual(health, { status: 'ok' });
      assert.equal(auth.proc.lines.filter((l) => l.msg === 'join').length, joinsBefore, 'no join request reached the auth service');
    });

    it('a server whose certificate does not chain to --ca-file: ERR_TLS_VERIFY before any token is sent', async () => {
      const otherCa = join(dir, 'other-ca.crt');
      await writeFile(otherCa, (await testCa('other')).certPem);
      const r = await joinOnce(out(), await writeToken('tls'), ['--ca-file', otherCa]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^kube-join: join failed: TLS verification of https:\/\/127\.0\.0\.1:\d+ failed \(SELF_SIGNED_CERT_IN_CHAIN\); the token was not sent \[ERR_ONCE_FAILED\]\n$/);
    });

    it('a missing token file: retried (a projected volume can mount late) until --once-timeout, then ERR_TOKEN_READ naming the path', async () => {
      const r = await joinOnce(out(), join(dir, 'tokens', 'absent'));
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `kube-join: join did not succeed within 3s: ServiceAccount token file ${join(dir, 'tokens', 'absent')} does not exist (is the projected ServiceAccount token volume mounted?) [ERR_ONCE_FAILED]\n`);
      const failures = r.lines.filter((l) => l.code === 'ERR_TOKEN_READ');
      assert.ok(failures.length >= 2, `retried: ${failures.length} attempts`);
      assert.deepEqual(failures.filter((l) => l.level === 'warn').map((l) => l.msg), ['join attempt failed'], 'the reason is logged at warn once, when it first appears');
    });

    it('a garbage HTTP answer: ERR_AUTH_PROTOCOL', async () => {
      const ca = await testCa('garbage');
      const tls = await issueServingCert(ca, ['127.0.0.1'], CLUSTER, Date.now());
      const server: Server = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"certificateChain": 42');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        await writeFile(join(dir, 'garbage-ca.crt'), ca.certPem);
        const port = (server.address() as AddressInfo).port;
        const r = await joinOnce(out(), await writeToken('garbage'), ['--auth-addr', `127.0.0.1:${port}`, '--ca-file', join(dir, 'garbage-ca.crt')]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, `kube-join: join failed: auth service https://127.0.0.1:${port} answered 200 with a body that is not JSON (application/json) [ERR_ONCE_FAILED]\n`);
      } finally {
        server.close();
        server.closeAllConnections();
      }
    });
  });

  describe('the join endpoint refuses malformed requests with problem+json', () => {
    const post = async (body: string, contentType = 'application/json') =>
      got.post(`https://${auth.addr}/v1/join`, { body, headers: { 'content-type': contentType }, throwHttpErrors: false, https: { certificateAuthority: await readFile(auth.caFile, 'utf8') } });

    it('garbage JSON: 400 bad_request', async () => {
      const r = await post('{not json');
      assert.equal(r.statusCode, 400);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.deepEqual(JSON.parse(r.body), { type: 'https://kube-join.dev/problems/bad_request', title: 'Bad Request', status: 400, detail: 'join request body is not valid JSON', code: 'bad_request' });
    });
    it('a field of the wrong type: 400 naming the field', async () => {
      const r = await post(JSON.stringify({ tokenName: 'kube-token', joinMethod: 'kubernetes', kubernetesToken: 'x', csr: 7, agentVersion: '1' }));
      assert.equal(r.statusCode, 400);
      assert.equal((JSON.parse(r.body) as { detail: string }).detail, 'join request field csr: must be a string, not a number');
    });
    it('a body over 64 KiB: 413', async () => {
      const r = await post(JSON.stringify({ pad: 'x'.repeat(70_000) }));
      assert.equal(r.statusCode, 413);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'bad_request');
    });
    it('a join method other than kubernetes: join_method_mismatch', async () => {
      const r = await post(JSON.stringify({ tokenName: 'kube-token', joinMethod: 'token', kubernetesToken: 'x', csr: '-----BEGIN CERTIFICATE REQUEST-----', agentVersion: '1' }));
      assert.equal(r.statusCode, 401);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'join_method_mismatch');
    });
  });

  it('a running agent renews before expiry with a new key, reports health and metrics, and stops on SIGTERM', async () => {
    const out = join(dir, 'out-daemon');
    const tokenPath = await writeToken('daemon');
    const agent = kubeJoin(['agent', '--auth-addr', auth.addr, '--ca-file', auth.caFile, '--cluster-name', CLUSTER, '--token-name', 'kube-token', '--token-path', tokenPath, '--out-dir', out, '--ttl', '3s', '--health-addr', '127.0.0.1:0']);
    try {
      const health = await agent.waitFor('health server listening');
      const first = await agent.waitFor('credential set written');
      const firstKey = await readFile(join(out, 'tls.key'), 'utf8');
      const ready = await got(`http://127.0.0.1:${String(health.port)}/readyz`).json<Record<string, unknown>>();
      assert.equal(ready.ready, true);
      assert.equal(ready.serial, first.serial);
      // The kubelet rotates the projected token; the next attempt must read the new one.
      await writeToken('daemon');
      const second = await agent.waitFor('credential set written', (l) => l.serial !== first.serial);
      assert.notEqual(await readFile(join(out, 'tls.key'), 'utf8'), firstKey, 'a renewal makes a new key');
      assert.ok(Date.parse(String(second.notAfter)) > Date.parse(String(first.notAfter)));
      const metrics = await got(`http://127.0.0.1:${String(health.port)}/metrics`).text();
      assert.match(metrics, /^kube_join_agent_renewals_total\{result="success",code=""\} [1-9]\d*$/m);
      assert.match(metrics, /^kube_join_agent_first_joins_total\{result="success",code=""\} 1$/m);
      assert.match(metrics, /^kube_join_agent_cert_expiry_timestamp_seconds \d+(\.\d+)?(e\+\d+)?$/m);
      assert.equal(await agent.stop(), 0);
    } finally {
      await agent.stop();
      agentOutputs.push(agent.lines.map((l) => JSON.stringify(l)).join('\n'), agent.stderr());
    }
  });

  // Last: it reads every log the suite produced (mocha runs nested suites after the parent's tests).
  describe('afterwards', () => {
    it('no log line of auth or agent contains a ServiceAccount token', async () => {
      assert.ok(minted.length >= 10);
      const logs = [await readFile(auth.logFile, 'utf8'), ...agentOutputs].join('\n');
      for (const token of minted) {
        const signature = token.split('.')[2] as string;
        assert.ok(!logs.includes(signature), 'a token signature appears in a log');
      }
    });
  });
});
