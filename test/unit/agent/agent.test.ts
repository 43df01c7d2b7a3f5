import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { createAgent, AGENT_CHANNELS, type Agent, type ParkedEvent, type WrittenEvent, type FailedEvent } from '../../../src/agent/agent.ts';
import { resolveAgentConfig, type ResolvedAgentConfig } from '../../../src/agent/config.ts';
import { systemClock } from '../../../src/agent/clock.ts';
import { createAgentMetrics, type AgentMetrics } from '../../../src/agent/metrics.ts';
import type { Counter } from 'prom-client';
import { AuthUnavailableError, JoinRejectedError, OnceFailedError, CertExpiredError } from '../../../src/agent/errors.ts';
import type { JoinClient } from '../../../src/agent/join-client.ts';
import { issueLeaf, type CertificateAuthority } from '../../../src/auth/ca.ts';
import { createLogger } from '../../../src/common/logger.ts';
import type { JoinRequest, JoinResponse } from '../../../src/protocol/index.ts';
import { testCa } from '../../support/pki.ts';
import { ChannelQueue } from '../../support/events.ts';
import { subtle } from '../../../src/common/crypto.ts';

const JWT = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
const MIN = 60_000;

/** A join client that signs what it is sent, or throws the next scripted error. */
function scriptedClient(ca: CertificateAuthority, ttlMs: number) {
  const errors: Error[] = [];
  const requests: JoinRequest[] = [];
  const client: JoinClient = {
    async join(request): Promise<JoinResponse> {
      requests.push(request);
      const next = errors.shift();
      if (next) throw next;
      const leaf = await issueLeaf(ca, { csrPem: request.csr, hostId: 'h', binding: { podUid: 'uid-h', tokenName: 't' }, namespace: 'ns', serviceAccount: 'sa', roles: ['App'], trustDomain: 'c', ttlMs, now: Date.now() });
      return {
        certificateChain: leaf.toString('pem'),
        caBundle: ca.certPem,
        notAfter: leaf.notAfter.toISOString(),
        identity: { hostId: 'h', namespace: 'ns', serviceAccount: 'sa', podName: 'h', podUid: 'uid-h', roles: ['App'], spiffeId: 'spiffe://c/ns/ns/sa/sa' },
      };
    },
  };
  return { client, errors, requests };
}

