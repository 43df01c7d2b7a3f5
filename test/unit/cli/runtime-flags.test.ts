import assert from 'node:assert/strict';
import { RUNTIME_FLAGS, RUNTIME_FLAGS_ENV, reexecPlan, runtimeFlagsFor } from '../../../src/cli/runtime-flags.ts';

const AGENT_FLAGS = RUNTIME_FLAGS.find((r) => r.command === 'agent')?.flags ?? [];
const none = { execArgv: [], nodeOptions: undefined };

describe('runtime flags: the V8 flags each command runs with', () => {
  it('gives the long-running agent and auth service their heap bounds, and nothing to one-shot runs or other commands', () => {
    assert.ok(AGENT_FLAGS.some((f) => f.startsWith('--max-semi-space-size=')));
    assert.deepEqual(runtimeFlagsFor(['agent', '--auth-addr', 'a:1'], none), AGENT_FLAGS);
    assert.deepEqual(runtimeFlagsFor(['agent', '--auth-addr', 'a:1', '--once'], none), []);
    assert.deepEqual(runtimeFlagsFor(['agent', '--help'], none), []);
    assert.deepEqual(runtimeFlagsFor(['token', 'ls'], none), []);
    assert.deepEqual(runtimeFlagsFor(['auth', '--state-dir', 's'], none), ['--max-semi-space-size=4'], 'the auth service bounds its young generation');
    assert.deepEqual(runtimeFlagsFor(['auth', '--help'], none), []);
    assert.deepEqual(runtimeFlagsFor([], none), []);
  });

  it('leaves out a flag the operator already gives node, in NODE_OPTIONS or on its command line, in either spelling', () => {
    const but = (prefix: string) => AGENT_FLAGS.filter((f) => !f.startsWith(prefix));
    assert.deepEqual(runtimeFlagsFor(['agent'], { execArgv: [], nodeOptions: '--max-old-space-size=256 --enable-source-maps' }), but('--max-old-space-size'));
    assert.deepEqual(runtimeFlagsFor(['agent'], { execArgv: ['--max_semi_space_size=4'], nodeOptions: undefined }), but('--max-semi-space-size'));
  });

  it('re-executes node once: flags first, then the operator\'s own node arguments, the script and its arguments, with a marker against a second time', () => {
    const proc = { execPath: '/node', argv: ['/node', '/app/main.js', 'agent', '--roles', 'App'], execArgv: ['--trace-warnings'], env: { PATH: '/bin' } };
    const plan = reexecPlan(proc);
    assert.deepEqual(plan?.args, ['/node', ...AGENT_FLAGS, '--trace-warnings', '/app/main.js', 'agent', '--roles', 'App']);
    assert.deepEqual(plan?.env, { PATH: '/bin', [RUNTIME_FLAGS_ENV]: 'applied' });
    assert.equal(reexecPlan({ ...proc, env: plan?.env ?? {} }), undefined, 'the re-executed process runs on');
    assert.equal(reexecPlan({ ...proc, env: { [RUNTIME_FLAGS_ENV]: 'off' } }), undefined, 'off: no flags at all');
    assert.equal(reexecPlan({ ...proc, argv: ['/node', '/app/main.js', 'agent', '--once'] }), undefined);
  });
});
