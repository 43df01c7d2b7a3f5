import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import sinon from 'sinon';
import { AGENT_OPTIONS } from '../../../src/agent/options.ts';
import { resolveAgentConfig } from '../../../src/agent/config.ts';
import { AUTH_OPTIONS } from '../../../src/auth/options.ts';
import { resolveAuthConfig } from '../../../src/auth/config.ts';
import { ConfigError } from '../../../src/common/errors.ts';
import { createLogger, LOG_OPTIONS, resolveLogSettings, type LogFormat } from '../../../src/common/logger.ts';
import { resolveOptions } from '../../../src/config/options.ts';

const NOW = '2026-12-01T20:00:00.000Z';

/** A logger of component `agent` writing into an array of lines, at the fixed time NOW. */
function capture(format?: LogFormat) {
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')));
  const logger = createLogger({ level: 'debug', component: 'agent', destination: out, ...(format ? { format } : {}) });
  return { logger, lines, flushed: () => new Promise((resolve) => setImmediate(resolve)) };
}

describe('logger: one line per event, time, level and msg first', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: Date.parse(NOW), toFake: ['Date'] });
  });
  afterEach(() => clock.restore());

  it('json (the default): time, level, msg, component, then the event\'s fields in the order given', async () => {
    const { logger, lines, flushed } = capture();
    logger.info('credential set written', { outDir: '/x', serial: '01ab', notAfter: '2026-12-01T21:00:00.000Z', attempt: 2 });
    logger.warn('join attempt failed', { zeta: 1, alpha: true });
    await flushed();
    assert.deepEqual(lines, [
      `{"time":"${NOW}","level":"info","msg":"credential set written","component":"agent","outDir":"/x","serial":"01ab","notAfter":"2026-12-01T21:00:00.000Z","attempt":2}`,
      `{"time":"${NOW}","level":"warn","msg":"join attempt failed","component":"agent","zeta":1,"alpha":true}`,
    ]);
  });

  it('json: an event field named time, level or msg never displaces the head; undefined fields are left out', async () => {
    const { logger, lines, flushed } = capture('json');
    logger.error('stopped', { time: 'mine', msg: 'mine', retryInMs: undefined, code: 'ERR_CERT_EXPIRED' });
    await flushed();
    assert.deepEqual(lines, [`{"time":"${NOW}","level":"error","msg":"stopped","component":"agent","code":"ERR_CERT_EXPIRED"}`]);
  });

  it('text: time, level padded to five, msg, then field=value in the same order, component left out', async () => {
    const { logger, lines, flushed } = capture('text');
    logger.info('credential set written', { outDir: '/x', serial: '01ab' });
    logger.warn('join attempt failed', { code: 'ERR_JOIN_REJECTED', reason: 'token_not_found', attempt: 3, retry: true });
    logger.error('giving up');
    logger.debug('parked', { ms: 1500 });
    await flushed();
    assert.deepEqual(lines, [
      `${NOW} info  credential set written outDir=/x serial=01ab`,
      `${NOW} warn  join attempt failed code=ERR_JOIN_REJECTED reason=token_not_found attempt=3 retry=true`,
      `${NOW} error giving up`,
      `${NOW} debug parked ms=1500`,
    ]);
  });

  it('text: quotes a value with a space, a newline, a leading quote, or nothing in it; objects are compact JSON', async () => {
    const { logger, lines, flushed } = capture('text');
    logger.warn('notify command failed', {
      error: 'join rejected (401 token_not_found): provision token "x" not found',
      stderr: 'line 1\nline 2',
      quoted: '"x"',
      empty: '',
      roles: ['App', 'Db'],
      app: { name: 'grafana', uri: 'http://localhost:3000' },
      labels: { team: 'a b' },
      nothing: null,
      skipped: undefined,
      withEquals: 'grafana=http://localhost:3000',
    });
    await flushed();
    assert.deepEqual(lines, [
      `${NOW} warn  notify command failed error="join rejected (401 token_not_found): provision token \\"x\\" not found" stderr="line 1\\nline 2" quoted="\\"x\\"" empty="" roles=["App","Db"] app={"name":"grafana","uri":"http://localhost:3000"} labels="{\\"team\\":\\"a b\\"}" nothing=null withEquals=grafana=http://localhost:3000`,
    ]);
  });

  it('redacts secret fields in both formats, whatever their value', async () => {
    const secrets = { tokenName: 'kube-token', token: 'eyJhbGciOi.x.y', kubernetesToken: 'eyJ.a.b', csr: '-----BEGIN CERTIFICATE REQUEST-----', key: 'k', privateKey: 'p', password: 'pw', authorization: 'Bearer x' };
    const json = capture('json');
    json.logger.info('join', secrets);
    const text = capture('text');
    text.logger.info('join', secrets);
    await json.flushed();
    assert.deepEqual(json.lines, [
      `{"time":"${NOW}","level":"info","msg":"join","component":"agent","tokenName":"kube-token","token":"[redacted]","kubernetesToken":"[redacted]","csr":"[redacted]","key":"[redacted]","privateKey":"[redacted]","password":"[redacted]","authorization":"[redacted]"}`,
    ]);
    assert.deepEqual(text.lines, [
      `${NOW} info  join tokenName=kube-token token=[redacted] kubernetesToken=[redacted] csr=[redacted] key=[redacted] privateKey=[redacted] password=[redacted] authorization=[redacted]`,
    ]);
  });

  it('a listener on the logger\'s stream gets the event as its line has it (time, level, msg, component, fields), secrets redacted there too', () => {
    const { logger } = capture('text');
    const events: Record<string, unknown>[] = [];
    logger.on('data', (info: Record<string, unknown>) => events.push(info));
    logger.warn('join attempt failed', { code: 'ERR_TOKEN_READ', token: 'eyJ.a.b', attempt: 1 });
    assert.deepEqual(events.map((e) => Object.fromEntries(Object.entries(e))), [{ time: NOW, level: 'warn', msg: 'join attempt failed', component: 'agent', code: 'ERR_TOKEN_READ', token: '[redacted]', attempt: 1 }]);
    // winston's splat symbol would carry the fields as given, the token in clear: only level and the line go on.
    assert.deepEqual(events.map((e) => Object.getOwnPropertySymbols(e).map(String)), [['Symbol(level)', 'Symbol(message)']]);
  });

  it('a field that cannot be serialised (a cycle, a bigint) does not lose the line', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const { logger, lines, flushed } = capture('json');
    logger.info('odd', { big: 10n });
    logger.info('odder', { cyclic, attempt: 1 });
    await flushed();
    assert.deepEqual(lines, [
      `{"time":"${NOW}","level":"info","msg":"odd","component":"agent","big":"10"}`,
      `{"time":"${NOW}","level":"info","msg":"odder","component":"agent","cyclic":"[unserializable]","attempt":1}`,
    ]);
  });
});

