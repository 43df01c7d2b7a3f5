import { createCa, issueLeaf, loadCa } from './ca.ts';
import { Pkcs10CertificateRequestGenerator } from '../common/x509.ts';
import { subtle } from '../common/crypto.ts';

/**
 * CPU of a whole served join (TLS, HTTP, JSON, token, JWT, CSR, leaf, inventory, log) per CPU of the
 * leaf issue alone: measured by `npm run bench` (bench/RESULTS.md, "admission"): 2.07 ms per join
 * served at 8 keep-alive clients against 1.06 ms for issueLeaf, in the same run.
 */
export const JOIN_CPU_PER_LEAF_CPU = 2;
/** The default global join rate is this share of the measured capacity: the rest absorbs the work admission itself costs. */
export const ADMITTED_SHARE_OF_CAPACITY = 0.8;

/**
 * Joins per second this process can serve, from a short self-benchmark at start-up: `samples` leaves
 * issued by a throwaway CA (the join's costliest step, CSR check and signature included), timed in
 * CPU, scaled by JOIN_CPU_PER_LEAF_CPU. One process serves joins on one thread, so cores beyond the
 * first do not add to it (run replicas for more). About 50 ms of CPU at start.
 */
export async function measureJoinCapacity(samples = 40): Promise<{ leafCpuMs: number; joinsPerSecond: number }> {
  const now = Date.now();
  const ca = await loadCa(await createCa('capacity-probe', now));
  const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await Pkcs10CertificateRequestGenerator.create({ name: 'CN=probe', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams });
  const request = { csrPem: csr.toString('pem'), hostId: 'probe', binding: { podUid: 'probe', tokenName: 'probe' }, namespace: 'probe', serviceAccount: 'probe', roles: ['App'], trustDomain: 'capacity-probe', ttlMs: 3_600_000, now };
  for (let i = 0; i < samples / 4; i++) await issueLeaf(ca, request); // warm-up: JIT
  const before = process.cpuUsage();
  for (let i = 0; i < samples; i++) await issueLeaf(ca, request);
  const used = process.cpuUsage(before);
  const leafCpuMs = (used.user + used.system) / 1000 / samples;
  return { leafCpuMs, joinsPerSecond: 1000 / (leafCpuMs * JOIN_CPU_PER_LEAF_CPU) };
}
