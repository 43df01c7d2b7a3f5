import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { resolveAuthConfig } from '../../../src/auth/config.ts';
import { ConfigError } from '../../../src/common/errors.ts';
import { startAuthService, type AuthService } from '../../../src/auth/service.ts';
import { createLogger, silentLogger } from '../../../src/common/logger.ts';
import { PassThrough } from 'node:stream';
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
    service = await startService(dir, { metricsAddr: 'off' });
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

describe('auth service: /metrics on a plain-HTTP listener of its own (--metrics-addr)', () => {
  let dir: string;
  let service: AuthService;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-metrics-'));
    service = await startService(dir, { metricsAddr: '127.0.0.1:0' });
  });
  after(async () => {
    await service?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves Prometheus text over plain HTTP on the metrics port', async () => {
    const address = service.metricsAddress;
    assert.ok(address, 'a metrics listener');
    assert.equal(address.host, '127.0.0.1');
    assert.notEqual(address.port, service.address.port);
    const res = await got(`http://127.0.0.1:${address.port}/metrics`, { retry: { limit: 0 } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^# TYPE kube_join_auth_joins_total counter$/m);
    assert.match(res.body, /^kube_join_auth_agents 0$/m);
    const other = await got(`http://127.0.0.1:${address.port}/readyz`, { throwHttpErrors: false, retry: { limit: 0 } });
    assert.equal(other.statusCode, 404);
  });

  it('no longer serves /metrics on the HTTPS join port (404 not_found)', async () => {
    const res = await got(`https://127.0.0.1:${service.address.port}/metrics`, { https: { certificateAuthority: service.ca.certPem }, throwHttpErrors: false, retry: { limit: 0 } });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(JSON.parse(res.body), { type: 'https://kube-join.dev/problems/not_found', title: 'Not Found', status: 404, detail: 'no endpoint GET /metrics', code: 'not_found' });
  });

  it('--metrics-addr: default 0.0.0.0:3026, "off" serves none, anything else must be host:port', async () => {
    const resolve = (flags: Record<string, unknown>, env: Record<string, string> = {}) => resolveAuthConfig({ flags: { stateDir: dir, ...flags }, env });
    assert.deepEqual(resolve({}).metricsListen, { host: '0.0.0.0', port: 3026 });
    assert.deepEqual(resolve({}, { KUBE_JOIN_METRICS_ADDR: '127.0.0.1:9100' }).metricsListen, { host: '127.0.0.1', port: 9100 });
    assert.equal(resolve({ metricsAddr: 'off' }).metricsListen, undefined);
    assert.throws(() => resolve({ metricsAddr: '9100' }), (err: unknown) => err instanceof ConfigError && err.option === 'metricsAddr' && err.message === '--metrics-addr must be host:port (got "9100")');
    const off = await startService(join(dir, 'off'), { metricsAddr: 'off' });
    try {
      assert.equal(off.metricsAddress, undefined);
    } finally {
      await off.close();
    }
  });
});

describe('auth service: the default global join rate comes from the capacity measured at start', () => {
  let dir: string;
  let service: AuthService | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-admission-'));
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts the service with `flags`, a stubbed self-benchmark, and its log lines collected. */
  async function start(flags: Record<string, unknown>, capacity: number) {
    const lines: Record<string, unknown>[] = [];
    const destination = new PassThrough();
    destination.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)));
    const measured: number[] = [];
    const config = resolveAuthConfig({ flags: { stateDir: join(dir, 'state'), listen: '127.0.0.1:0', metricsAddr: 'off', clusterName: 'unit', retryAfterSpread: '0s', ...flags }, env: {} });
    // A clock that stands still: the admission bucket never refills during the test, however slow the machine.
    const t0 = Date.now();
    service = await startAuthService(config, {
      logger: createLogger({ level: 'info', component: 'auth', destination }),
      now: () => t0,
      processMetrics: false,
      measureCapacity: async () => {
        measured.push(capacity);
        return { leafCpuMs: 1000 / (2 * capacity), joinsPerSecond: capacity };
      },
    });
    const post = () => got.post(`https://127.0.0.1:${(service as AuthService).address.port}/v1/join`, { body: '{}', headers: { 'content-type': 'application/json' }, throwHttpErrors: false, retry: { limit: 0 }, https: { certificateAuthority: (service as AuthService).ca.certPem } });
    return { lines, measured, post };
  }

  it('admits 80 % of the measured capacity, and says so in the log', async () => {
    // Capacity 1.25/s: 1 join per second, a bucket of 2 s (2 joins); admitted requests are then refused as malformed (400).
    const { lines, measured, post } = await start({}, 1.25);
    assert.deepEqual(measured, [1.25]);
    const admission = lines.find((l) => l.msg === 'join admission');
    assert.deepEqual({ joinsPerSecond: admission?.joinsPerSecond, source: admission?.source, capacityPerSecond: admission?.capacityPerSecond }, { joinsPerSecond: 1, source: 'measured', capacityPerSecond: 1 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post()).statusCode);
    assert.deepEqual(statuses, [400, 400, 429]);
  });

  it('takes --join-rate-global as given, without measuring', async () => {
    const { lines, measured } = await start({ joinRateGlobal: 7 }, 1000);
    assert.deepEqual(measured, []);
    const admission = lines.find((l) => l.msg === 'join admission');
    assert.deepEqual({ joinsPerSecond: admission?.joinsPerSecond, source: admission?.source }, { joinsPerSecond: 7, source: '--join-rate-global' });
  });
});