describe('logger: --log-level and --log-format, one spec for agent and auth', () => {
  it('both option tables carry the very same log option specs', () => {
    assert.deepEqual(LOG_OPTIONS.map((o) => [o.flag, o.default]), [['log-level', 'info'], ['log-format', 'json']]);
    for (const table of [AGENT_OPTIONS, AUTH_OPTIONS]) {
      for (const spec of LOG_OPTIONS) assert.equal(table.find((o) => o.key === spec.key), spec);
    }
  });

  it('defaults to info and json; flags and KUBE_JOIN_LOG_FORMAT set them', () => {
    assert.deepEqual(resolveLogSettings(resolveOptions(LOG_OPTIONS, {})), { logLevel: 'info', logFormat: 'json' });
    assert.deepEqual(resolveLogSettings(resolveOptions(LOG_OPTIONS, { env: { KUBE_JOIN_LOG_FORMAT: 'text', KUBE_JOIN_LOG_LEVEL: 'debug' } })), { logLevel: 'debug', logFormat: 'text' });
  });

  it('refuses other values with ERR_CONFIG naming the flag and the accepted values', () => {
    const resolve = (flags: Record<string, unknown>) => () => resolveLogSettings(resolveOptions(LOG_OPTIONS, { flags }));
    assert.throws(resolve({ logFormat: 'yaml' }), (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CONFIG' && err.option === 'logFormat' && err.message === '--log-format must be json or text (got "yaml")');
    assert.throws(resolve({ logLevel: 'trace' }), (err: unknown) => err instanceof ConfigError && err.option === 'logLevel' && err.message === '--log-level must be error, warn, info or debug (got "trace")');
  });

  it('both config resolvers use it: agent and auth resolve logFormat and refuse the same bad value alike', () => {
    const agent = (flags: Record<string, unknown>) => resolveAgentConfig({ flags: { authAddr: 'auth:3025', tokenName: 't', caPin: `sha256:${'0'.repeat(64)}`, ...flags }, env: {} });
    const auth = (flags: Record<string, unknown>) => resolveAuthConfig({ flags: { stateDir: '/tmp/kj-unused', ...flags }, env: {} });
    assert.deepEqual([agent({}).logFormat, agent({ logFormat: 'text' }).logFormat, auth({}).logFormat, auth({ logFormat: 'text' }).logFormat], ['json', 'text', 'json', 'text']);
    for (const resolve of [agent, auth]) {
      assert.throws(() => resolve({ logFormat: 'logfmt' }), { code: 'ERR_CONFIG', message: '--log-format must be json or text (got "logfmt")' });
      assert.throws(() => resolve({ logLevel: 'verbose' }), { code: 'ERR_CONFIG', message: '--log-level must be error, warn, info or debug (got "verbose")' });
    }
  });
});
