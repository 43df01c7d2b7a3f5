import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenIssuer, type MintOptions, type TokenIssuer } from '../../src/demo/index.ts';
import { kubeJoin, kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';

const CLUSTER = 'renewal-cluster';
const POD: MintOptions = { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', audience: CLUSTER };

describe('renewal by identity (auth and agent processes on loopback)', function () {
  this.timeout(60_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-renew-'));
    await mkdir(join(dir, 'tokens'));
    issuer = await createTokenIssuer();
    auth = await startAuthProcess(dir, { clusterName: CLUSTER, args: ['--cert-ttl', '2s'] });
  });
  after(async () => {
    await auth?.stop();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps renewing after the provision token expired, and stops at the next attempt after token rm', async () => {
    // A provision token that expires a few seconds after the first join: it gates the first join only.
    const expires = new Date(Date.now() + 5_000);
    await writeFile(join(dir, 'short.yaml'), tokenYaml({ name: 'short', jwks: issuer.jwks(), expires: expires.toISOString() }));
    const created = await kubeJoinRun(['token', 'create', '-f', join(dir, 'short.yaml'), '--state-dir', auth.stateDir]);
    assert.equal(created.code, 0, created.stderr);
    const tokenPath = join(dir, 'tokens', 'app-1');
    await issuer.writeToken(tokenPath, POD);
    const agent = kubeJoin(['agent', '--auth-addr', auth.addr, '--ca-file', auth.caFile, '--cluster-name', CLUSTER, '--token-name', 'short', '--token-path', tokenPath,
      '--out-dir', join(dir, 'out'), '--health-addr', 'off', '--renew-before', '1s', '--renew-jitter', '0', '--retry-base', '200ms', '--retry-cap', '1s']);
    try {
      await agent.waitFor('credential set written');
      // A set written after the provision token's expiry can only come from a renewal by identity.
      const late = await agent.waitFor('credential set written', (l) => Date.parse(String(l.time)) > expires.getTime() + 1_000);
      assert.ok(Date.parse(String(late.notAfter)) > expires.getTime());
      const renewals = auth.proc.lines.filter((l) => l.msg === 'join' && l.result === 'success' && l.kind === 'renewal' && Date.parse(String(l.time)) > expires.getTime());
      assert.ok(renewals.length >= 1, 'the auth service logged renewals after the expiry');

      // A first join through the expired token is refused, as before.
      const fresh = await kubeJoinRun(['agent', '--once', '--auth-addr', auth.addr, '--ca-file', auth.caFile, '--cluster-name', CLUSTER, '--token-name', 'short', '--token-path', tokenPath, '--out-dir', join(dir, 'out-fresh'), '--once-timeout', '2s']);
      assert.equal(fresh.code, 1);
      assert.match(fresh.stderr, /join rejected \(401 token_expired\)/);

      const removed = await kubeJoinRun(['token', 'rm', 'short', '--state-dir', auth.stateDir]);
      assert.equal(removed.code, 0, removed.stderr);
      const refused = await agent.waitFor('join rejected; waiting the long back-off before trying again');
      assert.deepEqual([refused.code, refused.reason], ['ERR_JOIN_REJECTED', 'token_not_found']);
    } finally {
      await agent.stop();
    }
  });
});
