import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgent, AGENT_CHANNELS, type FailedEvent } from '../../src/agent/agent.ts';
import { systemClock } from '../../src/agent/clock.ts';
import { resolveAgentConfig } from '../../src/agent/config.ts';
import { createAgentMetrics } from '../../src/agent/metrics.ts';
import { CA_BUNDLE_FILE } from '../../src/auth/ca-keeper.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { createTokenIssuer, type TokenIssuer } from '../../src/demo/index.ts';
import { CaStatusSchema, type CaStatus } from '../../src/protocol/index.ts';
import { ChannelQueue } from '../support/events.ts';
import { certsOf, setOf, untilEverySet, type WrittenSet } from '../support/rotation.ts';
import { kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';

const CLUSTER = 'rotation-cluster';
const AGENTS = 20;
/**
 * Leaves live 6 s and are renewed at half of that: every agent renews every 3 s or so (agent 0, 12 s).
 * The auth allows leaves of up to 30 s, so the old CA must stay in the bundle 30 s after it stopped
 * signing, which is after the fleet has stepped through to standby.
 */
const TTL = '6s';
const LONG_TTL = '12s';
const MAX_TTL = '30s';
/** Each wait for the fleet: bounded in time, and in the number of events it looks at. */
const WAIT_MS = 30_000;

/** Runs openssl; resolves with its exit code and output. */
function openssl(args: string[], input = ''): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

/**
 * Mutual TLS between two written sets with real openssl: `server` serves its leaf and asks for a client
 * certificate verified against its own ca.crt; `client` presents its leaf and verifies the server against
 * its own ca.crt. Both must verify.
 */
async function mutualTls(server: string, client: string): Promise<{ serverOut: string; clientOut: string; clientCode: number | null }> {
  const s = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-naccept', '1', '-cert', join(server, 'tls.crt'), '-key', join(server, 'tls.key'), '-CAfile', join(server, 'ca.crt'), '-Verify', '1', '-verify_return_error'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let serverOut = '';
  try {
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`openssl s_server did not listen: ${serverOut}`)), 10_000);
      const onData = (d: Buffer) => {
        serverOut += d.toString();
        const m = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(serverOut);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      };
      s.stdout.on('data', onData);
      s.stderr.on('data', onData);
      s.once('exit', () => reject(new Error(`openssl s_server exited: ${serverOut}`)));
    });
    const c = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-cert', join(client, 'tls.crt'), '-key', join(client, 'tls.key'), '-CAfile', join(client, 'ca.crt'), '-verify_return_error', '-brief'], 'hello\n');
    return { serverOut, clientOut: c.out, clientCode: c.code };
  } finally {
    s.kill();
  }
}

/** `kube-join auth` on loopback with `args`, holding the provision token "kube-token" (an hour) for `issuer`. */
async function authWithToken(dir: string, issuer: TokenIssuer, args: string[]): Promise<AuthProcess> {
  const auth = await startAuthProcess(dir, { clusterName: CLUSTER, args: ['--ca-sync-interval', '500ms', ...args] });
  await writeFile(join(dir, 'token.yaml'), tokenYaml({ name: 'kube-token', jwks: issuer.jwks(), expires: new Date(Date.now() + 3_600_000).toISOString() }));
  const created = await kubeJoinRun(['token', 'create', '-f', join(dir, 'token.yaml'), '--state-dir', auth.stateDir]);
  if (created.code !== 0) {
    await auth.stop();
    throw new Error(`token create failed: ${created.stderr}`);
  }
  return auth;
}

/** An in-process agent of pod `name` (its own token file and out dir under `dir`) that renews every half lifetime. */
async function fleetAgent(auth: AuthProcess, issuer: TokenIssuer, dir: string, name: string, extra: Record<string, unknown>) {
  const tokenPath = join(dir, `token-${name}`);
  await issuer.writeToken(tokenPath, { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: `app-${name}`, podUid: `uid-${name}`, audience: CLUSTER });
  const flags = { authAddr: auth.addr, tokenName: 'kube-token', tokenPath, outDir: join(dir, `out-${name}`), healthAddr: 'off', clusterName: CLUSTER, renewBefore: '1s', retryBase: '200ms', retryCap: '1s', ...extra };
  return createAgent(resolveAgentConfig({ flags, env: {} }, { fileExists: () => false }), { clock: systemClock, random: Math.random, logger: silentLogger(), metrics: createAgentMetrics({ processMetrics: false }) });
}

