import assert from 'node:assert/strict';
import { agentKey, isRecordLive, nextRecord } from '../../../src/auth/inventory.ts';

const facts = {
  hostId: 'app-1',
  namespace: 'teleport-agent',
  serviceAccount: 'teleport-app-service',
  podName: 'app-1',
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
  it('are keyed by namespace and host', () => {
    assert.equal(agentKey('ns', 'host'), 'ns/host');
  });
});
