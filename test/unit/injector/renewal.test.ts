import assert from 'node:assert/strict';
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import sinon from 'sinon';
import { createInjectorCa, issueServingTls, startInjectorServer, startServingRenewal, SERVING_LIFETIME_MS, type ServingTls } from '../../../src/injector/index.ts';
import { DEFAULTS } from './defaults.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { X509Certificate } from '../../../src/common/x509.ts';

describe('startServingRenewal', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: Date.parse('2026-12-01T00:00:00Z'), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => clock.restore());

  it('serves a new certificate from the same CA at half the current one\'s life, and again at half of the next', async () => {
    const ca = await createInjectorCa(Date.now());
    const first = await issueServingTls(ca, ['injector.kube-join.svc'], Date.now());
    assert.equal(first.notAfter, Date.now() + SERVING_LIFETIME_MS);
    const installed: ServingTls[] = [];
    let next: (tls: ServingTls) => void = () => undefined;
    const renewal = startServingRenewal({ ca, names: ['injector.kube-join.svc'], current: first, now: () => Date.now(), logger: silentLogger(), install: (tls) => { installed.push(tls); next(tls); } });
    try {
      await clock.tickAsync(SERVING_LIFETIME_MS / 2 - 1);
      assert.equal(installed.length, 0);
      const renewed = new Promise<ServingTls>((resolve) => (next = resolve));
      await clock.tickAsync(1);
      const second = await renewed;
      const cert = new X509Certificate(second.certPem);
      assert.equal(cert.issuer, new X509Certificate(ca.certPem).subject);
      assert.equal(second.caPem, first.caPem);
      assert.equal(second.notAfter, Date.now() + SERVING_LIFETIME_MS);
      assert.notEqual(second.keyPem, first.keyPem);
      const third = new Promise<ServingTls>((resolve) => (next = resolve));
      await clock.tickAsync(SERVING_LIFETIME_MS / 2);
      await third;
      assert.equal(installed.length, 2);
    } finally {
      renewal.stop();
    }
  });
});

describe('startInjectorServer setTls', () => {
  it('serves the installed certificate from the next connection on', async () => {
    const ca = await createInjectorCa(Date.now());
    const [first, second] = [await issueServingTls(ca, ['127.0.0.1'], Date.now()), await issueServingTls(ca, ['127.0.0.1'], Date.now())];
    const server = await startInjectorServer({ host: '127.0.0.1', port: 0, tls: first, defaults: DEFAULTS, logger: silentLogger(), ready: () => ({ ready: true }) });
    const servedFingerprint = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.address.port, ca: ca.certPem }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.end();
        });
        socket.on('error', reject);
      });
    try {
      assert.equal(await servedFingerprint(), new NodeX509Certificate(first.certPem).fingerprint256);
      server.setTls(second);
      assert.equal(await servedFingerprint(), new NodeX509Certificate(second.certPem).fingerprint256);
    } finally {
      await server.close();
    }
  });
});
