import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentKey, isRecordLive, nextRecord, recordJoin } from '../../../src/auth/inventory.ts';
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
    await recordJoin(storage, pod('web-0', { podUid: 'uid-attacker', apps: [{ name: 'billing', uri: 'https://evil' }] }), T0, policy);
    const records = (await storage.listAgents()).map((e) => [e.key, e.record.apps[0]?.uri]).sort();
    assert.deepEqual(records, [
      ['teleport-agent/web-0/uid-attacker', 'https://evil'],
      ['teleport-agent/web-0/uid-web-0', 'https://billing'],
    ]);
  });

  it('refuses a new record past the ServiceAccount\'s cap, yet renews the records it holds, and counts only live ones', async () => {
    assert.equal((await recordJoin(storage, pod('a'), T0, policy)).recorded, true);
    assert.equal((await recordJoin(storage, pod('b'), T0, policy)).recorded, true);
    assert.deepEqual(await recordJoin(storage, pod('c'), T0, policy), { key: 'teleport-agent/c/uid-c', recorded: false });
    assert.equal((await recordJoin(storage, pod('a'), T0 + 1000, policy)).recorded, true, 'a renewal of a held record');
    assert.equal((await recordJoin(storage, pod('c', { serviceAccount: 'other' }), T0, policy)).recorded, true, 'another ServiceAccount has its own cap');
    const later = T0 + 3 * 3_600_000; // a and b expired past their grace
    assert.equal((await recordJoin(storage, pod('c', { notAfter: new Date(later + 3_600_000) }), later, policy)).recorded, true);
    assert.deepEqual((await storage.listAgentsOf('teleport-agent', 'teleport-app-service')).map((e) => e.record.podName).sort(), ['a', 'b', 'c']);
  });
});