describe('agent loop (fake timers)', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let clock: sinon.SinonFakeTimers;
  let controller: AbortController;
  let running: Promise<unknown> | undefined;
  let logLines: Record<string, unknown>[];
  let parked: ChannelQueue<ParkedEvent>;
  let written: ChannelQueue<WrittenEvent>;
  let failed: ChannelQueue<FailedEvent>;
  let metrics: AgentMetrics;

  before(async () => {
    ca = await testCa();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-agent-'));
    await writeFile(join(dir, 'token'), JWT);
    // Only timers and Date are faked: file and crypto I/O stay real.
    clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    controller = new AbortController();
    logLines = [];
    parked = new ChannelQueue(AGENT_CHANNELS.parked);
    written = new ChannelQueue(AGENT_CHANNELS.written);
    failed = new ChannelQueue(AGENT_CHANNELS.failed);
  });
  afterEach(async () => {
    controller.abort();
    clock.restore();
    await running?.catch(() => undefined);
    running = undefined;
    for (const q of [parked, written, failed]) q.close();
    await rm(dir, { recursive: true, force: true });
  });

  function start(overrides: Record<string, unknown>, client: JoinClient): Agent {
    const config = resolveAgentConfig({ flags: { authAddr: '127.0.0.1:1', tokenName: 't', insecure: true, tokenPath: join(dir, 'token'), outDir: join(dir, 'out'), healthAddr: 'off', ...overrides }, env: {} }, { fileExists: () => false });
    const logger = createLogger({ level: 'debug', component: 'test' });
    logger.transports.forEach((t) => (t.silent = true));
    logger.on('data', (info: Record<string, unknown>) => logLines.push(info));
    metrics = createAgentMetrics({ processMetrics: false });
    return createAgent(config, { clock: systemClock, random: () => 0.5, logger, metrics, joinClient: client });
  }

  /** The value of one series of a counter, 0 when absent. */
  async function counted(counter: Counter, labels: Record<string, string>): Promise<number> {
    const values = (await counter.get()).values;
    return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
  }

  it('counts first joins and renewals apart, failures by their ERR_* code', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    s.errors.push(new AuthUnavailableError('down'));
    const agent = start({}, s.client);
    running = agent.run(controller.signal);
    await clock.tickAsync((await parked.next()).ms);
    await written.next();
    s.errors.push(new JoinRejectedError('rate_limited', 429, 'slow down'));
    await clock.tickAsync((await parked.next()).ms);
    await clock.tickAsync((await parked.next()).ms);
    await written.next();
    assert.equal(await counted(metrics.firstJoins, { result: 'failure', code: 'ERR_AUTH_UNAVAILABLE' }), 1);
    assert.equal(await counted(metrics.firstJoins, { result: 'success', code: '' }), 1);
    assert.equal(await counted(metrics.renewals, { result: 'failure', code: 'ERR_JOIN_REJECTED' }), 1);
    assert.equal(await counted(metrics.renewals, { result: 'success', code: '' }), 1);
    assert.equal(await counted(metrics.renewals, { result: 'failure', code: 'ERR_AUTH_UNAVAILABLE' }), 0);
  });

  it('joins at once, then renews at half the lifetime with a new key', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    const agent = start({}, s.client);
    assert.equal(agent.status().ready, false);
    assert.equal(agent.status().reason, 'no certificate written yet');
    running = agent.run(controller.signal);
    await written.next();
    const wait = await parked.next();
    assert.equal(wait.reason, 'renewal');
    assert.equal(agent.status().ready, true);
    const firstKey = await readFile(join(dir, 'out', 'tls.key'), 'utf8');
    // random() is 0.5: half of the 60 min lifetime counted from receipt (the 10 min floor is later).
    assert.ok(Math.abs(wait.ms - 30 * MIN) <= 1000, `parked for ${wait.ms} ms`);
    await clock.tickAsync(wait.ms - 1);
    assert.equal(s.requests.length, 1, 'no renewal before its time');
    await clock.tickAsync(1);
    await written.next();
    assert.equal(s.requests.length, 2);
    assert.notEqual(await readFile(join(dir, 'out', 'tls.key'), 'utf8'), firstKey);
    assert.notEqual(s.requests[0]?.csr, s.requests[1]?.csr);
  });

  it('retries transient errors with the jittered exponential back-off, honouring Retry-After', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    s.errors.push(new AuthUnavailableError('down'), new AuthUnavailableError('down'), new JoinRejectedError('rate_limited', 429, 'slow down', 5000));
    const agent = start({}, s.client);
    running = agent.run(controller.signal);
    const delays: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const wait = await parked.next();
      assert.equal(wait.reason, 'retry');
      delays.push(wait.ms);
      assert.equal(s.requests.length, i);
      await clock.tickAsync(wait.ms - 1);
      assert.equal(s.requests.length, i, 'no retry before the delay');
      await clock.tickAsync(1);
    }
    // 100 + (1000 - 100) * 0.5, 100 + (2000 - 100) * 0.5, then Retry-After 5 s (+ 0.5 of its second) over the 2050 ms draw.
    assert.deepEqual(delays, [550, 1050, 5500]);
    await written.next();
    assert.equal(new Set(s.requests.map((r) => r.csr)).size, 1, 'the retries of one renewal reuse its key and CSR');
    assert.equal(agent.status().consecutiveFailures, 0);
    assert.equal(agent.status().lastError, undefined);
  });

  it('generates one key per renewal: failed attempts cost no key generation, each issued certificate gets a fresh key', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    s.errors.push(new AuthUnavailableError('down'), new AuthUnavailableError('down'), new AuthUnavailableError('down'));
    const generateKey = sinon.spy(subtle, 'generateKey');
    try {
      const agent = start({}, s.client);
      running = agent.run(controller.signal);
      for (let i = 0; i < 3; i++) await clock.tickAsync((await parked.next()).ms);
      await written.next();
      assert.equal(s.requests.length, 4);
      assert.equal(generateKey.callCount, 1, 'three failed attempts and the success: one key');
      const firstKey = await readFile(join(dir, 'out', 'tls.key'), 'utf8');

      s.errors.push(new AuthUnavailableError('down'));
      const renewal = await parked.next();
      assert.equal(renewal.reason, 'renewal');
      await clock.tickAsync(renewal.ms);
      await clock.tickAsync((await parked.next()).ms);
      await written.next();
      assert.equal(s.requests.length, 6);
      assert.equal(generateKey.callCount, 2, 'the renewal and its retry: one more key');
      assert.equal(s.requests[4]?.csr, s.requests[5]?.csr);
      assert.notEqual(s.requests[3]?.csr, s.requests[4]?.csr);
      assert.notEqual(await readFile(join(dir, 'out', 'tls.key'), 'utf8'), firstKey);
    } finally {
      generateKey.restore();
    }
  });

  it('waits the cap after a final rejection and logs it once until it changes', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    for (let i = 0; i < 3; i++) s.errors.push(new JoinRejectedError('service_account_not_allowed', 403, 'ServiceAccount ns:sa is not in the allow list'));
    const agent = start({}, s.client);
    running = agent.run(controller.signal);
    for (let i = 0; i < 3; i++) {
      const wait = await parked.next();
      assert.deepEqual(wait, { reason: 'retry', ms: 120_000 });
      await clock.tickAsync(wait.ms);
    }
    await written.next();
    const errors = logLines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, 'logged at error level once per distinct rejection');
    assert.deepEqual([errors[0]?.code, errors[0]?.reason], ['ERR_JOIN_REJECTED', 'service_account_not_allowed'], 'code is the agent\'s, reason the auth service\'s');
  });

  it('retries a missing, then empty, token file on the normal back-off (a projected volume can mount late), and joins once it appears', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    await rm(join(dir, 'token'));
    const agent = start({}, s.client);
    running = agent.run(controller.signal);
    const first = await parked.next();
    assert.deepEqual(first, { reason: 'retry', ms: 550 }, 'the normal back-off, not the 2 min cap of a final rejection');
    await writeFile(join(dir, 'token'), '');
    await clock.tickAsync(first.ms);
    assert.deepEqual(await parked.next(), { reason: 'retry', ms: 1050 });
    await writeFile(join(dir, 'token'), JWT);
    await clock.tickAsync(1050);
    await written.next();
    assert.equal(s.requests.length, 1, 'no request was made without a token');
    assert.deepEqual(logLines.filter((l) => l.level === 'warn').map((l) => [l.msg, l.code]), [['join attempt failed', 'ERR_TOKEN_READ'], ['join attempt failed', 'ERR_TOKEN_READ']], 'each distinct reason (missing, empty) at warn once');
  });

  it('logs a lasting failure at warn when it first appears, then a summary line per minute, the rest at debug', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    for (let i = 0; i < 40; i++) s.errors.push(new AuthUnavailableError('auth service https://127.0.0.1:1 unreachable: ECONNREFUSED'));
    const agent = start({ retryCap: '10s' }, s.client);
    running = agent.run(controller.signal);
    while (s.requests.length <= 40) {
      const next = await Promise.race([parked.next(), written.next().then(() => undefined)]);
      if (next === undefined) break;
      await clock.tickAsync(next.ms);
    }
    const warn = logLines.filter((l) => l.level === 'warn');
    assert.equal(warn[0]?.msg, 'join attempt failed');
    const summaries = warn.slice(1);
    assert.ok(summaries.length >= 3 && summaries.every((l) => l.msg === 'join still failing'), JSON.stringify(warn.map((l) => l.msg)));
    assert.ok((summaries.at(-1)?.failures as number) > (summaries[0]?.failures as number));
    assert.equal(logLines.filter((l) => l.msg === 'join attempt failed again').length, 40 - 1 - summaries.length);
  });

  it('--once: fails at once on a final rejection with a clear message', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    s.errors.push(new JoinRejectedError('token_not_found', 401, 'provision token "t" does not exist'));
    const agent = start({ once: true }, s.client);
    await assert.rejects(agent.run(controller.signal), (err: unknown) => {
      assert.ok(err instanceof OnceFailedError);
      assert.equal(err.code, 'ERR_ONCE_FAILED');
      assert.equal(err.message, 'join failed: join rejected (401 token_not_found): provision token "t" does not exist');
      return true;
    });
    assert.equal(s.requests.length, 1);
  });

  it('--once: gives up on transient errors once the next retry would pass --once-timeout', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    for (let i = 0; i < 100; i++) s.errors.push(new AuthUnavailableError('auth service https://127.0.0.1:1 unreachable: ECONNREFUSED'));
    const agent = start({ once: true, onceTimeout: '5s' }, s.client);
    const outcome = agent.run(controller.signal).then(() => undefined, (e: unknown) => e);
    // Retries at 550, +1050, +2050 ms; the next draw (4050 ms) would end past 5 s.
    for (let i = 0; i < 3; i++) await clock.tickAsync((await parked.next()).ms);
    const err = await outcome;
    assert.ok(err instanceof OnceFailedError, String(err));
    assert.equal(err.message, 'join did not succeed within 5s: auth service https://127.0.0.1:1 unreachable: ECONNREFUSED');
    assert.equal(s.requests.length, 4);
  });

  it('reports not ready after expiry, and exits with --exit-on-expiry', async () => {
    const s = scriptedClient(ca, 2 * MIN);
    const agent = start({ exitOnExpiry: true }, s.client);
    const outcome = agent.run(controller.signal).then(() => undefined, (e: unknown) => e);
    running = outcome;
    await written.next();
    for (let i = 0; i < 100; i++) s.errors.push(new AuthUnavailableError('down'));
    let err: unknown;
    while (err === undefined) {
      const next = await Promise.race([parked.next(), outcome.then((e) => ({ done: e }))]);
      if ('done' in next) err = next.done;
      else await clock.tickAsync(next.ms);
    }
    assert.equal(agent.status().ready, false);
    assert.match(agent.status().reason, /^certificate expired at \S+ and renewal has not succeeded$/);
    assert.ok(err instanceof CertExpiredError, String(err));
    assert.equal(err.code, 'ERR_CERT_EXPIRED');
  });

  it('reuses a valid set found on disk at start instead of joining', async () => {
    const s = scriptedClient(ca, 60 * MIN);
    const first = start({}, s.client);
    running = first.run(controller.signal);
    await parked.next();
    controller.abort();
    await running;
    controller = new AbortController();
    const second = start({}, s.client);
    running = second.run(controller.signal);
    const wait = await parked.next();
    assert.equal(wait.reason, 'renewal');
    assert.equal(s.requests.length, 1, 'no second join');
    assert.equal(second.status().ready, true);
    assert.ok(logLines.some((l) => l.msg === 'reusing the valid credential set on disk'));
  });
});
