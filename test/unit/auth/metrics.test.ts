import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import got from 'got';
import sinon from 'sinon';
import { resolveAuthConfig } from '../../../src/auth/config.ts';
import { agentKey, nextRecord } from '../../../src/auth/inventory.ts';
import { createAuthMetrics, MAX_TOKEN_EXPIRY_SERIES, METRICS_STORAGE_CACHE_MS } from '../../../src/auth/metrics.ts';
import type { AuthStorage } from '../../../src/auth/storage/types.ts';
import type { ProvisionToken } from '../../../src/auth/tokens.ts';
import { startAuthService, type AuthService } from '../../../src/auth/service.ts';
import { parseProvisionToken } from '../../../src/auth/tokens.ts';
import { createLogger, silentLogger } from '../../../src/common/logger.ts';
import { AGENT_VERSION } from '../../../src/protocol/version.ts';
import type { CaStatus } from '../../../src/protocol/index.ts';
import { tokenYaml } from '../../support/kube-join.ts';

const HOUR = 3_600_000;

describe('auth metrics on scrape: build info, CA and token expiry, agents from storage (in-process service, fake Date)', () => {
  let dir: string;
  let state: string;
  let service: AuthService;
  let clock: sinon.SinonFakeTimers;
  let logLines: Record<string, unknown>[];

  /** The scraped lines of one metric family (its samples, no comments). */
  async function scrape(name: string): Promise<string[]> {
    const address = service.metricsAddress;
    assert.ok(address);
    const res = await got(`http://127.0.0.1:${address.port}/metrics`, { retry: { limit: 0 } });
    assert.equal(res.statusCode, 200);
    return res.body.split('\n').filter((l) => l === name || l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  }

  /** Writes an inventory record straight into storage, as another replica's join would. */
  async function putAgent(podName: string, notAfterFromNow: number): Promise<void> {
    const facts = { hostId: podName, namespace: 'teleport-agent', serviceAccount: 'app', podName, podUid: `uid-${podName}`, roles: ['App'], apps: [], tokenName: 'kube-token', agentVersion: AGENT_VERSION, notAfter: new Date(Date.now() + notAfterFromNow) };
    await service.storage.putAgent(agentKey(facts.namespace, podName, facts.podUid), nextRecord(undefined, facts, Date.now(), HOUR));
  }

  async function putToken(name: string, expires: Date): Promise<void> {
    await service.storage.putToken(parseProvisionToken(tokenYaml({ name, type: 'in_cluster', expires: expires.toISOString() }), Date.now()), { overwrite: false });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-auth-metrics-'));
    state = join(dir, 'state');
    // Only Date is faked: sockets and file I/O stay real; the cache and the liveness check read Date.now.
    clock = sinon.useFakeTimers({ now: Date.parse('2026-12-01T20:00:00.000Z'), toFake: ['Date'] });
    logLines = [];
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)));
    const config = resolveAuthConfig({ flags: { stateDir: state, listen: '127.0.0.1:0', metricsAddr: '127.0.0.1:0', clusterName: 'unit' }, env: {} });
    service = await startAuthService(config, { logger: createLogger({ level: 'info', component: 'auth', destination: out }), now: () => Date.now(), processMetrics: false });
  });
  after(async () => {
    clock.restore();
    await service?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('kube_join_auth_build_info{version} is 1; the CA expiry is the CA certificate\'s notAfter', async () => {
    assert.deepEqual(await scrape('kube_join_auth_build_info'), [`kube_join_auth_build_info{version="${AGENT_VERSION}"} 1`]);
    assert.deepEqual(await scrape('kube_join_auth_ca_expiry_timestamp_seconds'), [`kube_join_auth_ca_expiry_timestamp_seconds ${service.ca.cert.notAfter.getTime() / 1000}`]);
  });

  it('kube_join_auth_agents counts the live records in storage on scrape, whoever wrote them; expired ones do not count', async () => {
    assert.deepEqual(await scrape('kube_join_auth_agents'), ['kube_join_auth_agents 0']);
    await putAgent('app-1', HOUR);
    await putAgent('app-2', HOUR);
    await putAgent('gone', -2 * HOUR);
    clock.tick(METRICS_STORAGE_CACHE_MS);
    assert.deepEqual(await scrape('kube_join_auth_agents'), ['kube_join_auth_agents 2']);
  });

  it('a reading serves the scrapes of the next 5 s: a record written meanwhile counts from the first scrape after that', async () => {
    await putAgent('app-3', HOUR);
    assert.deepEqual(await scrape('kube_join_auth_agents'), ['kube_join_auth_agents 2']);
    clock.tick(METRICS_STORAGE_CACHE_MS - 1);
    assert.deepEqual(await scrape('kube_join_auth_agents'), ['kube_join_auth_agents 2']);
    clock.tick(1);
    assert.deepEqual(await scrape('kube_join_auth_agents'), ['kube_join_auth_agents 3']);
  });

  it('kube_join_auth_token_expiry_timestamp_seconds{token}: one series per provision token, soonest first; a deleted token\'s series goes', async () => {
    const late = new Date(Date.now() + 2 * HOUR);
    const soon = new Date(Date.now() + 10 * 60_000);
    await putToken('late-token', late);
    await putToken('soon-token', soon);
    clock.tick(METRICS_STORAGE_CACHE_MS);
    assert.deepEqual(await scrape('kube_join_auth_token_expiry_timestamp_seconds'), [
      `kube_join_auth_token_expiry_timestamp_seconds{token="soon-token"} ${soon.getTime() / 1000}`,
      `kube_join_auth_token_expiry_timestamp_seconds{token="late-token"} ${late.getTime() / 1000}`,
    ]);
    await service.storage.deleteToken('soon-token');
    clock.tick(METRICS_STORAGE_CACHE_MS);
    assert.deepEqual(await scrape('kube_join_auth_token_expiry_timestamp_seconds'), [`kube_join_auth_token_expiry_timestamp_seconds{token="late-token"} ${late.getTime() / 1000}`]);
  });

  it('storage that fails on scrape keeps the last values, answers 200, and is logged at warn once per gauge until it recovers', async () => {
    const before = logLines.length;
    // A broken volume, for real: the agents and tokens directories are no longer directories.
    for (const sub of ['agents', 'tokens']) {
      await rename(join(state, sub), join(state, `${sub}.saved`));
      await writeFile(join(state, sub), '');
    }
    try {
      for (let scrapes = 0; scrapes < 3; scrapes++) {
        clock.tick(METRICS_STORAGE_CACHE_MS);
        assert.deepEqual(await scrape('kube_join_auth_agents'), ['kube_join_auth_agents 3']);
        assert.equal((await scrape('kube_join_auth_token_expiry_timestamp_seconds')).length, 1);
      }
      const warned = logLines.slice(before).map(({ time: _time, ...line }) => line).sort((a, b) => String(a.gauge).localeCompare(String(b.gauge)));
      assert.deepEqual(warned, [
        { level: 'warn', msg: 'metrics: reading storage failed; the gauge keeps its last value', component: 'auth', gauge: 'kube_join_auth_agents', code: 'ERR_UNEXPECTED', error: `ENOTDIR: not a directory, scandir '${state}/agents'` },
        { level: 'warn', msg: 'metrics: reading storage failed; the gauge keeps its last value', component: 'auth', gauge: 'kube_join_auth_token_expiry_timestamp_seconds', code: 'ERR_STORAGE', error: `reading ${state}/tokens failed: ENOTDIR: not a directory, scandir '${state}/tokens'` },
      ]);
    } finally {
      for (const sub of ['agents', 'tokens']) {
        await rm(join(state, sub));
        await rename(join(state, `${sub}.saved`), join(state, sub));
      }
    }
    await putAgent('app-4', HOUR);
    clock.tick(METRICS_STORAGE_CACHE_MS);
    assert.deepEqual(await scrape('kube_join_auth_agents'), ['kube_join_auth_agents 4']);
  });
});

