import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateCa } from '../../../src/auth/ca-bootstrap.ts';
import { decryptCaKey } from '../../../src/auth/ca-key-encryption.ts';
import { CA_BUNDLE_FILE, startCaKeeper, type CaKeeper, type CaMaterial } from '../../../src/auth/ca-keeper.ts';
import { CaRecordConflictError } from '../../../src/auth/errors.ts';
import { openFileStorage } from '../../../src/auth/storage/file.ts';
import type { AuthStorage } from '../../../src/auth/storage/types.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { certsOf } from '../../support/rotation.ts';

const KEK = new Uint8Array(32).fill(7);
const HOUR = 3_600_000;

describe('CA keeper (file storage, sealed keys)', () => {
  let dir: string;
  let storage: AuthStorage;
  let keepers: CaKeeper[];
  let now: number;

  const keeper = (stateDir: string, on: AuthStorage = storage) =>
    startCaKeeper({ storage: on, kek: KEK, clusterName: 'keeper', sans: ['127.0.0.1'], maxCertTtlMs: HOUR, syncIntervalMs: 60_000, stateDir, now: () => now, logger: silentLogger() }).then((k) => {
      keepers.push(k);
      return k;
    });
  const issuerOf = (m: CaMaterial) => new X509Certificate(m.serving.certPem).issuer;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-keeper-'));
    now = Date.parse('2026-12-01T20:00:00Z');
    keepers = [];
    storage = await openFileStorage(join(dir, 'state'), { serve: true, now: () => now });
    await loadOrCreateCa(storage, { clusterName: 'keeper', kek: KEK, now, logger: silentLogger(), where: {} });
  });
  afterEach(async () => {
    for (const k of keepers) k.close();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('switches signing, serving and bundle phase by phase, and tells its listeners each time', async () => {
    const k = await keeper(join(dir, 'state'));
    const seen: CaMaterial[] = [];
    k.onChange((m) => {
      seen.push(m);
    });
    const old = k.material();
    const oldSubject = old.signing.cert.subject;

    await k.rotate({ phase: 'init' });
    assert.equal(k.material().signing.cert.subject, oldSubject, 'init: the old CA still signs');
    assert.equal(issuerOf(k.material()), issuerOf(old), 'init: the old CA still serves');
    assert.equal(certsOf(k.material().bundlePem).length, 2);
    const newSubject = certsOf(k.material().bundlePem).map((c) => c.subject).find((s) => s !== issuerOf(old));
    assert.ok(newSubject?.includes('kube-join CA keeper 2026-12-01T20:00:00Z'), newSubject);

    now += 60_000;
    await k.rotate({ phase: 'update-clients' });
    assert.notEqual(k.material().signing.cert.subject, oldSubject, 'update-clients: the new CA signs');
    assert.equal(issuerOf(k.material()), issuerOf(old), 'update-clients: the old CA still serves');
    // The admin identity follows the signing CA and trusts the bundle.
    const adminCert = new X509Certificate(await readFile(join(dir, 'state', 'admin', 'tls.crt'), 'utf8'));
    assert.equal(adminCert.issuer, newSubject);
    assert.equal(await readFile(join(dir, 'state', 'admin', 'ca.crt'), 'utf8'), k.material().bundlePem);

    await k.rotate({ phase: 'update-servers' });
    assert.equal(issuerOf(k.material()), newSubject, 'update-servers: the new CA serves');

    await k.rotate({ phase: 'standby' });
    const status = k.status();
    assert.equal(status.phase, 'standby');
    assert.deepEqual(status.cas.map((c) => [c.role, c.inBundle]), [['current', true], ['previous', true]]);
    assert.equal(status.cas[1]?.retireAt, new Date(now + 2 * 60_000 + HOUR).toISOString().replace('.000', ''));
    assert.equal(await readFile(join(dir, 'state', CA_BUNDLE_FILE), 'utf8'), k.material().bundlePem);

    // The bundle changes by time alone: past retireAt a sync drops the old CA.
    now += 2 * 60_000 + HOUR;
    await k.sync();
    assert.deepEqual(k.status().bundlePins, [k.status().signing]);
    assert.equal(certsOf(seen.at(-1)?.bundlePem ?? '').length, 1, 'the listeners heard of the retirement');
    assert.equal(seen.length, 5, 'one event per change: init, update-clients, update-servers, standby, retirement');
  });

  it('seals the new CA key with the key-encryption key, as the first one', async () => {
    const k = await keeper(join(dir, 'state'));
    await k.rotate({ phase: 'init' });
    const stored = JSON.parse(await readFile(join(dir, 'state', 'ca-rotation.json'), 'utf8')) as { current: { keyPem: string }; next: { keyPem: string } };
    for (const key of [stored.current.keyPem, stored.next.keyPem]) {
      assert.match(key, /^eyJ/, 'a JWE, not a PEM');
      assert.match(await decryptCaKey(key, KEK), /^-----BEGIN PRIVATE KEY-----/);
    }
  });

  it('a replica that did not step follows from storage on its next sync; a step from a stale read is refused', async () => {
    const driver = await keeper(join(dir, 'state'));
    const follower = await keeper(join(dir, 'other'), await openFileStorage(join(dir, 'state'), { serve: false, now: () => now }));
    const stale = await storage.getCaRecord();
    await driver.rotate({ phase: 'init' });
    assert.equal(follower.status().phase, 'standby');
    await follower.sync();
    assert.deepEqual(follower.status(), driver.status());
    await assert.rejects(storage.putCaRecord({ ca: stale!.ca, rotationJson: '{}' }, stale!.version), (err: unknown) => {
      assert.ok(err instanceof CaRecordConflictError);
      assert.equal(err.code, 'ERR_CA_CONFLICT');
      return true;
    });
  });

  it('--manual: the new CA signs and serves at once; the old one leaves after the grace', async () => {
    const k = await keeper(join(dir, 'state'));
    const old = k.material();
    const status = await k.rotate({ manual: true, graceSeconds: 30 });
    assert.deepEqual([status.phase, status.mode], ['standby', 'manual']);
    assert.notEqual(k.material().signing.certPem, old.signing.certPem);
    assert.notEqual(issuerOf(k.material()), issuerOf(old));
    assert.equal(certsOf(k.material().bundlePem).length, 2);
    now += 30_000;
    await k.sync();
    assert.equal(certsOf(k.material().bundlePem).length, 1);
  });

  it('--auto: the replica that sees a step due on its sync writes it, one phase per third of the grace', async () => {
    const k = await keeper(join(dir, 'state'));
    const started = await k.rotate({ auto: true, graceSeconds: 90 });
    assert.equal(started.phase, 'init');
    assert.equal(started.nextStepAt, new Date(now + 30_000).toISOString().replace('.000', ''));
    const phases: string[] = [];
    for (let i = 0; i < 3; i++) {
      now += 29_000;
      await k.sync();
      phases.push(k.status().phase);
      now += 1_000;
      await k.sync();
      phases.push(k.status().phase);
    }
    assert.deepEqual(phases, ['init', 'update-clients', 'update-clients', 'update-servers', 'update-servers', 'standby']);
    assert.equal(k.status().nextStepAt, undefined);
  });
});