describe('CA rotation under load: 20 agents renewing every few seconds through every phase', function () {
  this.timeout(180_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthProcess;
  const controller = new AbortController();
  const running: Promise<void>[] = [];
  const outs: string[] = [];
  let failures: FailedEvent[];
  let written: ChannelQueue<unknown>;
  const onFailed = (m: unknown) => failures.push(m as FailedEvent);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-rotate-'));
    issuer = await createTokenIssuer();
    // Rates out of the way (20 agents on one address); a short sync interval, so the old CA leaves
    // the bundle soon after the last of its leaves expired.
    auth = await authWithToken(dir, issuer, ['--cert-ttl', TTL, '--max-cert-ttl', MAX_TTL, '--join-rate-per-source', '1000', '--join-rate-global', '1000']);
  });
  after(async () => {
    controller.abort();
    await Promise.allSettled(running);
    written?.close();
    await auth?.stop();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function caStatus(): Promise<CaStatus> {
    const r = await kubeJoinRun(['ca', '--format', 'json', '--state-dir', auth.stateDir]);
    assert.equal(r.code, 0, r.stderr);
    return CaStatusSchema.parse(JSON.parse(r.stdout));
  }

  async function rotate(phase: string): Promise<CaStatus> {
    const r = await kubeJoinRun(['ca', 'rotate', '--phase', phase, '--format', 'json', '--state-dir', auth.stateDir]);
    assert.equal(r.code, 0, r.stderr);
    return CaStatusSchema.parse(JSON.parse(r.stdout));
  }

  const untilEvery = (what: string, done: (set: WrittenSet, i: number) => boolean) => untilEverySet(outs, written, what, done, WAIT_MS);

  it('0 failed renewals; old and new CA leaves talk mTLS across the overlap; the old CA leaves only after its leaves expired', async () => {
    failures = [];
    written = new ChannelQueue(AGENT_CHANNELS.written);
    subscribe(AGENT_CHANNELS.failed, onFailed);
    try {
      const before = await caStatus();
      const oldPin = before.signing;
      // Half the fleet trusts the bundle file (as a ConfigMap volume), half pins the first CA.
      const bundleFile = join(auth.stateDir, CA_BUNDLE_FILE);
      for (let i = 0; i < AGENTS; i++) {
        outs.push(join(dir, `out-${i}`));
        const trust = i % 2 === 0 ? { caFile: bundleFile } : { caPin: [oldPin] };
        // Agent 0 asks for the longest lifetime: its old-CA leaf is still valid well after the first
        // new-CA leaf exists, for the openssl check below (a busy machine must not expire it first).
        const ttl = i === 0 ? { ttl: LONG_TTL } : {};
        running.push((await fleetAgent(auth, issuer, dir, String(i), { ...trust, ...ttl })).run(controller.signal));
      }
      const oldSubject = new X509Certificate(await readFile(bundleFile, 'utf8')).subject;
      await untilEvery('a first certificate', (s) => s.leaf.issuer === oldSubject);

      // init: the new CA joins the bundle; every agent gets it with its next renewal.
      const init = await rotate('init');
      const next = init.cas.find((c) => c.role === 'next');
      assert.ok(next, 'init made a new CA');
      assert.deepEqual(init.bundlePins, [oldPin, next.pin]);
      assert.equal(init.signing, oldPin);
      const newSubject = certsOf(await readFile(bundleFile, 'utf8')).find((c) => c.subject !== oldSubject)?.subject as string;
      assert.ok(newSubject !== undefined, 'the bundle file holds the new CA');
      await untilEvery('a bundle of both CAs', (s) => s.cas.length === 2);
      // What tells an admin it is time for the next step: every live agent joined since init.
      assert.deepEqual((await caStatus()).agents, { live: AGENTS, joinedSinceChange: AGENTS });

      // update-clients: leaves come from the new CA while the server still presents the old one.
      const clients = await rotate('update-clients');
      assert.deepEqual([clients.signing, clients.serving], [next.pin, oldPin]);
      // The first new-CA leaf, with an old-CA leaf of the same moment beside it: mTLS both ways.
      let pair: { oldDir: string; newDir: string } | undefined;
      for (let events = 0; pair === undefined && events < 10 * AGENTS; events++) {
        await written.next();
        const sets = await Promise.all(outs.map(setOf));
        const fresh = sets.find((s) => s !== undefined && s.leaf.issuer === newSubject);
        const stale = sets.filter((s) => s !== undefined && s.leaf.issuer === oldSubject && s.cas.length === 2).sort((a, b) => Date.parse(b!.leaf.validTo) - Date.parse(a!.leaf.validTo))[0];
        if (fresh && stale) {
          const snap = join(dir, 'snap');
          await rm(snap, { recursive: true, force: true });
          await mkdir(snap);
          await cp(stale.dir, join(snap, 'old'), { recursive: true });
          await cp(fresh.dir, join(snap, 'new'), { recursive: true });
          pair = { oldDir: join(snap, 'old'), newDir: join(snap, 'new') };
        }
      }
      assert.ok(pair, 'an old-CA and a new-CA agent held certificates at the same time');
      for (const [server, client] of [[pair.oldDir, pair.newDir], [pair.newDir, pair.oldDir]] as const) {
        const r = await mutualTls(server, client);
        assert.equal(r.clientCode, 0, `s_client ${client} -> s_server ${server}:\n${r.clientOut}\n${r.serverOut}`);
        assert.match(r.clientOut, /Verification: OK/);
        assert.doesNotMatch(r.serverOut, /verify error/);
      }
      // The overlap is what makes it work: against the old CA alone, the new leaf does not verify.
      await writeFile(join(dir, 'old-ca.pem'), certsOf(await readFile(join(pair.oldDir, 'ca.crt'), 'utf8')).find((c) => c.subject === oldSubject)?.toString() as string);
      const alone = await openssl(['verify', '-CAfile', join(dir, 'old-ca.pem'), join(pair.newDir, 'tls.crt')]);
      assert.notEqual(alone.code, 0, alone.out);
      await untilEvery('a leaf of the new CA', (s) => s.leaf.issuer === newSubject);

      // update-servers: the auth presents the new CA; pinned agents trust it from the bundle they got.
      const servers = await rotate('update-servers');
      assert.equal(servers.serving, next.pin);
      const serials = (await Promise.all(outs.map(setOf))).map((s) => s?.leaf.serialNumber);
      await untilEvery('a renewal against the new serving certificate', (s, i) => s.leaf.serialNumber !== serials[i]);

      // standby: the old CA stays until every leaf it signed has expired, then leaves the bundle.
      const standby = await rotate('standby');
      const previous = standby.cas.find((c) => c.role === 'previous');
      assert.ok(previous?.retireAt !== undefined && previous.inBundle, 'the old CA is still in the bundle at standby');
      await untilEvery('a bundle of the new CA alone', (s) => s.cas.length === 1 && s.cas[0]?.subject === newSubject);
      const after = await caStatus();
      assert.deepEqual(after.bundlePins, [next.pin]);
      assert.ok(Date.now() >= Date.parse(previous.retireAt), 'the old CA left no earlier than its retireAt');
      assert.equal(await readFile(bundleFile, 'utf8'), (await readFile(join((await setOf(outs[0] as string))!.dir, 'ca.crt'), 'utf8')));

      // Metrics on the auth's metrics port follow.
      const metrics = await (await fetch(`http://${auth.metricsAddr}/metrics`)).text();
      assert.match(metrics, /kube_join_auth_ca_rotation_phase\{phase="standby"\} 1/);
      assert.match(metrics, new RegExp(`kube_join_auth_ca_not_after_timestamp_seconds\\{role="current",pin="${next.pin}"\\} \\d+`));

      assert.deepEqual(failures, [], 'no join attempt failed during the rotation');
    } finally {
      unsubscribe(AGENT_CHANNELS.failed, onFailed);
    }
  });
});

describe('CA rotation --manual (a compromised key): who follows, and who says on /readyz that it cannot', function () {
  this.timeout(120_000);
  let dir: string;
  let issuer: TokenIssuer;
  let auth: AuthProcess;
  const controller = new AbortController();
  const running: Promise<void>[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-manual-'));
    issuer = await createTokenIssuer();
    auth = await authWithToken(dir, issuer, ['--cert-ttl', '4s', '--max-cert-ttl', '4s']);
  });
  after(async () => {
    controller.abort();
    await Promise.allSettled(running);
    await auth?.stop();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('an agent on the published bundle renews onto the new CA; one pinned to the old CA fails, and /readyz says why once its certificate expired', async () => {
    const written = new ChannelQueue<unknown>(AGENT_CHANNELS.written);
    try {
      const oldPin = auth.caPin;
      const agents = [
        await fleetAgent(auth, issuer, dir, 'bundle', { caFile: join(auth.stateDir, CA_BUNDLE_FILE) }),
        await fleetAgent(auth, issuer, dir, 'pinned', { caPin: [oldPin] }),
      ];
      for (const agent of agents) running.push(agent.run(controller.signal));
      const outs = [join(dir, 'out-bundle'), join(dir, 'out-pinned')];
      const oldSubject = new X509Certificate(await readFile(join(auth.stateDir, CA_BUNDLE_FILE), 'utf8')).subject;
      await untilEverySet(outs, written, 'a first certificate', (s) => s.leaf.issuer === oldSubject, WAIT_MS);

      const r = await kubeJoinRun(['ca', 'rotate', '--manual', '--grace', '2s', '--format', 'json', '--state-dir', auth.stateDir]);
      assert.equal(r.code, 0, r.stderr);
      const status = CaStatusSchema.parse(JSON.parse(r.stdout));
      assert.deepEqual([status.mode, status.phase], ['manual', 'standby']);
      assert.notEqual(status.signing, oldPin);
      assert.equal(status.serving, status.signing, 'the new CA serves at once');

      // The bundle agent renews onto the new CA.
      await untilEverySet(outs.slice(0, 1), written, 'a leaf of the new CA', (s) => s.leaf.issuer !== oldSubject, WAIT_MS);
      // The pinned agent cannot verify the new serving certificate: not ready once its leaf expired.
      const pinned = agents[1] as (typeof agents)[number];
      const deadline = Date.now() + WAIT_MS;
      while (pinned.status().ready && Date.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([written.next(), new Promise((resolve) => (timer = setTimeout(resolve, 250)))]);
        clearTimeout(timer);
      }
      const readyz = pinned.status();
      assert.equal(readyz.ready, false);
      assert.match(readyz.reason, /^certificate expired at .* and renewal has not succeeded$/);
      assert.equal(readyz.lastError?.code, 'ERR_TLS_VERIFY');
      assert.ok(readyz.consecutiveFailures > 0);
    } finally {
      written.close();
    }
  });
});