const STANDBY: CaStatus = {
  clusterName: 'c',
  phase: 'standby',
  mode: 'phased',
  changedAt: '2026-12-01T20:00:00Z',
  signing: 'sha256:aa',
  serving: 'sha256:aa',
  bundlePins: ['sha256:aa'],
  cas: [{ role: 'current', subject: 'CN=a', pin: 'sha256:aa', notBefore: '2026-01-01T00:00:00Z', notAfter: '2036-01-01T00:00:00Z', inBundle: true }],
};

describe('auth metrics: the CA rotation', () => {
  it('exports notAfter per CA and a gauge per phase, read from the rotation state on each scrape', async () => {
    let status = STANDBY;
    const storage = { listTokens: async () => [], listAgents: async () => [] } as unknown as AuthStorage;
    const metrics = createAuthMetrics({ processMetrics: false, storage, caStatus: () => status, now: () => 0, logger: silentLogger() });
    const lines = async (prefix: string) => (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix));
    assert.deepEqual(await lines('kube_join_auth_ca_rotation_phase{'), [
      'kube_join_auth_ca_rotation_phase{phase="standby"} 1',
      'kube_join_auth_ca_rotation_phase{phase="init"} 0',
      'kube_join_auth_ca_rotation_phase{phase="update-clients"} 0',
      'kube_join_auth_ca_rotation_phase{phase="update-servers"} 0',
    ]);
    status = {
      ...STANDBY,
      phase: 'update-clients',
      signing: 'sha256:bb',
      bundlePins: ['sha256:aa', 'sha256:bb'],
      cas: [...STANDBY.cas, { role: 'next', subject: 'CN=b', pin: 'sha256:bb', notBefore: '2026-06-01T00:00:00Z', notAfter: '2036-06-01T00:00:00Z', inBundle: true }],
    };
    assert.deepEqual(await lines('kube_join_auth_ca_not_after_timestamp_seconds{'), [
      `kube_join_auth_ca_not_after_timestamp_seconds{role="current",pin="sha256:aa"} ${Date.parse('2036-01-01T00:00:00Z') / 1000}`,
      `kube_join_auth_ca_not_after_timestamp_seconds{role="next",pin="sha256:bb"} ${Date.parse('2036-06-01T00:00:00Z') / 1000}`,
    ]);
    assert.deepEqual(await lines('kube_join_auth_ca_expiry_timestamp_seconds'), [`kube_join_auth_ca_expiry_timestamp_seconds ${Date.parse('2036-06-01T00:00:00Z') / 1000}`]);
    assert.ok((await lines('kube_join_auth_ca_rotation_phase{phase="update-clients"} 1')).length === 1);
  });
});

