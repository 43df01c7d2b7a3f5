import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentKey, isRecordLive, nextRecord, podGeneration, recordJoin } from '../../../src/auth/inventory.ts';
import { appRows } from '../../../src/cli/apps.ts';
import { openFileStorage } from '../../../src/auth/storage/file.ts';
import type { AuthStorage } from '../../../src/auth/storage/types.ts';

const facts = {
  hostId: 'app-1',
  namespace: 'teleport-agent',
  serviceAccount: 'teleport-app-service',
  podName: 'app-1',
  podUid: '0f1e2d3c-0000-4000-8000-000000000001',
  roles: ['App'],
  apps: [{ name: 'grafana', uri: 'http://localhost:3000' }],
  tokenName: 'kube-token',
  agentVersion: '0.1.0',
  notAfter: new Date(Date.UTC(2026, 10, 26, 13)),
};
const T0 = Date.UTC(2026, 10, 26, 12);
const GRACE = 3_600_000;

describe('inventory records', () => {
  it('start with first and last join at the join time and expire notAfter + grace', () => {
    const r = nextRecord(undefined, facts, T0, GRACE);
    assert.equal(r.firstJoin, '2026-11-26T12:00:00.000Z');
    assert.equal(r.lastJoin, '2026-11-26T12:00:00.000Z');
    assert.equal(r.expiresAt, '2026-11-26T14:00:00.000Z');
    assert.deepEqual(r.apps, facts.apps);
  });
  it('keep the first join across renewals and take the newest facts', () => {
    const first = nextRecord(undefined, facts, T0, GRACE);
    const second = nextRecord(first, { ...facts, roles: ['App', 'Db'], notAfter: new Date(Date.UTC(2026, 10, 26, 14)) }, T0 + 1_800_000, GRACE);
    assert.equal(second.firstJoin, first.firstJoin);
    assert.equal(second.lastJoin, '2026-11-26T12:30:00.000Z');
    assert.deepEqual(second.roles, ['App', 'Db']);
    assert.equal(second.expiresAt, '2026-11-26T15:00:00.000Z');
  });
  it('are live until expiresAt', () => {
    const r = nextRecord(undefined, facts, T0, GRACE);
    assert.equal(isRecordLive(r, Date.parse(r.expiresAt) - 1), true);
    assert.equal(isRecordLive(r, Date.parse(r.expiresAt)), false);
  });
  it('are keyed by namespace, pod name and pod UID', () => {
    assert.equal(agentKey('ns', 'web-0', 'uid-1'), 'ns/web-0/uid-1');
  });
});

