import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * What a command evaluates before it runs anything: the static import closure of a module, as esbuild
 * sees it for the bundle (scripts/build.js), where every `await import()` starts a chunk of its own and
 * a `require()` runs its module only when called.
 */
describe('lazy loading: what each command loads', function () {
  this.timeout(60_000);
  let inputs: Metafile['inputs'];

  before(async () => {
    const result = await build({ absWorkingDir: ROOT, entryPoints: ['src/cli/main.ts'], bundle: true, splitting: true, format: 'esm', platform: 'node', outdir: 'out', write: false, metafile: true, logLevel: 'silent' });
    inputs = result.metafile.inputs;
  });

  function staticClosure(entry: string): string[] {
    assert.ok(inputs[entry], `${entry} is not in the bundle`);
    const seen = new Set([entry]);
    const queue = [entry];
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      for (const i of inputs[file]?.imports ?? []) {
        if (i.kind === 'dynamic-import' || i.kind === 'require-call' || i.external || seen.has(i.path)) continue;
        seen.add(i.path);
        queue.push(i.path);
      }
    }
    return [...seen];
  }
  const under = (files: string[], prefix: string) => files.filter((f) => f.startsWith(prefix));

  it('the agent loads no auth code, and the auth service no agent code', () => {
    assert.deepEqual(under(staticClosure('src/agent/index.ts'), 'src/auth/'), []);
    assert.deepEqual(under(staticClosure('src/auth/index.ts'), 'src/agent/'), []);
  });

  it('the admin commands load neither the server nor the agent', () => {
    const admin = staticClosure('src/cli/admin-client.ts');
    assert.ok(admin.length > 3);
    assert.deepEqual([...under(admin, 'src/auth/'), ...under(admin, 'src/agent/')], []);
  });

  it('the command line itself (every command, --help) loads no agent, auth service, X.509, HTTP client or YAML', () => {
    const program = staticClosure('src/cli/program.ts');
    const heavy = program.filter((f) => /^src\/(agent|auth)\/(?!options\.ts$|errors\.ts$)|node_modules\/(@peculiar|got|yaml|prom-client|winston|jose)\//.test(f));
    assert.deepEqual(heavy, []);
  });
});
