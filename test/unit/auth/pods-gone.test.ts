import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordJoin } from '../../../src/auth/inventory.ts';
import { gonePodSweeper, markGonePods, type PodLookup } from '../../../src/auth/pods-gone.ts';
import { openFileStorage } from '../../../src/auth/storage/file.ts';
import type { AuthStorage } from '../../../src/auth/storage/types.ts';
import { appRows } from '../../../src/cli/apps.ts';
import type { Logger } from '../../../src/common/logger.ts';
import { KubeApiError } from '../../../src/kube/index.ts';

const T0 = Date.UTC(2026, 10, 26, 12);
const policy = { graceMs: 3_600_000, maxPerServiceAccount: 100 };
const pod = (name: string, app = name.split('-')[0] as string) => ({
  hostId: name, namespace: 'apps', serviceAccount: 'web', podName: name, podUid: `uid-${name}`, roles: ['App'],
  apps: [{ name: app, uri: 'http://localhost:3000' }], tokenName: 't', agentVersion: '0', notAfter: new Date(T0 + 3_600_000),
});

describe('inventory: pods that are gone', () => {
  let dir: string;
  let storage: AuthStorage;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-gone-'));
    storage = await openFileStorage(dir, { serve: true, now: () => T0 });
  });
  afterEach(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  const listed = async () => appRows((await storage.listAgents()).map((e) => e.record)).map((r) => r.podName).sort();

  it('marks the records of deleted pods and of names now held by another UID; apps ls leaves them out', async () => {
    for (const name of ['grafana-0', 'prom-0', 'loki-0']) await recordJoin(storage, pod(name), T0, policy);
    const running: Record<string, string> = { 'grafana-0': 'uid-grafana-0', 'loki-0': 'uid-loki-0-recreated' };
    const asked: string[] = [];
    const lookup: PodLookup = async (namespace, name, uid) => {
      asked.push(`${namespace}/${name}`);
      return running[name] === uid ? 'present' : 'gone';
    };
    assert.deepEqual((await markGonePods(storage, lookup, T0 + 60_000)).sort(), ['apps/loki-0/uid-loki-0', 'apps/prom-0/uid-prom-0']);
    assert.deepEqual(await listed(), ['grafana-0']);
    assert.equal((await storage.getAgent('apps/prom-0/uid-prom-0'))?.podGoneAt, '2026-11-26T12:01:00.000Z');
    asked.length = 0;
    assert.deepEqual(await markGonePods(storage, lookup, T0 + 120_000), []);
    assert.deepEqual(asked, ['apps/grafana-0'], 'marked and superseded records are not looked up again');
  });

  it('a renewal clears the mark: a pod that renews is not gone', async () => {
    await recordJoin(storage, pod('grafana-0'), T0, policy);
    await markGonePods(storage, async () => 'gone', T0 + 60_000);
    assert.deepEqual(await listed(), []);
    await recordJoin(storage, pod('grafana-0'), T0 + 120_000, policy);
    assert.deepEqual(await listed(), ['grafana-0']);
  });

  it('the sweeper logs a failed lookup once per cause, with what to grant on a 403, and marks again once it works', async () => {
    await recordJoin(storage, pod('grafana-0'), T0, policy);
    const lines: [string, string, Record<string, unknown>][] = [];
    const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => lines.push([level, msg, fields]);
    const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger;
    let fail = true;
    const lookup: PodLookup = async () => {
      if (fail) throw new KubeApiError('GET', '/api/v1/namespaces/apps/pods/grafana-0', 403, 'Forbidden', 'pods "grafana-0" is forbidden');
      return 'gone';
    };
    const sweep = gonePodSweeper(storage, lookup, logger);
    await sweep(T0 + 60_000);
    await sweep(T0 + 120_000);
    assert.deepEqual(lines, [['warn', 'inventory: cannot check whether pods are gone', {
      code: 'ERR_KUBE_API',
      error: 'Kubernetes API GET /api/v1/namespaces/apps/pods/grafana-0 answered 403 Forbidden: pods "grafana-0" is forbidden',
      hint: "--inventory-check-pods needs get on pods (the chart's inventory.checkPods grants it)",
    }]]);
    fail = false;
    await sweep(T0 + 180_000);
    assert.deepEqual(lines.at(-1), ['info', 'inventory: pods gone', { marked: ['apps/grafana-0/uid-grafana-0'] }]);
  });
});
