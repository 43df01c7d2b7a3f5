import assert from 'node:assert/strict';
import { createAgentMetrics } from '../../../src/agent/metrics.ts';
import { AGENT_VERSION } from '../../../src/protocol/version.ts';

describe('agent metrics: definitions', () => {
  it('kube_join_agent_build_info{version} is 1 with this build\'s version', async () => {
    const { registry } = createAgentMetrics({ processMetrics: false });
    const text = await registry.metrics();
    assert.match(text, /^# TYPE kube_join_agent_build_info gauge$/m);
    assert.deepEqual(text.split('\n').filter((l) => l.startsWith('kube_join_agent_build_info')), [`kube_join_agent_build_info{version="${AGENT_VERSION}"} 1`]);
  });

  it('renewals and first joins are two counters labelled {result, code}: code is the ERR_* of a failure, "" on success', async () => {
    const metrics = createAgentMetrics({ processMetrics: false });
    metrics.firstJoins.inc({ result: 'failure', code: 'ERR_AUTH_UNAVAILABLE' });
    metrics.firstJoins.inc({ result: 'success', code: '' });
    metrics.renewals.inc({ result: 'success', code: '' });
    metrics.renewals.inc({ result: 'success', code: '' });
    metrics.renewals.inc({ result: 'failure', code: 'ERR_JOIN_REJECTED' });
    const text = await metrics.registry.metrics();
    const series = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));
    assert.deepEqual(series('kube_join_agent_first_joins_total'), [
      'kube_join_agent_first_joins_total{result="failure",code="ERR_AUTH_UNAVAILABLE"} 1',
      'kube_join_agent_first_joins_total{result="success",code=""} 1',
    ]);
    assert.deepEqual(series('kube_join_agent_renewals_total'), [
      'kube_join_agent_renewals_total{result="success",code=""} 2',
      'kube_join_agent_renewals_total{result="failure",code="ERR_JOIN_REJECTED"} 1',
    ]);
    assert.match(text, /^# TYPE kube_join_agent_first_joins_total counter$/m);
  });

  it('the counters take exactly the labels result and code', () => {
    const metrics = createAgentMetrics({ processMetrics: false });
    for (const counter of [metrics.renewals, metrics.firstJoins]) {
      assert.throws(() => counter.inc({ result: 'failure', reason: 'token_not_found' } as never), { message: 'Added label "reason" is not included in initial labelset: [ \'result\', \'code\' ]' });
    }
  });
});
