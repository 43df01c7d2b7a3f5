import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createAgent, AGENT_CHANNELS } from '../../src/agent/agent.ts';
import { resolveAgentConfig } from '../../src/agent/config.ts';
import { createAgentMetrics } from '../../src/agent/metrics.ts';
import type { Clock } from '../../src/agent/clock.ts';
import { startAuthService, type AuthService } from '../../src/auth/service.ts';
import { resolveAuthConfig } from '../../src/auth/config.ts';
import { parseProvisionToken } from '../../src/auth/tokens.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { createTokenIssuer, type TokenIssuer } from '../../src/demo/index.ts';
import { tokenYaml } from '../support/kube-join.ts';

const READER = fileURLToPath(new URL('../support/set-reader.ts', import.meta.url));
const RENEWALS = 1000;

describe('atomic renewal under a concurrent reader', function () {
  this.timeout(180_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthService;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-atomic-'));
    issuer = await createTokenIssuer();
    auth = await startAuthService(resolveAuthConfig({ flags: { stateDir: join(dir, 'auth'), listen: '127.0.0.1:0', metricsAddr: 'off', clusterName: 'atomic', joinRatePerSource: 1e6, joinRateGlobal: 1e6 }, env: {} }), { logger: silentLogger(), now: () => Date.now(), processMetrics: false });
    await auth.storage.putToken(parseProvisionToken(tokenYaml({ name: 'kube-token', jwks: issuer.jwks() }), Date.now()), { overwrite: false });
    await issuer.writeToken(join(dir, 'token'), { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', audience: 'atomic' });
  });
  after(async () => {
    await auth?.close();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`a reader in a tight loop never sees a key that does not match its certificate during ${RENEWALS} real renewals`, async () => {
    const out = join(dir, 'out');
    await writeFile(join(dir, 'ca.crt'), auth.ca.certPem);
    const config = resolveAgentConfig({ flags: { authAddr: `127.0.0.1:${auth.address.port}`, tokenName: 'kube-token', caFile: join(dir, 'ca.crt'), tokenPath: join(dir, 'token'), outDir: out, bundle: true, healthAddr: 'off', clusterName: 'atomic' }, env: {} }, { fileExists: () => false });
    // Real joins, real writes; only the waits between renewals are skipped.
    const instant: Clock = { now: () => Date.now(), sleep: () => new Promise((r) => setImmediate(r)) };
    const controller = new AbortController();
    let written = 0;
    const onWritten = () => {
      if (++written >= RENEWALS) controller.abort();
    };
    subscribe(AGENT_CHANNELS.written, onWritten);
    const agent = createAgent(config, { clock: instant, random: Math.random, logger: silentLogger(), metrics: createAgentMetrics({ processMetrics: false }) });
    // First set before the reader starts, so that it has something to read from its first loop.
    const running = agent.run(controller.signal);
    const reader = spawn(process.execPath, [READER, out, join(dir, 'stop'), '170'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let report = '';
    reader.stdout.on('data', (d: Buffer) => (report += d.toString()));
    const readerDone = new Promise<number | null>((resolve) => reader.once('exit', resolve));
    try {
      await running;
    } finally {
      unsubscribe(AGENT_CHANNELS.written, onWritten);
      await writeFile(join(dir, 'stop'), '');
    }
    assert.equal(await readerDone, 0);
    const counts = JSON.parse(report) as { reads: number; bundleReads: number; mismatches: number; bundleMismatches: number; vanished: number; sets: number };
    assert.equal(written, RENEWALS);
    assert.equal(counts.mismatches, 0, `mismatched pairs: ${report}`);
    assert.equal(counts.bundleMismatches, 0, `mismatched bundles: ${report}`);
    assert.ok(counts.reads > RENEWALS, `the reader kept up: ${report}`);
    assert.ok(counts.sets > RENEWALS / 4, `the reader saw many different sets: ${report}`);
    const left = (await readdir(out)).filter((e) => e.startsWith('..') && e !== '..data');
    assert.equal(left.length, 1, `only the live set remains: ${left.join(', ')}`);
  });
});