describe('recordJoin', () => {
  let dir: string;
  let storage: AuthStorage;
  const policy = { graceMs: GRACE, maxPerServiceAccount: 2 };
  const pod = (name: string, over: Partial<typeof facts> = {}) => ({ ...facts, hostId: name, podName: name, podUid: `uid-${name}`, ...over });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-inv-'));
    storage = await openFileStorage(dir, { serve: true, now: () => T0 });
  });
  afterEach(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keys each pod by namespace, name and UID: a later pod of the same name never overwrites the record', async () => {
    await recordJoin(storage, pod('web-0', { apps: [{ name: 'billing', uri: 'https://billing' }] }), T0, policy);
    await recordJoin(storage, pod('web-0', { podUid: 'uid-attacker', apps: [{ name: 'invoices', uri: 'https://evil' }] }), T0, policy);
    const records = (await storage.listAgents()).map((e) => [e.key, e.record.apps[0]?.uri]).sort();
    assert.deepEqual(records, [
      ['teleport-agent/web-0/uid-attacker', 'https://evil'],
      ['teleport-agent/web-0/uid-web-0', 'https://billing'],
    ]);
  });

  it('refuses a new record past the ServiceAccount\'s cap, yet renews the records it holds, and counts only live ones', async () => {
    assert.equal((await recordJoin(storage, pod('a'), T0, policy)).recorded, true);
    assert.equal((await recordJoin(storage, pod('b'), T0, policy)).recorded, true);
    assert.deepEqual(await recordJoin(storage, pod('c'), T0, policy), { key: 'teleport-agent/c/uid-c', recorded: false, superseded: [] });
    assert.equal((await recordJoin(storage, pod('a'), T0 + 1000, policy)).recorded, true, 'a renewal of a held record');
    assert.equal((await recordJoin(storage, pod('c', { serviceAccount: 'other' }), T0, policy)).recorded, true, 'another ServiceAccount has its own cap');
    const later = T0 + 3 * 3_600_000; // a and b expired past their grace
    assert.equal((await recordJoin(storage, pod('c', { notAfter: new Date(later + 3_600_000) }), later, policy)).recorded, true);
    assert.deepEqual((await storage.listAgentsOf('teleport-agent', 'teleport-app-service')).map((e) => e.record.podName).sort(), ['a', 'b', 'c']);
  });

  describe('a redeployed app is listed once', () => {
    const grafana = [{ name: 'grafana', uri: 'http://localhost:3000' }];
    const listed = async () => appRows((await storage.listAgents()).map((e) => e.record)).map((r) => `${r.name} ${r.podName}`);
    const supersededBy = async () => Object.fromEntries((await storage.listAgents()).map((e) => [e.key, e.record.supersededBy ?? null]));

    it('a pod of a new ReplicaSet supersedes the old ReplicaSet\'s pods that served the same app name', async () => {
      await recordJoin(storage, pod('grafana-5f7d9c8b4-aaaaa', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('grafana-5f7d9c8b4-bbbbb', { apps: grafana }), T0, policy);
      const result = await recordJoin(storage, pod('grafana-6c8e0d9a5-ccccc', { apps: grafana }), T0 + 1000, policy);
      assert.deepEqual(result, {
        key: 'teleport-agent/grafana-6c8e0d9a5-ccccc/uid-grafana-6c8e0d9a5-ccccc',
        recorded: true,
        superseded: ['teleport-agent/grafana-5f7d9c8b4-aaaaa/uid-grafana-5f7d9c8b4-aaaaa', 'teleport-agent/grafana-5f7d9c8b4-bbbbb/uid-grafana-5f7d9c8b4-bbbbb'],
      });
      assert.deepEqual(await listed(), ['grafana grafana-6c8e0d9a5-ccccc']);
    });

    it('replicas of one ReplicaSet, and a StatefulSet\'s pods, are listed side by side', async () => {
      await recordJoin(storage, pod('grafana-5f7d9c8b4-aaaaa', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('grafana-5f7d9c8b4-bbbbb', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('web-0', { apps: grafana, serviceAccount: 'web' }), T0, policy);
      await recordJoin(storage, pod('web-1', { apps: grafana, serviceAccount: 'web' }), T0, policy);
      assert.deepEqual(await listed(), ['grafana grafana-5f7d9c8b4-aaaaa', 'grafana grafana-5f7d9c8b4-bbbbb', 'grafana web-0', 'grafana web-1']);
    });

    it('a StatefulSet\'s pod recreated under the same name (a new UID) supersedes its old record', async () => {
      await recordJoin(storage, pod('web-0', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('web-0', { apps: grafana, podUid: 'uid-web-0-new' }), T0 + 1000, policy);
      assert.deepEqual(await supersededBy(), {
        'teleport-agent/web-0/uid-web-0': 'teleport-agent/web-0/uid-web-0-new',
        'teleport-agent/web-0/uid-web-0-new': null,
      });
      assert.deepEqual(await listed(), ['grafana web-0']);
    });

    it('bare pods (no generation in the name) of one ServiceAccount are listed side by side', async () => {
      await recordJoin(storage, pod('alpha', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('beta', { apps: grafana }), T0, policy);
      assert.deepEqual(await listed(), ['grafana alpha', 'grafana beta']);
    });

    it('only the same app name of the same ServiceAccount is superseded', async () => {
      await recordJoin(storage, pod('grafana-5f7d9c8b4-aaaaa', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('grafana-5f7d9c8b4-ddddd', { apps: grafana, serviceAccount: 'other' }), T0, policy);
      await recordJoin(storage, pod('prom-7a6b5c4d3-eeeee', { apps: [{ name: 'prometheus', uri: 'http://localhost:9090' }] }), T0, policy);
      await recordJoin(storage, pod('grafana-6c8e0d9a5-ccccc', { apps: grafana }), T0 + 1000, policy);
      assert.deepEqual(await listed(), ['grafana grafana-5f7d9c8b4-ddddd', 'grafana grafana-6c8e0d9a5-ccccc', 'prometheus prom-7a6b5c4d3-eeeee']);
    });

    it('an old pod that keeps renewing during the rollout stays superseded and never takes its app back', async () => {
      await recordJoin(storage, pod('grafana-5f7d9c8b4-aaaaa', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('grafana-6c8e0d9a5-ccccc', { apps: grafana }), T0 + 1000, policy);
      const renewal = await recordJoin(storage, pod('grafana-5f7d9c8b4-aaaaa', { apps: grafana, notAfter: new Date(T0 + 7_200_000) }), T0 + 2000, policy);
      assert.deepEqual(renewal.superseded, []);
      assert.deepEqual(await supersededBy(), {
        'teleport-agent/grafana-5f7d9c8b4-aaaaa/uid-grafana-5f7d9c8b4-aaaaa': 'teleport-agent/grafana-6c8e0d9a5-ccccc/uid-grafana-6c8e0d9a5-ccccc',
        'teleport-agent/grafana-6c8e0d9a5-ccccc/uid-grafana-6c8e0d9a5-ccccc': null,
      });
      assert.deepEqual(await listed(), ['grafana grafana-6c8e0d9a5-ccccc']);
    });

    it('superseded records do not count against the ServiceAccount\'s cap', async () => {
      await recordJoin(storage, pod('grafana-5f7d9c8b4-aaaaa', { apps: grafana }), T0, policy);
      await recordJoin(storage, pod('grafana-5f7d9c8b4-bbbbb', { apps: grafana }), T0, policy);
      assert.equal((await recordJoin(storage, pod('grafana-6c8e0d9a5-ccccc', { apps: grafana }), T0, policy)).recorded, true, 'at the cap, yet it replaces both');
      assert.equal((await recordJoin(storage, pod('grafana-6c8e0d9a5-fffff', { apps: grafana }), T0, policy)).recorded, true);
      assert.equal((await recordJoin(storage, pod('grafana-6c8e0d9a5-ggggg', { apps: grafana }), T0, policy)).recorded, false);
    });

    it('the generation of a Deployment\'s pod is its ReplicaSet, of a StatefulSet\'s pod the set', () => {
      assert.equal(podGeneration('grafana-5f7d9c8b4-aaaaa'), 'grafana-5f7d9c8b4');
      assert.equal(podGeneration('web-0'), 'web');
      assert.equal(podGeneration('single'), undefined);
    });
  });
});
