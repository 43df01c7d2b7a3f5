import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { createTokenIssuer, type MintOptions, type TokenIssuer } from '../../src/demo/index.ts';
import { createCsrPem, generateKey } from '../../src/agent/keys.ts';
import { issueServingCert } from '../../src/auth/ca.ts';
import { AGENT_VERSION, JOIN_PATH } from '../../src/protocol/index.ts';
import { testCa } from '../support/pki.ts';
import { startRogueServer } from '../support/rogue.ts';
import { kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';

const CLUSTER = 'trust-cluster';
const BILLING: MintOptions = { namespace: 'shop', serviceAccount: 'billing', podName: 'billing-0', audience: CLUSTER };
const ATTACKER: MintOptions = { namespace: 'shop', serviceAccount: 'frontend', podName: 'localhost', audience: CLUSTER };

describe('trust path: no token reaches a server that is not the auth service; identities bound to the pod', function () {
  this.timeout(60_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthProcess;
  let realCa: string;
  const minted: string[] = [];
  const outputs: string[] = [];

  async function tokenFile(name: string, pod: MintOptions): Promise<string> {
    const path = join(dir, 'tokens', name);
    minted.push(await issuer.writeToken(path, pod));
    return path;
  }

  async function agentOnce(name: string, pod: MintOptions, args: string[]) {
    const r = await kubeJoinRun(['agent', '--once', '--token-name', 'shop', '--token-path', await tokenFile(name, pod), '--out-dir', join(dir, `out-${name}`), '--cluster-name', CLUSTER, '--retry-base', '50ms', '--once-timeout', '2s', ...args]);
    outputs.push(r.stdout, r.stderr);
    return r;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-trust-'));
    await mkdir(join(dir, 'tokens'));
    issuer = await createTokenIssuer();
    auth = await startAuthProcess(dir, { clusterName: CLUSTER });
    realCa = await readFile(auth.caFile, 'utf8');
    await writeFile(join(dir, 'shop.yaml'), tokenYaml({ name: 'shop', jwks: issuer.jwks(), allow: ['shop:billing', 'shop:frontend'], roles: ['App'] }));
    const created = await kubeJoinRun(['token', 'create', '-f', join(dir, 'shop.yaml'), '--state-dir', auth.stateDir]);
    assert.equal(created.code, 0, created.stderr);
  });
  after(async () => {
    await auth?.stop();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('attack 1: a man in the middle that serves the real CA followed by its own, with the right pin, gets no token', async () => {
    const rogueCa = await testCa('rogue');
    const rogue = await startRogueServer(await issueServingCert(rogueCa, ['127.0.0.1'], CLUSTER, Date.now()), realCa + rogueCa.certPem);
    try {
      const r = await agentOnce('mitm', BILLING, ['--auth-addr', `127.0.0.1:${rogue.port}`, '--ca-pin', auth.caPin]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^kube-join: join failed: TLS verification of https:\/\/127\.0\.0\.1:\d+ failed \(SELF_SIGNED_CERT_IN_CHAIN\); the token was not sent \[ERR_ONCE_FAILED\]\n$/);
      assert.equal(rogue.tokenRequests(), 0);
    } finally {
      rogue.close();
    }
  });

  describe('attack 2: a workload certificate of the same CA presented as the auth service', () => {
    let workload: { certPem: string; keyPem: string };

    before(async () => {
      // A pod allowed by a provision token, simply named like the auth service's host ("localhost").
      const joined = await agentOnce('workload', ATTACKER, ['--auth-addr', auth.addr, '--ca-pin', auth.caPin]);
      assert.equal(joined.code, 0, joined.stderr);
      const out = join(dir, 'out-workload');
      workload = { certPem: (await readFile(join(out, 'tls.crt'), 'utf8')) + realCa, keyPem: await readFile(join(out, 'tls.key'), 'utf8') };
      assert.match(new X509Certificate(workload.certPem).subject, /^CN=localhost$/m, 'the workload certificate\'s CN is the host name the agent dials');
    });

    for (const trust of ['--ca-pin', '--ca-file'] as const) {
      it(`gets no token (${trust})`, async () => {
        const rogue = await startRogueServer(workload, realCa);
        try {
          const r = await agentOnce(`impersonate${trust}`, BILLING, ['--auth-addr', `localhost:${rogue.port}`, trust, trust === '--ca-pin' ? auth.caPin : auth.caFile]);
          assert.equal(r.code, 1);
          assert.match(r.stderr, new RegExp(`^kube-join: join failed: https://localhost:${rogue.port} is not the kube-join auth service: the server's certificate is not the auth service's: it carries spiffe://${CLUSTER}/ns/shop/sa/frontend, not spiffe://${CLUSTER}/kube-join/auth; the token was not sent \\[ERR_ONCE_FAILED\\]\\n$`));
          assert.equal(rogue.tokenRequests(), 0);
        } finally {
          rogue.close();
        }
      });
    }
  });

  describe('identity bound to the pod', () => {
    const join1 = async (pod: MintOptions, extra: Record<string, unknown>) =>
      got.post(`https://${auth.addr}${JOIN_PATH}`, {
        json: { tokenName: 'shop', joinMethod: 'kubernetes', kubernetesToken: minted[minted.push(await issuer.mint(pod)) - 1], csr: await createCsrPem(await generateKey('ecdsa-p256'), 'x'), agentVersion: AGENT_VERSION, ...extra },
        https: { certificateAuthority: realCa },
        throwHttpErrors: false,
        retry: { limit: 0 },
      });
    const inventory = async () => {
      const r = await kubeJoinRun(['apps', 'ls', '--format', 'json', '--state-dir', auth.stateDir]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { name: string; uri: string; hostId: string; serviceAccount: string }[]).map((a) => [a.name, a.uri, a.hostId, a.serviceAccount]);
    };

    it('a hostId spoof (the auth\'s host name) is refused with host_id_mismatch, and the CN is the token\'s pod', async () => {
      const spoof = await join1(BILLING, { hostId: 'localhost' });
      assert.equal(spoof.statusCode, 403);
      assert.equal(JSON.parse(spoof.body).code, 'host_id_mismatch');
      const plain = await join1(BILLING, {});
      assert.equal(plain.statusCode, 200, plain.body);
      const leaf = new X509Certificate(JSON.parse(plain.body).certificateChain);
      assert.equal(leaf.subject.split('\n')[0], 'CN=billing-0');
      assert.equal(leaf.subjectAltName, `URI:spiffe://${CLUSTER}/ns/shop/sa/billing`);
    });

    it('an inventory takeover fails: another pod cannot overwrite billing-0\'s record, by hostId or by its apps', async () => {
      const billing = await agentOnce('billing', BILLING, ['--auth-addr', auth.addr, '--ca-pin', auth.caPin, '--app', 'billing=https://billing.shop.svc']);
      assert.equal(billing.code, 0, billing.stderr);
      const byHostId = await join1(ATTACKER, { hostId: 'billing-0', apps: [{ name: 'billing', uri: 'https://evil.example' }] });
      assert.equal(byHostId.statusCode, 403);
      assert.equal(JSON.parse(byHostId.body).code, 'host_id_mismatch');
      const byApps = await agentOnce('takeover', ATTACKER, ['--auth-addr', auth.addr, '--ca-pin', auth.caPin, '--app', 'billing=https://evil.example']);
      assert.equal(byApps.code, 0, byApps.stderr);
      const rows = await inventory();
      assert.deepEqual(rows.filter(([, , host]) => host === 'billing-0'), [['billing', 'https://billing.shop.svc', 'billing-0', 'billing']], 'billing-0 still points at its own URI');
      assert.deepEqual(rows.filter(([, uri]) => uri === 'https://evil.example'), [['billing', 'https://evil.example', 'localhost', 'frontend']], 'the other pod is listed under its own name and ServiceAccount');
    });
  });

  // A describe of its own, so that it runs after the other blocks (mocha runs a block's own tests first).
  describe('afterwards', () => {
    it('no log line of auth or agent, and no error, contains a ServiceAccount token', async () => {
      const authLog = await readFile(auth.logFile, 'utf8');
      assert.ok(minted.length >= 8, `${minted.length} tokens minted`);
      for (const token of minted) {
        assert.ok(!authLog.includes(token), 'auth log holds no token');
        for (const text of outputs) assert.ok(!text.includes(token), 'agent output holds no token');
      }
    });
  });
});
