import { join } from 'node:path';
import { errorLogFields } from '../common/errors.ts';
import { writeFileAtomic } from '../common/fs.ts';
import type { Logger } from '../common/logger.ts';
import { spkiPin } from '../common/crypto.ts';
import type { CaEntry, CaRotateRequest, CaStatus } from '../protocol/index.ts';
import { formatExpiry } from '../protocol/admin.ts';
import { ensureAdminIdentity } from './admin-identity.ts';
import { createCa, issueServingCert, loadCa, type CertificateAuthority, type StoredCa } from './ca.ts';
import { decryptCaKey, encryptCaKey } from './ca-key-encryption.ts';
import { recordOfRotation, rotationOfRecord } from './ca-record.ts';
import { RotationPhaseError, bundleCas, dueStep, manualRotation, mapRotation, nextStepAt, scheduledRotation, servingCa, signingCa, stepRotation } from './ca-rotation.ts';
import { CaRecordConflictError } from './errors.ts';
import { StorageError, stateDirError } from './errors.ts';
import type { AuthStorage } from './storage/types.ts';

/** File in the state directory holding the current CA bundle (PEM), rewritten on every change. */
export const CA_BUNDLE_FILE = 'ca-bundle.crt';

/** What this replica signs, serves and trusts right now. */
export interface CaMaterial {
  /** Signs leaves and the admin identity. */
  signing: CertificateAuthority;
  /** Every CA peers must trust (PEM, current first): GET /v1/ca, the join answer, the ConfigMap. */
  bundlePem: string;
  /** This replica's serving certificate (chain) and key, signed by the serving CA. */
  serving: { certPem: string; keyPem: string };
}

export interface CaKeeperOptions {
  storage: AuthStorage;
  /** Seals new CA keys at rest, as the first one (--ca-key-encryption-key-file). */
  kek: Uint8Array | undefined;
  clusterName: string;
  /** DNS names and IPs of the serving certificate. */
  sans: readonly string[];
  /** Longest leaf lifetime (--max-cert-ttl): how long the old CA stays trusted after it stopped signing. */
  maxCertTtlMs: number;
  /** How often the CA record is read back from storage (--ca-sync-interval). */
  syncIntervalMs: number;
  /** Where the admin identity and ca-bundle.crt are written. */
  stateDir: string;
  now: () => number;
  logger: Logger;
}

export interface CaKeeper {
  material(): CaMaterial;
  status(): CaStatus;
  /** Steps the rotation (or rotates at once) in storage, then applies it here. */
  rotate(request: CaRotateRequest): Promise<CaStatus>;
  /** Reads the record from storage and applies any change (another replica's step, a CA retiring). */
  sync(): Promise<void>;
  /**
   * The one event of a changed bundle, signing or serving CA: the server swaps its TLS context on it,
   * and bundle publishers (ConfigMaps, a ClusterTrustBundle) write `bundlePem` on it.
   */
  onChange(listener: (material: CaMaterial) => void | Promise<void>): void;
  close(): void;
}

const pemOf = (cas: readonly CertificateAuthority[]) => cas.map((c) => c.certPem).join('');

/**
 * Holds the CA rotation of this replica: loads it from storage, signs and serves with the CAs its phase
 * says, follows other replicas' steps by reading storage every sync interval (the record's version
 * tells whether anything changed), and drives steps asked of it through the admin API with a
 * compare-and-swap write, so that of two replicas stepping at once one wins and the other is told.
 */
