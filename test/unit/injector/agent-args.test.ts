import assert from 'node:assert/strict';
import { Command } from 'commander';
import { resolveAgentConfig } from '../../../src/agent/config.ts';
import { AGENT_OPTIONS } from '../../../src/agent/options.ts';
import { addOptions, sourcesFrom } from '../../../src/cli/options.ts';
import { buildInjection, type Pod } from '../../../src/injector/index.ts';
import { PROJECTED_TOKEN_PATH } from '../../../src/protocol/index.ts';
import { DEFAULTS as defaults } from './defaults.ts';

/** The injected sidecar's args, parsed by the agent command's own flag parser and resolved as `kube-join agent` does. */
async function agentConfigOf(pod: Pod) {
  const result = buildInjection(pod, defaults);
  assert.equal(result.kind, 'patch');
  const container = ((result.kind === 'patch' ? result.patch[0]?.value : []) as { args: string[] }[])[0] as { args: string[] };
  assert.equal(container.args[0], 'agent');
  const command = addOptions(new Command('agent').exitOverride(), AGENT_OPTIONS);
  command.parse(container.args.slice(1), { from: 'user' });
  return resolveAgentConfig({ ...(await sourcesFrom(command, AGENT_OPTIONS)), env: {} }, { fileExists: (p) => p === PROJECTED_TOKEN_PATH });
}

describe('the injected sidecar runs a `kube-join agent` its flag parser and config accept', () => {
  it('with every annotation, the agent gets what the pod asked for', async () => {
    const config = await agentConfigOf({
      metadata: { annotations: { 'kube-join.io/inject': 'true', 'kube-join.io/token-name': 'web-token', 'kube-join.io/roles': 'App,Db', 'kube-join.io/apps': 'web=http://localhost:8080', 'kube-join.io/output-path': '/etc/certs', 'kube-join.io/notify-signal': 'SIGHUP', 'kube-join.io/notify-process': 'nginx' } },
      spec: { securityContext: { fsGroup: 2000, runAsUser: 101 }, containers: [{ name: 'web' }] },
    });
    assert.deepEqual(config.authAddr, { host: 'kube-join-auth.kube-join.svc', port: 3025 });
    assert.equal(config.tokenName, 'web-token');
    assert.equal(config.clusterName, 'prod');
    assert.deepEqual(config.trust, { kind: 'ca-file', path: '/var/run/kube-join/ca/ca.crt' });
    assert.equal(config.tokenPaths[0], PROJECTED_TOKEN_PATH);
    assert.equal(config.outDir, '/etc/certs');
    assert.deepEqual(config.roles, ['App', 'Db']);
    assert.deepEqual(config.apps, [{ name: 'web', uri: 'http://localhost:8080' }]);
    assert.equal(config.group, 2000);
    assert.deepEqual(config.health, { host: '0.0.0.0', port: 8087 });
    assert.equal(config.notify.signal, 'SIGHUP');
    assert.equal(config.notify.process, 'nginx');
    assert.equal(config.notify.pidFile, undefined);
  });
});