describe('auth metrics: the token series are bounded', () => {
  it(`exports the ${MAX_TOKEN_EXPIRY_SERIES} tokens that expire soonest, however many storage holds`, async () => {
    const t0 = Date.parse('2026-12-01T20:00:00.000Z');
    const name = (i: number) => `t${String(i).padStart(4, '0')}`;
    // Storage lists by name; expiries run the other way, so the bound must sort, not take the first names.
    const tokens = Array.from({ length: MAX_TOKEN_EXPIRY_SERIES + 20 }, (_, i) => ({ metadata: { name: name(i), expires: new Date(t0 + (MAX_TOKEN_EXPIRY_SERIES + 20 - i) * 60_000) } }) as ProvisionToken);
    const storage = { listTokens: async () => tokens, listAgents: async () => [] } as unknown as AuthStorage;
    const metrics = createAuthMetrics({ processMetrics: false, storage, caStatus: () => STANDBY, now: () => t0, logger: silentLogger() });
    const series = (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('kube_join_auth_token_expiry_timestamp_seconds{'));
    assert.equal(series.length, MAX_TOKEN_EXPIRY_SERIES);
    assert.equal(series[0], `kube_join_auth_token_expiry_timestamp_seconds{token="${name(MAX_TOKEN_EXPIRY_SERIES + 19)}"} ${(t0 + 60_000) / 1000}`);
    assert.equal(series.at(-1), `kube_join_auth_token_expiry_timestamp_seconds{token="${name(20)}"} ${(t0 + MAX_TOKEN_EXPIRY_SERIES * 60_000) / 1000}`);
  });
});