export async function startCaKeeper(options: CaKeeperOptions): Promise<CaKeeper> {
  const { storage, kek, logger, now } = options;
  const listeners: ((m: CaMaterial) => void | Promise<void>)[] = [];
  const load = async (ca: StoredCa) => loadCa({ certPem: ca.certPem, keyPem: await decryptCaKey(ca.keyPem, kek) });
  const followLagMs = 2 * options.syncIntervalMs;

  const first = await storage.getCaRecord();
  if (first === undefined) throw new StorageError('the CA record vanished from storage after start-up created it');
  let version = first.version;
  let rotation = await mapRotation(rotationOfRecord(first), load);
  let material: CaMaterial | undefined;
  let servingPem = '';

  /** Makes the material of `rotation` at `now`; re-issues what changed and tells the listeners. */
  async function apply(): Promise<void> {
    const at = now();
    const signing = signingCa(rotation);
    const bundlePem = pemOf(bundleCas(rotation, at));
    const serverCa = servingCa(rotation);
    const serving = material !== undefined && servingPem === serverCa.certPem ? material.serving : await issueServingCert(serverCa, options.sans, options.clusterName, at);
    // By content: a record read back from storage loads new objects for the same CAs.
    const changed = material === undefined || material.bundlePem !== bundlePem || material.signing.certPem !== signing.certPem || material.serving !== serving;
    if (!changed) return;
    // The admin identity follows the signing CA and trusts the bundle, so `kube-join ...` keeps working
    // across every phase; ca-bundle.crt is the bundle for anyone on this host (and the tests).
    const admin = await ensureAdminIdentity(options.stateDir, signing, at, bundlePem).catch((err: unknown) => {
      throw stateDirError(options.stateDir, 'cannot be written (the admin identity)', err);
    });
    if (admin.created) logger.info('wrote the admin identity', { dir: admin.dir });
    await writeFileAtomic(join(options.stateDir, CA_BUNDLE_FILE), bundlePem, 0o644).catch((err: unknown) => {
      throw stateDirError(options.stateDir, `cannot be written (${CA_BUNDLE_FILE})`, err);
    });
    const before = material;
    material = { signing, bundlePem, serving };
    servingPem = serverCa.certPem;
    if (before !== undefined) {
      logger.info('CA material changed', { phase: rotation.phase, signing: spkiPin(signing.cert), serving: spkiPin(serverCa.cert), bundlePins: bundleCas(rotation, at).map((c) => spkiPin(c.cert)) });
    }
    for (const listener of listeners) {
      try {
        await listener(material);
      } catch (err) {
        logger.warn('a CA change listener failed', errorLogFields(err));
      }
    }
  }

  async function syncOnce(): Promise<void> {
    const record = await storage.getCaRecord();
    if (record !== undefined && record.version !== version) {
      const loaded = await mapRotation(rotationOfRecord(record), load);
      version = record.version;
      const was = rotation.phase;
      rotation = loaded;
      if (was !== rotation.phase || rotation.mode === 'manual') logger.info('CA rotation followed from storage', { phase: rotation.phase, mode: rotation.mode });
    }
    await apply();
    // An automatic rotation is stepped by whichever replica sees it due first; the others' writes
    // conflict (or find it stepped already) and they follow on their next sync.
    const due = dueStep(rotation, now());
    if (due === undefined) return;
    try {
      await rotateOnce({ phase: due });
    } catch (err) {
      if (!(err instanceof CaRecordConflictError || err instanceof RotationPhaseError)) throw err;
    }
  }

  // Steps and syncs of this replica run one at a time; across replicas the version check serialises.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };
  async function rotateOnce(request: CaRotateRequest): Promise<CaStatus> {
    const record = await storage.getCaRecord();
    if (record === undefined) throw new StorageError('the CA record is missing from storage');
    const stored = rotationOfRecord(record);
    const at = now();
    const fresh = async (): Promise<StoredCa> => {
      const ca = await createCa(options.clusterName, at, { rotated: true });
      return kek ? { ...ca, keyPem: await encryptCaKey(ca.keyPem, kek) } : ca;
    };
    const limits = { now: at, maxLeafLifetimeMs: options.maxCertTtlMs, followLagMs };
    const nextRotation = 'manual' in request
      ? manualRotation(stored, { now: at, newCa: await fresh(), graceMs: request.graceSeconds * 1000 })
      : 'auto' in request
        ? scheduledRotation(stored, { ...limits, ...(stored.phase === 'standby' ? { newCa: await fresh() } : {}), graceMs: request.graceSeconds * 1000 })
        : stepRotation(stored, request.phase, { ...limits, ...(request.phase === 'init' && stored.phase === 'standby' ? { newCa: await fresh() } : {}) });
    await storage.putCaRecord(recordOfRotation(nextRotation), record.version);
    logger.info('CA rotation stepped', { phase: nextRotation.phase, mode: nextRotation.mode });
    await syncOnce();
    return status();
  }

  function entry(ca: CertificateAuthority, role: CaEntry['role'], inBundle: boolean, retireAt?: number): CaEntry {
    return {
      role,
      subject: ca.cert.subject,
      pin: spkiPin(ca.cert),
      notBefore: formatExpiry(ca.cert.notBefore),
      notAfter: formatExpiry(ca.cert.notAfter),
      inBundle,
      ...(retireAt !== undefined ? { retireAt: formatExpiry(new Date(retireAt)) } : {}),
    };
  }

  function status(): CaStatus {
    const at = now();
    const bundle = bundleCas(rotation, at);
    const { current, next, previous } = rotation;
    return {
      clusterName: options.clusterName,
      phase: rotation.phase,
      mode: rotation.mode,
      changedAt: formatExpiry(new Date(rotation.changedAt)),
      signing: spkiPin(signingCa(rotation).cert),
      serving: spkiPin(servingCa(rotation).cert),
      bundlePins: bundle.map((c) => spkiPin(c.cert)),
      ...(nextStepAt(rotation) !== undefined ? { nextStepAt: formatExpiry(new Date(nextStepAt(rotation) as number)) } : {}),
      cas: [
        entry(current, 'current', true),
        ...(next ? [entry(next, 'next', true)] : []),
        ...(previous ? [entry(previous.ca, 'previous', bundle.includes(previous.ca), previous.retireAt)] : []),
      ],
    };
  }

  await apply();
  let failing = false;
  const timer = setInterval(() => {
    serially(syncOnce).then(
      () => {
        if (failing) logger.info('reading the CA record from storage works again');
        failing = false;
      },
      (err: unknown) => {
        if (!failing) logger.warn('reading the CA record from storage failed; keeping the CAs in use', errorLogFields(err));
        failing = true;
      },
    );
  }, options.syncIntervalMs);
  timer.unref();

  return {
    material: () => material as CaMaterial,
    status,
    rotate: (request) => serially(() => rotateOnce(request)),
    sync: () => serially(syncOnce),
    onChange(listener) {
      listeners.push(listener);
    },
    close() {
      clearInterval(timer);
    },
  };
}
