import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { resolveAuthConfig } from '../../../src/auth/config.ts';
import { startAuthService, type AuthService } from '../../../src/auth/service.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { tokenYaml } from '../../support/kube-join.ts';

/** The auth service in this process on loopback, with file storage in a fresh directory. */
async function startService(dir: string, flags: Record<string, unknown> = {}): Promise<AuthService> {
  const config = resolveAuthConfig({ flags: { stateDir: join(dir, 'state'), listen: '127.0.0.1:0', clusterName: 'unit', ...flags }, env: {} });
  return startAuthService(config, { logger: silentLogger(), now: () => Date.now(), processMetrics: false });
}

describe('auth service: storage failures reach clients as 503 storage_unavailable', () => {
  let dir: string;
  let state: string;
  let service: AuthService;
  let url: (path: string) => string;
  let admin: { certificateAuthority: string; key: string; certificate: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-service-'));
    state = join(dir, 'state');
    service = await startService(dir);
    url = (path) => `https://127.0.0.1:${service.address.port}${path}`;
    admin = { certificateAuthority: service.ca.certPem, key: await readFile(join(state, 'admin', 'tls.key'), 'utf8'), certificate: await readFile(join(state, 'admin', 'tls.crt'), 'utf8') };
    // Break storage as a bad volume would, for real: the tokens directory is no longer a directory.
    await rm(join(state, 'tokens'), { recursive: true });
    await writeFile(join(state, 'tokens'), '');
  });
  after(async () => {
    await service?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('admin API: a token write storage refuses is 503 storage_unavailable naming the storage problem, not 500 internal', async () => {
    const res = await got.post(url('/v1/admin/tokens?overwrite=true'), { body: tokenYaml({ name: 't1', type: 'in_cluster' }), headers: { 'content-type': 'application/yaml' }, https: admin, throwHttpErrors: false, retry: { limit: 0 } });
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.deepEqual(JSON.parse(res.body), {
      type: 'https://kube-join.dev/problems/storage_unavailable',
      title: 'Service Unavailable',
      status: 503,
      detail: `state directory ${state} cannot be written (token t1) (ENOTDIR)`,
      code: 'storage_unavailable',
    });
  });

  it('admin API: a listing storage cannot read is 503 storage_unavailable too', async () => {
    const res = await got(url('/v1/admin/tokens'), { https: admin, throwHttpErrors: false, retry: { limit: 0 } });
    assert.equal(res.statusCode, 503);
    const body = JSON.parse(res.body) as { code: string; detail: string };
    assert.equal(body.code, 'storage_unavailable');
    assert.equal(body.detail, `reading ${state}/tokens failed: ENOTDIR: not a directory, scandir '${state}/tokens'`);
  });

  it('join: a provision-token read that fails is 503 storage_unavailable (retried by agents), without storage details', async () => {
    const res = await got.post(url('/v1/join'), {
      json: { tokenName: 't1', joinMethod: 'kubernetes', kubernetesToken: 'x', csr: '-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n', agentVersion: 'unit' },
      https: { certificateAuthority: service.ca.certPem },
      throwHttpErrors: false,
      retry: { limit: 0 },
    });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(JSON.parse(res.body), {
      type: 'https://kube-join.dev/problems/storage_unavailable',
      title: 'Service Unavailable',
      status: 503,
      detail: 'the auth service cannot use its storage right now; retry later (its log says why)',
      code: 'storage_unavailable',
    });
  });
});
